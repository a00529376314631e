import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GyreError } from "@gyre/core/error";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createArchive, extract } from "./archive.ts";

let dir: string;
let root: string;
let home: string;
let restoreTo: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gyre-archive-"));
  root = join(dir, "project");
  home = join(dir, "home");
  restoreTo = join(dir, "restore");
  await mkdir(join(root, "node_modules", "left-pad"), { recursive: true });
  await writeFile(join(root, "node_modules", "left-pad", "index.js"), "module.exports = pad;\n");
  await writeFile(join(root, "build.log"), "built\n");
  await mkdir(join(home, ".m2", "repository"), { recursive: true });
  await writeFile(join(home, ".m2", "repository", "a.jar"), Buffer.alloc(1000, 7));
  await mkdir(join(dir, "opt", "tools"), { recursive: true });
  await writeFile(join(dir, "opt", "tools", "tool"), "#!/bin/sh\n", { mode: 0o755 });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const sha256 = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
/** Where an absolute path saved in the archive lands when restored under `restoreTo`. */
const restored = (absolute: string) => join(restoreTo, absolute);

describe("createArchive + extract", () => {
  it("round-trips relative, absolute and ~ paths to their absolute locations", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({
      root,
      home,
      archivePath,
      paths: ["node_modules", "build.log", join(dir, "opt", "tools"), "~/.m2"],
    });
    expect(created.archived).toEqual([
      join(root, "node_modules"),
      join(root, "build.log"),
      join(dir, "opt", "tools"),
      join(home, ".m2"),
    ]);
    expect(created.missing).toEqual([]);
    expect(created.warning).toBeUndefined();

    const result = await extract(archivePath, created.sha256, restoreTo);
    expect(result.bytes).toBe(created.bytes);
    expect(await readFile(restored(join(root, "node_modules", "left-pad", "index.js")), "utf8")).toBe(
      "module.exports = pad;\n",
    );
    expect(await readFile(restored(join(root, "build.log")), "utf8")).toBe("built\n");
    expect(await readFile(restored(join(home, ".m2", "repository", "a.jar")))).toEqual(Buffer.alloc(1000, 7));
    expect((await stat(restored(join(dir, "opt", "tools", "tool")))).mode & 0o777).toBe(0o755);
  });

  it("reports the SHA-256 and size of the archive it wrote", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["node_modules"] });
    expect(created.sha256).toBe(await sha256(archivePath));
    expect(created.bytes).toBe((await stat(archivePath)).size);
  });

  it("keeps symlinks as links", async () => {
    await symlink("left-pad", join(root, "node_modules", "pad-link"));
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["node_modules"] });
    await extract(archivePath, created.sha256, restoreTo);
    const link = restored(join(root, "node_modules", "pad-link"));
    expect((await stat(link)).isDirectory()).toBe(true);
    expect(await readlink(link)).toBe("left-pad");
  });

  it("skips missing paths and lists them", async () => {
    const created = await createArchive({
      root,
      home,
      archivePath: join(dir, "cache.tgz"),
      paths: ["build.log", "vendor/bundle", "~/.cache/nothing"],
    });
    expect(created.missing).toEqual(["vendor/bundle", "~/.cache/nothing"]);
    expect(created.archived).toEqual([join(root, "build.log")]);
  });

  it("fails clearly when none of the paths exist", async () => {
    const error = await createArchive({
      root,
      home,
      archivePath: join(dir, "c.tgz"),
      paths: ["a", "b"],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).message).toBe("None of the cache paths exist (a, b); nothing to save.");
  });

  it("warns about a cache above the size limit, on save and on restore", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["~/.m2"], warnAboveBytes: 10 });
    expect(created.warning).toMatch(/consider splitting it into several caches/);
    const result = await extract(archivePath, created.sha256, restoreTo, { warnAboveBytes: 10 });
    expect(result.warning).toMatch(/over 0 MB/);
    const quiet = await extract(archivePath, created.sha256, join(dir, "again"));
    expect(quiet.warning).toBeUndefined();
  });

  it("refuses a corrupt archive before unpacking anything", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["node_modules", "build.log"] });
    const bytes = await readFile(archivePath);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(archivePath, bytes);
    const error = await extract(archivePath, created.sha256, restoreTo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).code).toBe("unprocessable");
    expect((error as GyreError).message).toMatch(
      /The cache archive is corrupt: its SHA-256 is [0-9a-f]{64}, expected/,
    );
    expect((error as GyreError).message).toMatch(/Nothing was unpacked/);
    await expect(readdir(restoreTo)).rejects.toThrow(/ENOENT/);
  });

  it("refuses a truncated archive", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["~/.m2"] });
    const bytes = await readFile(archivePath);
    await writeFile(archivePath, bytes.subarray(0, bytes.length - 10));
    await expect(extract(archivePath, created.sha256, restoreTo)).rejects.toThrow(/corrupt/);
    await expect(readdir(restoreTo)).rejects.toThrow(/ENOENT/);
  });

  it("accepts the expected checksum in uppercase", async () => {
    const archivePath = join(dir, "cache.tgz");
    const created = await createArchive({ root, home, archivePath, paths: ["build.log"] });
    await extract(archivePath, created.sha256.toUpperCase(), restoreTo);
    expect(await readFile(restored(join(root, "build.log")), "utf8")).toBe("built\n");
  });

  it("fails clearly when the archive does not exist", async () => {
    await expect(extract(join(dir, "nope.tgz"), "0".repeat(64), restoreTo)).rejects.toThrow(/does not exist/);
  });

  it("fails clearly when tar cannot unpack an archive whose checksum matches", async () => {
    const archivePath = join(dir, "not-a-tar.tgz");
    await writeFile(archivePath, "this is not gzip");
    await expect(extract(archivePath, await sha256(archivePath), restoreTo)).rejects.toThrow(
      /tar could not unpack the cache archive \(exit 2\)/,
    );
  });

  it("fails clearly when the archive cannot be written", async () => {
    const error = await createArchive({
      root,
      home,
      archivePath: join(dir, "no-such-dir", "cache.tgz"),
      paths: ["build.log"],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).message).toMatch(/Could not write the cache archive .*ENOENT/);
  });
});
