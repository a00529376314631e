/**
 * Resource limits on this machine's real cgroups (v1 or v2), through the sandbox's launcher.
 * Needs root and a writable cgroup filesystem, like the builders; it fails rather than skips.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createJobCgroup, readCgroupHost } from "./cgroup.ts";
import { openSandbox, sandboxPolicyFromEnv } from "./index.ts";
import { resourceClassesFromEnv } from "./resources.ts";

const base = mkdtempSync(join(tmpdir(), "gyre-cgroup-unit-"));
const workDir = join(base, "work");
afterAll(() => rmSync(base, { recursive: true, force: true }));

const classes = resourceClassesFromEnv({
  GYRE_RESOURCE_CLASSES: JSON.stringify({ tiny: { cpus: 1, memoryMb: 48, pids: 30 } }),
});

async function sandboxed(name: string) {
  const root = join(workDir, name);
  const home = join(root, "home");
  mkdirSync(home, { recursive: true });
  const sandbox = await openSandbox(
    { ...sandboxPolicyFromEnv(workDir, {}), classes },
    {
      root,
      home,
      resourceClass: "tiny",
      repoUrl: "https://x",
      mounts: [{ at: "/tmp", host: join(root, "tmp") }],
    },
  );
  const run = (script: string) => {
    const [command, ...args] = sandbox.wrap(["/bin/bash", "-c", script], home);
    return spawnSync(command!, args, {
      cwd: home,
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", HOME: home },
    });
  };
  return { sandbox, run };
}

describe("job cgroups", () => {
  it("can be created on this machine", async () => {
    const made = await createJobCgroup(`probe-${process.pid}`, { cpus: 1, memoryMb: 64, pids: 10 });
    expect(made).toHaveProperty("cgroup");
    if (!("cgroup" in made)) return;
    for (const file of made.cgroup.procsFiles) expect(existsSync(file)).toBe(true);
    await made.cgroup.remove();
    for (const file of made.cgroup.procsFiles) expect(existsSync(dirname(file))).toBe(false);
  });

  it("say so when the host has none", async () => {
    expect(await createJobCgroup("x", { cpus: 1, memoryMb: 64, pids: 10 }, readCgroupHost("", ""))).toEqual({
      unavailable: "no cgroup filesystem is mounted",
    });
  });

  it("cap the number of processes of the job", async () => {
    const { sandbox, run } = await sandboxed("pids");
    expect(sandbox.summary).toMatch(
      /^Sandbox: bubblewrap, network host, memory 48 MB, pids 30, 1 vCPU \(resource class tiny, cgroup v\d\)\n$/,
    );
    // The forks run in a subshell: when bash gives up retrying a fork it may exit that shell
    // (how soon depends on the machine's load), and the job's own shell must still answer.
    const out = run("(for i in $(seq 60); do sleep 1 & done; wait); echo finished");
    expect(out.stderr).toMatch(/fork: .*Resource temporarily unavailable/);
    expect(out.stdout).toBe("finished\n");
    await sandbox.close();
  });

  it("kill a job that goes over its memory, say why, and leave nothing behind", async () => {
    const { sandbox, run } = await sandboxed("memory");
    const out = run("tail /dev/zero; echo exit=$?");
    // The kernel's OOM killer sends SIGKILL: bash reports 128 + 9.
    expect(out.stdout).toBe("exit=137\n");
    expect(await sandbox.afterStep()).toMatch(/went over its memory limit \(48 MB, resource class tiny\)/);
    expect(await sandbox.afterStep()).toBeUndefined();
    expect(run("echo still usable").stdout).toBe("still usable\n");
    await sandbox.close();
    const host = readCgroupHost();
    const memory = host.mounts.find((m) => m.options.includes("memory") || m.type === "cgroup2")!;
    const own = host.own.get("memory") ?? host.own.get("") ?? "/";
    expect(existsSync(join(memory.path, own, "gyre", `agent-${process.pid}`, "memory"))).toBe(false);
  });
});
