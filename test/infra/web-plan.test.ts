import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WEB_PREFIX, webObjects } from "../../infra/web-plan.ts";

describe("the web app's objects in the bucket", () => {
  it("puts every built file under web/ with its type; the page is revalidated, hashed assets cached for a year, others revalidated", () => {
    const dist = mkdtempSync(join(tmpdir(), "gyre-web-plan-"));
    mkdirSync(join(dist, "assets"));
    writeFileSync(join(dist, "index.html"), "<!doctype html>");
    writeFileSync(join(dist, ".source-digest"), "abc");
    writeFileSync(join(dist, "assets", "index-1a2b3c4d.js"), "");
    writeFileSync(join(dist, "assets", "index-3c4d5e6f.css"), "");
    writeFileSync(join(dist, "assets", "favicon.svg"), "");
    expect(webObjects(dist).map(({ source, ...o }) => ({ ...o, file: source.slice(dist.length) }))).toEqual([
      {
        key: `${WEB_PREFIX}assets/favicon.svg`,
        contentType: "image/svg+xml",
        // Not hashed: a deploy may change it under the same name.
        cacheControl: "no-cache",
        file: "/assets/favicon.svg",
      },
      {
        key: "web/assets/index-1a2b3c4d.js",
        contentType: "text/javascript; charset=utf-8",
        cacheControl: "public, max-age=31536000, immutable",
        file: "/assets/index-1a2b3c4d.js",
      },
      {
        key: "web/assets/index-3c4d5e6f.css",
        contentType: "text/css; charset=utf-8",
        cacheControl: "public, max-age=31536000, immutable",
        file: "/assets/index-3c4d5e6f.css",
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
