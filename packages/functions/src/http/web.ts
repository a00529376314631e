/**
 * The web app (packages/web), served by the same HTTP app as the API: its hashed files under
 * `/assets/`, and its page (`index.html`) at every path the app routes in the browser, so every
 * `web_url` and `build_url` the API answers opens the right page.
 *
 *   /  /signin  /pipelines/...  /insights/...  /settings/...  /admin/...   the page
 *   /assets/{file}                                                         a built file (immutable)
 *
 * The files come from a `WebAssets`: the built directory locally (`directoryAssets`), the
 * deployment's copy in the bucket on AWS (`bucketAssets`). No credential is asked for: the page
 * holds no data, it reads everything through the API with the user's session.
 */
import { readFile, stat } from "node:fs/promises";
import { join, normalize, sep } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Gyre } from "@gyre/core/context";
import { cacheControlOf, contentTypeOf, WEB_BUCKET_PREFIX } from "@gyre/web/files";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import type { Env } from "./context.ts";

export interface WebFile {
  body: Uint8Array;
  type: string;
}

/** Where the built web app's files are: `get("index.html")`, `get("assets/x.js")`. */
export interface WebAssets {
  get(path: string): Promise<WebFile | undefined>;
  /** Why there is no app to serve, when there is none (shown instead of the page). */
  missing?(): Promise<string | undefined>;
}

/** A path inside the app's files, or undefined for anything that would leave them. */
function safePath(path: string): string | undefined {
  if (path.includes("\0") || path.includes("\\")) return undefined;
  const clean = normalize(path).replace(/^(\.\.(\/|$))+/, "");
  if (clean !== path || clean.startsWith("/") || clean.split("/").includes("..")) return undefined;
  return clean;
}

/** The built app in a directory (packages/web/dist locally). */
export function directoryAssets(dir: string, whyMissing?: string): WebAssets {
  return {
    async get(path) {
      const clean = safePath(path);
      if (!clean) return undefined;
      const file = join(dir, clean);
      if (!file.startsWith(dir + sep)) return undefined;
      try {
        if (!(await stat(file)).isFile()) return undefined;
        return { body: await readFile(file), type: contentTypeOf(file) };
      } catch {
        return undefined;
      }
    },
    async missing() {
      try {
        await stat(join(dir, "index.html"));
        return undefined;
      } catch {
        return whyMissing ?? `The web app is not built in ${dir}: run npm run build -w @gyre/web.`;
      }
    },
  };
}

/** The deployment's copy of the app in the bucket, under `prefix` (AWS). */
export function bucketAssets(gyre: Gyre, prefix = WEB_BUCKET_PREFIX): WebAssets {
  return {
    async get(path) {
      const clean = safePath(path);
      if (!clean) return undefined;
      try {
        const out = await gyre.aws.s3.send(
          new GetObjectCommand({ Bucket: gyre.resources.bucketName, Key: `${prefix}${clean}` }),
        );
        const body = await out.Body?.transformToByteArray();
        return body ? { body, type: contentTypeOf(clean) } : undefined;
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name === "NoSuchKey" || name === "NotFound") return undefined;
        throw error;
      }
    },
  };
}

/** An app given no web app's files: its pages say so (503). */
export const NO_WEB_APP: WebAssets = {
  get: async () => undefined,
  missing: async () => "This server was started without the web app's files.",
};

/** The browser may run only the app's own files; nothing may frame it. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  // No window another site opened (or that it opens) keeps a handle on the app's.
  "cross-origin-opener-policy": "same-origin",
  // Never kept: not by a cache, nor by the back-forward cache, which would bring back a page still
  // showing a secret shown once (a new token, a webhook secret). The page is a few hundred bytes.
  "cache-control": "no-store",
};

/** Served over https (directly, or behind API Gateway or a proxy that says so): browsers keep to it. */
const HSTS = { "strict-transport-security": "max-age=31536000" };
const overHttps = (c: Context<Env>) =>
  new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";

/** The paths the app routes in the browser (each answers its page). */
export const WEB_PAGES = [
  "/",
  "/signin",
  "/pipelines/*",
  "/projects",
  "/insights/*",
  "/settings/*",
  "/admin/*",
];

/** The app's page, answered with `status` (404 for a path nothing else answers: the app says so). */
export function webPage(assets: WebAssets) {
  return async (c: Context<Env>, status: 200 | 404 = 200) => {
    const index = await assets.get("index.html");
    if (!index) {
      const why = (await assets.missing?.()) ?? "The web app is not deployed.";
      return c.text(why, status === 404 ? 404 : 503, { "cache-control": "no-store" });
    }
    return c.body(index.body as Uint8Array<ArrayBuffer>, status, {
      ...PAGE_HEADERS,
      ...(overHttps(c) ? HSTS : {}),
      "content-type": index.type,
    });
  };
}

/** A browser's navigation (it asks for HTML) to a path outside the APIs. */
export const wantsPage = (c: Context<Env>) =>
  c.req.method === "GET" &&
  (c.req.header("accept") ?? "").includes("text/html") &&
  !/^\/(api|v1|agent|webhooks|artifacts|metrics|healthz)(\/|$)/.test(c.req.path);

export function webRoutes(assets: WebAssets) {
  const app = new Hono<Env>();
  const answer = webPage(assets);
  const page = (c: Context<Env>) => answer(c);
  const why = "the web app's page and files: they hold no data, the API asks for credentials";
  for (const path of WEB_PAGES) app.get(path, allow.anonymous(why), page);
  app.get("/assets/*", allow.anonymous(why), async (c) => {
    const file = await assets.get(c.req.path.slice(1));
    if (!file) return c.json({ message: `Not found: GET ${c.req.path.slice(0, 200)}` }, 404);
    return c.body(file.body as Uint8Array<ArrayBuffer>, 200, {
      "content-type": file.type,
      "x-content-type-options": "nosniff",
      "cache-control": cacheControlOf(c.req.path.slice(1)),
    });
  });
  return app;
}
