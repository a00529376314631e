/**
 * Status badges where CircleCI serves them: `/gh/{org}/{repo}.svg` (`?branch=`, or
 * `/gh/{org}/{repo}/tree/{branch}.svg` with the branch URL-escaped) and the same as `.png`.
 * `style=svg` (the default) is CircleCI's own look, a pill reading PASSED / FAILED / RUNNING /
 * NO BUILDS; `style=shield` is shields.io's, "circleci | passing / failing / running / no builds".
 * The status is the branch's latest pipeline's (core/src/pipeline/status.ts); the branch is the
 * project's default branch when none is given.
 *
 * Gyre has no public projects: every project is private, as CircleCI's private projects are, so
 * a badge needs a token, given as `circle-token` in the image URL (CircleCI's way) or as any
 * other token an API call takes. Answers carry `Cache-Control: no-cache`, as CircleCI's do, so a
 * README shows the status of now, not of an earlier fetch.
 */
import { createRequire } from "node:module";
import { badRequest } from "@gyre/core/error";
import { BadgeQuerySchema, type BranchStatus, branchStatus } from "@gyre/core/pipeline/index";
import { ProjectPath, RefName } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { type Context, Hono } from "hono";
import { allow, projectFor } from "./access.ts";
import { type Env, parseQuery } from "./context.ts";

type Style = "svg" | "shield";

/**
 * Text widths at 11 px in DejaVu Sans (regular for the shield, bold for the pill), from the
 * font's advance widths. The SVGs also pin them with `textLength`, so a viewer with another of
 * the listed fonts draws the words into the same boxes.
 */
const WIDTH: Record<string, number> = {
  circleci: 39,
  passing: 43,
  failing: 34,
  running: 43,
  "no builds": 50,
  PASSED: 50,
  FAILED: 44,
  RUNNING: 59,
  "NO BUILDS": 68,
};

const SHIELD: Record<BranchStatus, { text: string; color: string }> = {
  passed: { text: "passing", color: "#4c1" },
  failed: { text: "failing", color: "#e05d44" },
  running: { text: "running", color: "#007ec6" },
  none: { text: "no builds", color: "#9f9f9f" },
};

/** CircleCI's pill colours (green and red as its badges show them), and the icon's mark. */
const PILL: Record<BranchStatus, { text: string; color: string; mark: string }> = {
  passed: { text: "PASSED", color: "#229922", mark: "M8.3 10.2l1.9 1.9 3.5-3.8" },
  failed: { text: "FAILED", color: "#f24646", mark: "M9 8l4 4M13 8l-4 4" },
  running: { text: "RUNNING", color: "#2c7ad6", mark: "M11 7.2V10l2 1.4" },
  none: { text: "NO BUILDS", color: "#8c8c8c", mark: "M8.5 10h5" },
};

function shieldSvg(status: BranchStatus): string {
  const { text, color } = SHIELD[status];
  const left = WIDTH.circleci! + 12;
  const right = WIDTH[text]! + 12;
  const width = left + right;
  const label = `circleci: ${text}`;
  const word = (x: number, value: string) =>
    `<text x="${x}" y="15" fill="#010101" fill-opacity=".3" textLength="${WIDTH[value]}">${value}</text>` +
    `<text x="${x}" y="14" textLength="${WIDTH[value]}">${value}</text>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${label}">` +
    `<title>${label}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${color}"/><rect width="${width}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">` +
    `${word(left / 2, "circleci")}${word(left + right / 2, text)}</g></svg>`
  );
}

function pillSvg(status: BranchStatus): string {
  const { text, color, mark } = PILL[status];
  const width = 21 + WIDTH[text]! + 7;
  const label = `CircleCI: ${text.toLowerCase()}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${label}">` +
    `<title>${label}</title>` +
    `<rect width="${width}" height="20" rx="4" fill="${color}"/>` +
    `<g fill="none" stroke="#fff" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">` +
    `<circle cx="11" cy="10" r="5.6"/><path d="${mark}"/></g>` +
    `<text x="21" y="14" fill="#fff" font-family="Helvetica Neue,Helvetica,Arial,DejaVu Sans,sans-serif" font-size="11" font-weight="bold" textLength="${WIDTH[text]}">${text}</text>` +
    "</svg>"
  );
}

export const badgeSvg = (style: Style, status: BranchStatus) =>
  style === "shield" ? shieldSvg(status) : pillSvg(status);

/**
 * PNG badges are the same SVGs rendered by resvg (`@resvg/resvg-js`): a maintained renderer of
 * static SVG with no browser and no system libraries (a prebuilt binary per platform), so the
 * PNG matches the SVG exactly. It draws text only with fonts it is given, and a Lambda has no
 * system fonts: DejaVu Sans comes from the `dejavu-fonts-ttf` package. There are eight badges
 * in all, so each is rendered once per process; the renderer is loaded on the first PNG asked for.
 */
const pngs = new Map<string, Promise<Uint8Array>>();

async function renderPng(svg: string): Promise<Uint8Array> {
  const { Resvg } = await import("@resvg/resvg-js");
  const require = createRequire(import.meta.url);
  const fontFiles = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) =>
    require.resolve(`dejavu-fonts-ttf/ttf/${f}`),
  );
  const font = { loadSystemFonts: false, fontFiles, defaultFontFamily: "DejaVu Sans" };
  return new Resvg(svg, { font, background: "rgba(0,0,0,0)" }).render().asPng();
}

function badgePng(style: Style, status: BranchStatus): Promise<Uint8Array> {
  const key = `${style}:${status}`;
  let png = pngs.get(key);
  if (!png) {
    png = renderPng(badgeSvg(style, status));
    // A failure (no renderer for this platform) is not remembered: it is retried next time.
    png.catch(() => pngs.delete(key));
    pngs.set(key, png);
  }
  return png;
}

const FILE = /^(.+)\.(svg|png)$/;

async function badge(c: Context<Env>, repoFile: string, branchFile?: string) {
  const gyre = c.get("gyre");
  c.header("Cache-Control", "no-cache");
  const query = parseQuery(c, BadgeQuerySchema);
  // The image's extension is on the last segment: the repository's, or the branch's in /tree/.
  const file = FILE.exec(branchFile ?? repoFile);
  if (!file) throw badRequest("A badge is a .svg or a .png.");
  const repo = branchFile === undefined ? file[1] : repoFile;
  const slug = parseInput(
    ProjectPath,
    { vcs: c.req.param("vcs"), org: c.req.param("org"), repo },
    "project slug",
  );
  const branch =
    branchFile === undefined ? query.branch : parseInput(RefName, file[1], "branch (the path after /tree/)");
  const project = await projectFor(c, slug);
  const status = await branchStatus(gyre, project.slug, branch ?? project.defaultBranch);
  const style = query.style ?? "svg";
  if (file[2] === "png") {
    c.header("Content-Type", "image/png");
    return c.body(Buffer.from(await badgePng(style, status)));
  }
  c.header("Content-Type", "image/svg+xml; charset=utf-8");
  return c.body(badgeSvg(style, status));
}

const VCS = ":vcs{gh|github|bb|bitbucket|local}";
const IMAGE = "{[^/]+\\.(?:svg|png)}";

export function badgeRoutes() {
  const app = new Hono<Env>();
  app.get(`/${VCS}/:org/:repo${IMAGE}`, allow.project("status"), (c) => badge(c, c.req.param("repo")));
  app.get(`/${VCS}/:org/:repo/tree/:branch${IMAGE}`, allow.project("status"), (c) =>
    badge(c, c.req.param("repo"), c.req.param("branch")),
  );
  return app;
}
