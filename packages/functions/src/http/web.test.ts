import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Gyre } from "@gyre/core/context";
import { describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { directoryAssets, NO_WEB_APP, WEB_PAGES, webRoutes } from "./web.ts";

function builtApp() {
  const root = mkdtempSync(join(tmpdir(), "gyre-web-"));
  const dist = join(root, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), "<!doctype html><title>Gyre</title>");
  writeFileSync(join(dist, "assets", "index-abc12345.js"), "console.log(1)");
  writeFileSync(join(root, "secret.txt"), "not for the web");
  return { root, app: webRoutes(directoryAssets(dist)) };
}

describe("web app routes", () => {
  it("answers the app's page at each path it routes, with a CSP that runs only its own files", async () => {
    const { app } = builtApp();
    for (const path of [
      "/",
      "/signin",
      "/pipelines/gh/acme/api/3/workflows/x/jobs/7",
      "/admin",
      "/admin/users",
      "/insights/gh/a/b",
      "/settings/project/gh/a/b",
      "/settings/user",
      "/projects",
    ]) {
      const res = await app.request(path);
      expect([path, res.status]).toEqual([path, 200]);
      expect(await res.text()).toBe("<!doctype html><title>Gyre</title>");
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(res.headers.get("cache-control")).toBe("no-store");
      // Over plain http (the local default) browsers are not told to insist on https.
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
    expect(WEB_PAGES).toContain("/pipelines/*");
  });

  it("tells browsers to keep to https when the page is served over it, directly or behind a proxy", async () => {
    const { app } = builtApp();
    const direct = await app.request("https://gyre.example.com/");
    expect(direct.headers.get("strict-transport-security")).toBe("max-age=31536000");
    const proxied = await app.request("/", { headers: { "x-forwarded-proto": "https" } });
    expect(proxied.headers.get("strict-transport-security")).toBe("max-age=31536000");
  });

  it("serves built files as immutable with their type, and 404 for anything else", async () => {
    const { app } = builtApp();
    const js = await app.request("/assets/index-abc12345.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await app.request("/assets/missing.js")).status).toBe(404);
  });

  it("never serves a file outside the build, however the path is spelled", async () => {
    const { app } = builtApp();
    for (const path of [
      "/assets/../../secret.txt",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%00.js",
      "/assets/..\\..\\secret.txt",
    ]) {
      const res = await app.request(path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(await res.text()).not.toContain("not for the web");
    }
  });

  it("answers a browser's navigation to a path nothing routes with the app's page and 404, an API client with JSON", async () => {
    const { root } = builtApp();
    const app = createApp({} as Gyre, { web: directoryAssets(join(root, "dist")) });
    const page = await app.request("/no/such/page", {
      headers: { accept: "text/html,application/xhtml+xml" },
    });
    expect([page.status, page.headers.get("content-type"), await page.text()]).toEqual([
      404,
      "text/html; charset=utf-8",
      "<!doctype html><title>Gyre</title>",
    ]);
    const json = await app.request("/no/such/page");
    expect([json.status, await json.json()]).toEqual([404, { message: "Not found: GET /no/such/page" }]);
    // Under the API a browser gets the API's answer too, never sniffed.
    const api = await app.request("/api/v2/nothing", { headers: { accept: "text/html" } });
    expect(api.headers.get("content-type")).toMatch(/^application\/json/);
    expect(api.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("says what is missing when the app was not built or not given", async () => {
    const unbuilt = webRoutes(directoryAssets(join(tmpdir(), "gyre-web-none")));
    const res = await unbuilt.request("/");
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(
      /^The web app is not built in .*gyre-web-none: run npm run build -w @gyre\/web\.$/,
    );
    const none = await webRoutes(NO_WEB_APP).request("/pipelines/x");
    expect([none.status, await none.text()]).toEqual([
      503,
      "This server was started without the web app's files.",
    ]);
  });
});
