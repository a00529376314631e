import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WEB_PREFIX, webObjects } from "../../infra/web-plan.ts";

describe("the web app's objects in the bucket", () => {
  it("puts every built file under web/ with its type; the page is revalidated, hashed assets cached for a year", () => {
    const dist = mkdtempSync(join(tmpdir(), "gyre-web-plan-"));
    mkdirSync(join(dist, "assets"));
    writeFileSync(join(dist, "index.html"), "<!doctype html>");
    writeFileSync(join(dist, ".source-digest"), "abc");
    writeFileSync(join(dist, "assets", "index-1a2b.js"), "");
    writeFileSync(join(dist, "assets", "index-3c4d.css"), "");
    writeFileSync(join(dist, "assets", "favicon.svg"), "");
    expect(webObjects(dist).map(({ source, ...o }) => ({ ...o, file: source.slice(dist.length) }))).toEqual([
      {
        key: `${WEB_PREFIX}assets/favicon.svg`,
        contentType: "image/svg+xml",
        cacheControl: "public, max-age=31536000, immutable",
        file: "/assets/favicon.svg",
      },
      {
        key: "web/assets/index-1a2b.js",
        contentType: "text/javascript; charset=utf-8",
        cacheControl: "public, max-age=31536000, immutable",
        file: "/assets/index-1a2b.js",
      },
      {
        key: "web/assets/index-3c4d.css",
        contentType: "text/css; charset=utf-8",
        cacheControl: "public, max-age=31536000, immutable",
        file: "/assets/index-3c4d.css",
      },
      {
        key: "web/index.html",
        contentType: "text/html; charset=utf-8",
        cacheControl: "no-cache",
        file: "/index.html",
      },
    ]);
  });
});
