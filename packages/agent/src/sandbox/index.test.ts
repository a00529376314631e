/**
 * The bubblewrap command line, and the real thing: these tests run bwrap and need it
 * installed (CI installs it; a missing bwrap fails them rather than skipping).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type BwrapSpec,
  bwrapArgs,
  localRepository,
  openSandbox,
  probeBwrap,
  type SandboxPolicy,
  sandboxPolicyFromEnv,
} from "./index.ts";
import { resourceClassesFromEnv } from "./resources.ts";

const spec: BwrapSpec = {
  root: "/data/work/job-1-0",
  home: "/data/work/job-1-0/home",
  mounts: [{ at: "/tmp", host: "/data/work/job-1-0/tmp" }],
  network: "none",
  system: [{ path: "/usr" }, { path: "/bin", symlink: "usr/bin" }, { path: "/etc" }, { path: "/opt" }],
  masked: ["/etc/shadow"],
  readOnly: [],
  hidden: ["/data/work", "/data"],
  shared: [],
};

/** The pairs `flag value` (or triples) as they appear, for order-independent checks. */
const has = (args: string[], ...seq: string[]) => args.some((_, i) => seq.every((s, j) => args[i + j] === s));
const indexOf = (args: string[], ...seq: string[]) =>
  args.findIndex((_, i) => seq.every((s, j) => args[i + j] === s));

describe("bwrapArgs", () => {
  it("unshares everything, drops capabilities and dies with the agent", () => {
    const args = bwrapArgs(spec, ["/bin/bash", "-c", "true"], spec.home);
    expect(args.slice(0, 6)).toEqual([
      "--unshare-all",
      "--cap-drop",
      "ALL",
      "--die-with-parent",
      "--new-session",
      "--proc",
    ]);
    expect(args).not.toContain("--share-net");
    expect(has(args, "--chdir", spec.home)).toBe(true);
    expect(has(args, "--setenv", "HOME", spec.home)).toBe(true);
    expect(args.slice(args.indexOf("--"))).toEqual(["--", "/bin/bash", "-c", "true"]);
  });

  it("shares the host network only when the policy says host", () => {
    expect(bwrapArgs({ ...spec, network: "host" }, ["true"], spec.home)).toContain("--share-net");
  });

  it("binds mounts outermost first, so the job's directory stays visible when it lives under one", () => {
    const underTmp = {
      ...spec,
      root: "/tmp/w/job",
      home: "/tmp/w/job/home",
      mounts: [
        { at: "/tmp", host: "/tmp/w/job/tmp" },
        { at: "/go/src/app", host: "/tmp/w/job/fs/go/src/app" },
      ],
    };
    const args = bwrapArgs(underTmp, ["true"], "/go/src/app");
    const binds = args.flatMap((a, i) => (a === "--bind" ? [[args[i + 1], args[i + 2]]] : []));
    expect(binds).toEqual([
      ["/tmp/w/job/tmp", "/tmp"],
      ["/tmp/w/job", "/tmp/w/job"],
      ["/tmp/w/job/fs/go/src/app", "/go/src/app"],
    ]);
  });

  it("shows the system read-only, the job's own tmp as /tmp, and only the job's own directory writable", () => {
    const args = bwrapArgs(spec, ["true"], spec.home);
    expect(has(args, "--ro-bind", "/usr", "/usr")).toBe(true);
    expect(has(args, "--symlink", "usr/bin", "/bin")).toBe(true);
    expect(has(args, "--bind", "/data/work/job-1-0/tmp", "/tmp")).toBe(true);
    expect(has(args, "--proc", "/proc")).toBe(true);
    expect(has(args, "--dev", "/dev")).toBe(true);
    expect(has(args, "--ro-bind", "/dev/null", "/etc/shadow")).toBe(true);
    const writable = args.flatMap((a, i) => (a === "--bind" ? [args[i + 1]] : []));
    // Both inside the job's directory: /tmp is the job's own tmp, not the host's.
    expect(writable).toEqual(["/data/work/job-1-0/tmp", spec.root]);
    // The agent's data directory is never bound.
    expect(args.filter((a) => a === "/data" || a === "/data/work")).toEqual([]);
  });

  it("covers the agent's directories where a system bind would show them", () => {
    const args = bwrapArgs(
      { ...spec, hidden: ["/opt/gyre/work", "/opt/gyre"], root: "/opt/gyre/work/j" },
      ["true"],
      "/opt/gyre/work/j",
    );
    const cover = indexOf(args, "--tmpfs", "/opt/gyre");
    expect(cover).toBeGreaterThan(indexOf(args, "--ro-bind", "/opt", "/opt"));
    expect(indexOf(args, "--bind", "/opt/gyre/work/j", "/opt/gyre/work/j")).toBeGreaterThan(cover);
  });

  it("binds a local repository read-only, above any cover of the data directory", () => {
    const args = bwrapArgs(
      {
        ...spec,
        readOnly: ["/data/examples/demo"],
        hidden: ["/data/work", "/data"],
        system: [{ path: "/data" }],
      },
      ["true"],
      spec.home,
    );
    const last = args.lastIndexOf("/data/examples/demo");
    expect(args[last - 2]).toBe("--ro-bind");
    expect(last).toBeGreaterThan(indexOf(args, "--tmpfs", "/data"));
  });

  it("creates a working directory outside the job's own and its mounts inside the sandbox only", () => {
    expect(has(bwrapArgs(spec, ["true"], "/srv/build"), "--dir", "/srv/build")).toBe(true);
    // Under a mount (here /tmp) or the job's directory, the agent creates it on the job's side.
    expect(bwrapArgs(spec, ["true"], "/tmp/build")).not.toContain("--dir");
    expect(bwrapArgs(spec, ["true"], `${spec.root}/x`)).not.toContain("--dir");
  });
});

