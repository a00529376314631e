import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expandWorkspacePaths, filesUnder, globToRegExp } from "./files.ts";
import { artifactPrefix } from "./store_artifacts.ts";

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "gyre-files-"));
  for (const file of ["app.txt", "notes.md", "sub/deep.txt", "sub/more/x.bin", "build/a.js", "build/b.js"]) {
    await mkdir(join(root, file, ".."), { recursive: true });
    await writeFile(join(root, file), file);
  }
  await symlink("app.txt", join(root, "link.txt"));
});

afterEach(() => rm(root, { recursive: true, force: true }));

describe("globToRegExp", () => {
  it.each([
    ["*.txt", "app.txt", true],
    ["*.txt", "sub/deep.txt", false],
    ["**/*.txt", "sub/deep.txt", true],
    ["**/*.txt", "app.txt", true],
    ["sub/**", "sub/more/x.bin", true],
    ["sub/**", "sub", false],
    ["b?ild/*.js", "build/a.js", true],
    ["build/[ab].js", "build/b.js", true],
    ["build/[!a].js", "build/a.js", false],
    ["a.b", "axb", false],
    ["a+(b)", "a+(b)", true],
  ])("%s vs %s → %s", (glob, path, matches) => {
    expect(globToRegExp(glob).test(path)).toBe(matches);
  });
});

describe("expandWorkspacePaths", () => {
  it("takes plain paths and globs, dropping members inside other members", async () => {
    expect(await expandWorkspacePaths(root, ["*.txt", "sub/**", "build"])).toEqual([
      "app.txt",
      "build",
      "link.txt",
      "sub/deep.txt",
      "sub/more",
    ]);
    expect(await expandWorkspacePaths(root, ["./sub/", `${root}/build/a.js`])).toEqual(["build/a.js", "sub"]);
    expect(await expandWorkspacePaths(root, ["."])).toEqual(["."]);
  });

  it("fails when a path matches nothing or leaves the root", async () => {
    await expect(expandWorkspacePaths(root, ["nope"])).rejects.toThrow(/did not match any files/);
    await expect(expandWorkspacePaths(root, ["*.none"])).rejects.toThrow(/did not match any files/);
    await expect(expandWorkspacePaths(root, ["../x"])).rejects.toThrow(/not inside the workspace root/);
    await expect(expandWorkspacePaths(root, ["/etc/passwd"])).rejects.toThrow(
      /not inside the workspace root/,
    );
  });
});

describe("filesUnder", () => {
  it("lists files and symlinks to files, sorted, relative", async () => {
    expect(await filesUnder(root)).toEqual([
      "app.txt",
      "build/a.js",
      "build/b.js",
      "link.txt",
      "notes.md",
      "sub/deep.txt",
      "sub/more/x.bin",
    ]);
  });
});

describe("artifactPrefix", () => {
  it.each([
    ["out", undefined, "/w/out", "out"],
    ["/tmp/artifacts", undefined, "/tmp/artifacts", "tmp/artifacts"],
    ["~/logs/", undefined, "/h/logs", "logs"],
    ["./out", undefined, "/w/out", "out"],
    ["../elsewhere", undefined, "/elsewhere", "elsewhere"],
    ["out", "reports", "/w/out", "reports"],
    ["out", "/reports/", "/w/out", "reports"],
    ["out", ".", "/w/out", ""],
  ])("path %s, destination %s → %s", (path, destination, source, prefix) => {
    expect(artifactPrefix(path, destination, source)).toBe(prefix);
  });
});
