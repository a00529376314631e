import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { parseSlug, slugForRepo } from "./index.ts";

describe("project slugs", () => {
  it.each([
    ["gh/acme/api", { slug: "gh/acme/api", vcsType: "github", org: "acme", name: "api" }],
    ["github/acme/api", { slug: "gh/acme/api", vcsType: "github", org: "acme", name: "api" }],
    ["bb/acme/web.site", { slug: "bb/acme/web.site", vcsType: "bitbucket", org: "acme", name: "web.site" }],
    ["local/me/demo", { slug: "local/me/demo", vcsType: "local", org: "me", name: "demo" }],
  ])("parses %s", (slug, expected) => {
    expect(parseSlug(slug)).toEqual(expected);
  });

  it.each(["acme/api", "gh/acme", "gl/acme/api", "gh/acme/api/extra", "gh/ac me/api", ""])(
    "refuses %j with bad_request",
    (slug) => {
      expect(() => parseSlug(slug)).toThrow(GyreError);
      expect(() => parseSlug(slug)).toThrow(`Invalid project slug "${slug}"`);
    },
  );

  it.each([
    ["https://github.com/acme/api.git", "gh/acme/api"],
    ["https://github.com/acme/api", "gh/acme/api"],
    ["git@github.com:acme/api.git", "gh/acme/api"],
    ["/home/me/src/demo", "local/src/demo"],
    ["/tmp/my repo/", "local/tmp/my-repo"],
  ])("derives the slug of %s", (url, slug) => {
    expect(slugForRepo(url)).toBe(slug);
  });
});