describe("localRepository", () => {
  it("knows local paths and file URLs from remote URLs", () => {
    expect(localRepository("/srv/git/repo")).toBe("/srv/git/repo");
    expect(localRepository("file:///srv/git/my%20repo")).toBe("/srv/git/my repo");
    expect(localRepository("https://github.com/acme/widgets.git")).toBeUndefined();
    expect(localRepository("git@github.com:acme/widgets.git")).toBeUndefined();
  });
});

describe("the sandbox, for real", () => {
  const base = mkdtempSync(join(tmpdir(), "gyre-sandbox-unit-"));
  const workDir = join(base, "data", "work");
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(base, "data", "master.key"), "TOP-SECRET-KEY\n");
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const policy = (over: Partial<SandboxPolicy> = {}): SandboxPolicy => ({
    ...sandboxPolicyFromEnv(workDir, {}),
    cgroups: false,
    ...over,
  });

  async function run(script: string, over: Partial<SandboxPolicy> = {}, name = "job-a") {
    const root = join(workDir, name);
    const home = join(root, "home");
    mkdirSync(home, { recursive: true });
    const sandbox = await openSandbox(policy(over), {
      root,
      home,
      resourceClass: "medium",
      repoUrl: "https://x",
      mounts: [{ at: "/tmp", host: join(root, "tmp") }],
    });
    const [command, ...args] = sandbox.wrap(["/bin/bash", "-c", script], home);
    const out = spawnSync(command!, args, {
      cwd: home,
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", HOME: home },
    });
    await sandbox.close();
    return { ...out, sandbox };
  }

  it("needs bubblewrap on this machine (install the bubblewrap package)", () => {
    expect(probeBwrap()).toHaveProperty("path");
  });

  it("hides the data directory and other jobs, keeps /tmp private, and lets the job write its own directory", async () => {
    mkdirSync(join(workDir, "job-b", "home"), { recursive: true });
    writeFileSync(join(workDir, "job-b", "home", "other"), "OTHER-JOB\n");
    const marker = `gyre-unit-${process.pid}-${Date.now()}`;
    const out = await run(
      `cat ${join(base, "data", "master.key")}; ls ${workDir}; cat ${join(workDir, "job-b", "home", "other")}; echo hi > /tmp/${marker}; echo mine > $HOME/file; cat /etc/shadow | wc -c; pwd`,
    );
    expect(out.stderr).toContain("master.key: No such file or directory");
    expect(out.stdout).not.toContain("TOP-SECRET");
    expect(out.stdout).not.toContain("OTHER-JOB");
    expect(out.stdout.split("\n")).toEqual(["job-a", "0", join(workDir, "job-a", "home"), ""]);
    expect(existsSync(join(tmpdir(), marker))).toBe(false);
    expect(readFileSync(join(workDir, "job-a", "home", "file"), "utf8")).toBe("mine\n");
  });

  it("cannot write the system or undo its mounts (no capabilities)", async () => {
    const out = await run("touch /usr/gyre-escape; mount -o remount,bind,rw /usr; umount /tmp; echo done");
    expect(out.stderr).toMatch(/Read-only file system/);
    expect(out.stderr).toMatch(/permission denied/i);
    expect(out.stderr).toMatch(/must be superuser/);
    expect(existsSync("/usr/gyre-escape")).toBe(false);
  });

  it("has only a loopback network with GYRE_SANDBOX_NETWORK=none", async () => {
    const net = await run("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", { network: "none" });
    expect(net.stdout.trim()).toBe("lo");
    expect(sandboxPolicyFromEnv(workDir, { GYRE_SANDBOX_NETWORK: "none" }).network).toBe("none");
    expect(sandboxPolicyFromEnv(workDir, {}).network).toBe("host");
    expect(() => sandboxPolicyFromEnv(workDir, { GYRE_SANDBOX_NETWORK: "off" })).toThrow(/"host" or "none"/);
  });

  it("refuses jobs when bubblewrap is missing, unless unsandboxed runs are allowed", async () => {
    const root = join(workDir, "job-c");
    const place = {
      root,
      home: join(root, "home"),
      resourceClass: "small",
      repoUrl: "/x",
      mounts: [{ at: "/tmp", host: join(root, "tmp") }],
    };
    const refused = await openSandbox(
      policy({ bwrap: { missing: "bubblewrap (bwrap) is not installed" } }),
      place,
    );
    expect(refused.refusal).toMatch(/not installed.*refused.*GYRE_ALLOW_UNSANDBOXED=true/);
    const allowed = await openSandbox(
      policy({ bwrap: { missing: "bubblewrap (bwrap) is not installed" }, allowUnsandboxed: true }),
      place,
    );
    expect(allowed.refusal).toBeUndefined();
    expect(allowed.warning).toMatch(/WITHOUT a sandbox/);
    expect(allowed.wrap(["true"], "/")).toEqual(["true"]);
  });

  it("refuses a shared directory that would show the agent's data", () => {
    expect(() => sandboxPolicyFromEnv(workDir, { GYRE_SANDBOX_BIND: base })).toThrow(
      /holds the agent's data/,
    );
    expect(() => sandboxPolicyFromEnv(workDir, { GYRE_SANDBOX_BIND: tmpdir() })).toThrow(
      /holds the agent's data/,
    );
    const shared = join(base, "shared");
    mkdirSync(shared);
    expect(sandboxPolicyFromEnv(workDir, { GYRE_SANDBOX_BIND: shared }).shared).toEqual([shared]);
  });

  it("says what it is in the job's output", async () => {
    const classes = resourceClassesFromEnv({});
    const root = join(workDir, "job-d");
    const sandbox = await openSandbox(policy({ classes }), {
      root,
      home: join(root, "home"),
      resourceClass: "large",
      repoUrl: "/x",
      mounts: [{ at: "/tmp", host: join(root, "tmp") }],
    });
    expect(sandbox.summary).toBe(
      "Sandbox: bubblewrap, network host, memory 8 GB, pids 2000, 4 vCPU (resource class large, not enforced)\n",
    );
  });
});
