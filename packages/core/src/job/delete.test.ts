import { describe, expect, it } from "vitest";
import { parseBuildRef } from "./delete.ts";

describe("parseBuildRef: the build `gyre build delete` is given", () => {
  it.each([
    ["gh/acme/api/12", "gh/acme/api", 12],
    [" gh/acme/api/12 ", "gh/acme/api", 12],
    ["https://ci.example.com/gh/acme/api/1234", "gh/acme/api", 1234],
    ["https://ci.example.com/api/v1.1/project/gh/acme/api/7", "gh/acme/api", 7],
    ["https://ci.example.com/api/v2/project/github/acme/api/job/8", "github/acme/api", 8],
    ["http://127.0.0.1:8080/pipelines/gh/acme/api/3/workflows/5f0c-uuid/jobs/9", "gh/acme/api", 9],
    ["https://ci.example.com/pipelines/local/examples/demo/1/workflows/x/jobs/2", "local/examples/demo", 2],
  ])("%s", (input, slug, number) => {
    expect(parseBuildRef(input)).toEqual({ slug, number });
  });

  it.each([
    "gh/acme/api",
    "gh/acme/api/0",
    "gh/acme/api/x",
    "xx/acme/api/3",
    "gh/acme/api/12/extra",
    "https://ci.example.com/gh/acme",
    "https://ci.example.com/api/v2/project/gh/acme/api/pipeline/3",
    "",
  ])("refuses %j, saying what it wants", (input) => {
    expect(() => parseBuildRef(input)).toThrow(/Not a build: .* Give <vcs>\/<org>\/<repo>\/<job number>/);
  });
});
