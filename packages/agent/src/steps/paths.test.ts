import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobPlan } from "@gyre/core/config/plan";
import { describe, expect, it } from "vitest";
import { hostPath, jobMounts, PathOutsideJob, resolvePath } from "./paths.ts";

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

  const sandboxed = {
    root: "/j",
    mounts: [
      { at: "/tmp", host: "/j/tmp" },
      { at: "/go/src/app", host: "/j/fs/go/src/app" },
    ],
  };

  it("maps /tmp and the job's other mounts of a sandboxed job into the job's directory", () => {
    expect(resolvePath("/tmp/results", "/j/home", "/j/home/project", sandboxed)).toBe("/j/tmp/results");
    expect(resolvePath("/tmp", "/j/home", "/j/home/project", sandboxed)).toBe("/j/tmp");
    expect(resolvePath("/tmpfoo", "/j/home", "/j/home/project", sandboxed)).toBe("/tmpfoo");
    expect(resolvePath("out", "/j/home", "/go/src/app", sandboxed)).toBe("/j/fs/go/src/app/out");
    expect(resolvePath("/go/src/other", "/j/home", "/j/home/project", sandboxed)).toBe("/go/src/other");
  });
});

describe("jobMounts", () => {
  const plan = (workingDirectory: string, steps: JobPlan["steps"] = []) =>
    ({ workingDirectory, steps }) as unknown as JobPlan;

  it("mounts /tmp, and an absolute working directory outside HOME, from beside the job's directory", () => {
    expect(jobMounts("/w/job", "/w/job/home", plan("~/project"))).toEqual([
      { at: "/tmp", host: "/w/job.mounts/tmp" },
    ]);
    expect(jobMounts("/w/job", "/w/job/home", plan("/go/src/github.com/acme/app"))).toEqual([
      { at: "/tmp", host: "/w/job.mounts/tmp" },
      { at: "/go/src/github.com/acme/app", host: "/w/job.mounts/fs/go/src/github.com/acme/app" },
    ]);
  });

  it("mounts every absolute path the steps name, once, the outermost covering the inner", () => {
    const steps = [
      {
        type: "save_cache",
        key: "k",
        paths: ["/go/pkg/mod", "~/.cache", "vendor", "/go/pkg/mod/cache"],
        when: "on_success",
      },
      { type: "persist_to_workspace", root: "/workspace", paths: ["."] },
      { type: "store_artifacts", path: "/tmp/artifacts" },
      {
        type: "run",
        command: "true",
        workingDirectory: "/srv/app/sub",
        background: false,
        environment: {},
        when: "on_success",
      },
      { type: "attach_workspace", at: "/srv/app" },
    ] as unknown as JobPlan["steps"];
    expect(jobMounts("/w/job", "/w/job/home", plan("~/project", steps)).map((m) => m.at)).toEqual([
      "/tmp",
      "/srv/app",
      "/workspace",
      "/go/pkg/mod",
    ]);
  });

  it("never mounts / itself", () => {
    expect(jobMounts("/w/job", "/w/job/home", plan("/")).map((m) => m.at)).toEqual(["/tmp"]);
  });
});

describe("hostPath in a sandboxed job", () => {
  // Not under /tmp: in a sandboxed job /tmp/... is the job's own /tmp, which would hide the point.
  const root = mkdtempSync("/var/tmp/gyre-paths-");
  const outside = mkdtempSync("/var/tmp/gyre-outside-");
  const job = {
    home: join(root, "home"),
    workingDirectory: join(root, "home/project"),
    confinement: { root, mounts: [{ at: "/tmp", host: join(root, "tmp") }] },
  };
  mkdirSync(job.workingDirectory, { recursive: true });
  mkdirSync(join(root, "tmp"));
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
