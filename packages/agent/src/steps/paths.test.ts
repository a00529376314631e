import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostPath, PathOutsideJob, resolvePath } from "./paths.ts";

describe("resolvePath", () => {
  it.each([
    ["~", "/j/home"],
    ["~/project/x", "/j/home/project/x"],
    ["out", "/j/home/project/out"],
    ["../up", "/j/home/up"],
    ["/opt/x", "/opt/x"],
    ["/tmp/a", "/tmp/a"],
  ])("maps %s for an unsandboxed job to %s", (path, expected) => {
    expect(resolvePath(path, "/j/home", "/j/home/project")).toBe(expected);
  });

  it("maps /tmp of a sandboxed job to the job's own tmp", () => {
    expect(resolvePath("/tmp/results", "/j/home", "/j/home/project", "/j/tmp")).toBe("/j/tmp/results");
    expect(resolvePath("/tmp", "/j/home", "/j/home/project", "/j/tmp")).toBe("/j/tmp");
    expect(resolvePath("/tmpfoo", "/j/home", "/j/home/project", "/j/tmp")).toBe("/tmpfoo");
  });
});

describe("hostPath in a sandboxed job", () => {
  // Not under /tmp: in a sandboxed job /tmp/... is the job's own /tmp, which would hide the point.
  const root = mkdtempSync("/var/tmp/gyre-paths-");
  const outside = mkdtempSync("/var/tmp/gyre-outside-");
  const job = {
    home: join(root, "home"),
    workingDirectory: join(root, "home/project"),
    confinement: { root, tmp: join(root, "tmp") },
  };
  mkdirSync(job.workingDirectory, { recursive: true });
  mkdirSync(job.confinement.tmp);
  writeFileSync(join(outside, "secret"), "do not upload");
  writeFileSync(join(job.workingDirectory, "ok.txt"), "fine");
  symlinkSync(join(outside, "secret"), join(job.workingDirectory, "leak"));
  symlinkSync(outside, join(job.workingDirectory, "door"));
  symlinkSync(join(outside, "not-yet"), join(job.workingDirectory, "dangling"));

  it("allows the job's files, /tmp and paths not created yet", async () => {
    await expect(hostPath("ok.txt", job)).resolves.toBe(join(job.workingDirectory, "ok.txt"));
    await expect(hostPath("/tmp/reports", job)).resolves.toBe(join(root, "tmp/reports"));
    await expect(hostPath("~/new/dir", job)).resolves.toBe(join(job.home, "new/dir"));
  });

  it.each([
    ["an absolute path elsewhere", () => join(outside, "secret")],
    ["a symlink to a file elsewhere", () => "leak"],
    ["a path through a symlinked directory", () => "door/secret"],
    ["a climb out of the job", () => "../../.."],
    ["a dangling symlink to a file elsewhere (a write would land there)", () => "dangling"],
    ["a path below a dangling symlink", () => "dangling/deeper"],
  ])("refuses %s", async (_, path) => {
    await expect(hostPath(path(), job)).rejects.toThrow(PathOutsideJob);
  });

  it("does not confine an unsandboxed job (it can read the builder anyway)", async () => {
    const { confinement: _, ...unconfined } = job;
    await expect(hostPath(join(outside, "secret"), unconfined)).resolves.toBe(join(outside, "secret"));
  });
});
