/**
 * A job's cgroup: its memory, process-count and CPU limits, enforced by the kernel over every
 * process of every step of the job. Works with cgroup v1 (one hierarchy per controller, as on
 * Debian 12 hosts in hybrid mode) and cgroup v2 (one unified hierarchy). Job cgroups live
 * at `gyre/agent-<pid>/<job>` below the agent's own cgroup, so limits set on the agent still
 * apply. An agent removes what dead agents left there (a killed agent cannot clean up).
 *
 * The agent does not move processes itself: the sandbox's launcher writes its own pid into
 * each `cgroup.procs` file before it `exec`s bubblewrap, so the job is limited from its first
 * instruction and everything it starts stays inside.
 */
import { readFileSync } from "node:fs";
import { access, mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ResourceLimits } from "./resources.ts";

export interface JobCgroup {
  /** "cgroup v1" or "cgroup v2". */
  version: 1 | 2;
  /** The `cgroup.procs` files a process of the job writes its pid into. */
  procsFiles: string[];
  /** How many processes the kernel's OOM killer has killed in this cgroup. */
  oomKills(): Promise<number>;
  /** Kills whatever is left and removes the cgroup. */
  remove(): Promise<void>;
}

export type CgroupResult = { cgroup: JobCgroup } | { unavailable: string };

interface Mount {
  path: string;
  type: "cgroup" | "cgroup2";
  options: string[];
}

/** Where the cgroup hierarchies are mounted and where this process sits in each. */
export interface CgroupHost {
  mounts: Mount[];
  /** Controller (or "" for v2) → this process's path in that hierarchy. */
  own: Map<string, string>;
}

export function readCgroupHost(mountsText?: string, selfText?: string): CgroupHost {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  const mounts: Mount[] = [];
  for (const line of (mountsText ?? read("/proc/self/mounts")).split("\n")) {
    const [, path, type, options] = line.split(" ");
    if (path && (type === "cgroup" || type === "cgroup2"))
      mounts.push({ path: path.replace(/\\040/g, " "), type, options: (options ?? "").split(",") });
  }
  const own = new Map<string, string>();
  for (const line of (selfText ?? read("/proc/self/cgroup")).split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    if (match[1] === "") own.set("", match[2]!);
    for (const controller of match[1]!.split(",")) if (controller) own.set(controller, match[2]!);
  }
  return { mounts, own };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The directory for `gyre/agent-<pid>/<name>` below this process's own cgroup in a hierarchy. */
async function jobDir(mount: string, ownPath: string | undefined, name: string): Promise<string> {
  const own = ownPath && ownPath !== "/" ? join(mount, ownPath) : mount;
  // Inside a cgroup namespace the recorded path may not exist in this mount: use the mount's root.
  const base = (await exists(own)) ? own : mount;
  await sweepDeadAgents(join(base, "gyre"));
  return join(base, "gyre", `agent-${process.pid}`, name);
}

const swept = new Set<string>();

/** Removes the job cgroups of agents that are gone (once per hierarchy and process). */
async function sweepDeadAgents(parent: string): Promise<void> {
  if (swept.has(parent)) return;
  swept.add(parent);
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const pid = /^agent-(\d+)$/.exec(entry.name)?.[1];
    if (!entry.isDirectory() || !pid || Number(pid) === process.pid || alive(Number(pid))) continue;
    const dir = join(parent, entry.name);
    const jobs = await readdir(dir, { withFileTypes: true }).catch(() => []);
    await removeDirs([...jobs.filter((j) => j.isDirectory()).map((j) => join(dir, j.name)), dir]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function counter(file: string, key: string): Promise<number> {
  const text = await readFile(file, "utf8").catch(() => "");
  const match = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

async function removeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let attempt = 0; ; attempt++) {
      const procs = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
      for (const pid of procs.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || attempt >= 50) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

const CPU_PERIOD_US = 100_000;

async function createV1(host: CgroupHost, name: string, limits: ResourceLimits): Promise<CgroupResult> {
  const mountOf = (controller: string) =>
    host.mounts.find((m) => m.type === "cgroup" && m.options.includes(controller))?.path;
  const memoryMount = mountOf("memory");
  const pidsMount = mountOf("pids");
  if (!memoryMount || !pidsMount)
    return { unavailable: "the memory and pids cgroup controllers are not mounted" };
  const memory = await jobDir(memoryMount, host.own.get("memory"), name);
  const pids = await jobDir(pidsMount, host.own.get("pids"), name);
  const cpuMount = mountOf("cpu");
  const cpu = cpuMount ? await jobDir(cpuMount, host.own.get("cpu"), name) : undefined;
  const dirs = [...new Set([memory, pids, ...(cpu ? [cpu] : [])])];
  try {
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    const bytes = String(limits.memoryMb * 1024 * 1024);
    await writeFile(join(memory, "memory.limit_in_bytes"), bytes);
    // With swap accounting on, memory + swap gets the same limit (no escape into swap).
    if (await exists(join(memory, "memory.memsw.limit_in_bytes")))
      await writeFile(join(memory, "memory.memsw.limit_in_bytes"), bytes).catch(() => undefined);
    await writeFile(join(pids, "pids.max"), String(limits.pids));
    if (cpu) {
      await writeFile(join(cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US)).catch(() => undefined);
      await writeFile(join(cpu, "cpu.cfs_quota_us"), String(Math.round(limits.cpus * CPU_PERIOD_US)));
      await writeFile(join(cpu, "cpu.shares"), String(Math.round(limits.cpus * 1024))).catch(() => undefined);
    }
  } catch (error) {
    await removeDirs(dirs);
    return { unavailable: `cannot set up a cgroup: ${(error as Error).message}` };
  }
  return {
    cgroup: {
      version: 1,
      procsFiles: dirs.map((d) => join(d, "cgroup.procs")),
      oomKills: () => counter(join(memory, "memory.oom_control"), "oom_kill"),
      remove: () => removeDirs(dirs),
    },
  };
}

async function createV2(
  mount: string,
  host: CgroupHost,
  name: string,
  limits: ResourceLimits,
): Promise<CgroupResult> {
  const dir = await jobDir(mount, host.own.get(""), name);
  const agent = join(dir, "..");
  const gyre = join(agent, "..");
  const controllers = (await readFile(join(mount, "cgroup.controllers"), "utf8").catch(() => "")).split(
    /\s+/,
  );
  if (!controllers.includes("memory") || !controllers.includes("pids"))
    return { unavailable: "the memory and pids controllers are not enabled in cgroup v2" };
  const wanted = ["memory", "pids", ...(controllers.includes("cpu") ? ["cpu"] : [])];
  const enable = wanted.map((c) => `+${c}`).join(" ");
  try {
    await mkdir(agent, { recursive: true });
    // Each level hands the controllers down; the agent's own cgroup may have done so already.
    await writeFile(join(gyre, "..", "cgroup.subtree_control"), enable).catch(() => undefined);
    await writeFile(join(gyre, "cgroup.subtree_control"), enable);
    await writeFile(join(agent, "cgroup.subtree_control"), enable);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "memory.max"), String(limits.memoryMb * 1024 * 1024));
    await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
    await writeFile(join(dir, "pids.max"), String(limits.pids));
    if (wanted.includes("cpu"))
      await writeFile(join(dir, "cpu.max"), `${Math.round(limits.cpus * CPU_PERIOD_US)} ${CPU_PERIOD_US}`);
  } catch (error) {
    await removeDirs([dir]);
    return { unavailable: `cannot set up a cgroup: ${(error as Error).message}` };
  }
  return {
    cgroup: {
      version: 2,
      procsFiles: [join(dir, "cgroup.procs")],
      oomKills: () => counter(join(dir, "memory.events"), "oom_kill"),
      remove: () => removeDirs([dir]),
    },
  };
}

/**
 * Creates the cgroup `gyre/<name>` with `limits`. Answers why not when this host cannot do it
 * (no cgroup filesystem, controllers missing, not allowed to write): the caller says so in the
 * job's output and runs the job without limits.
 */
export async function createJobCgroup(
  name: string,
  limits: ResourceLimits,
  host: CgroupHost = readCgroupHost(),
): Promise<CgroupResult> {
  const v1 = host.mounts.some((m) => m.type === "cgroup" && m.options.includes("memory"));
  if (v1) return createV1(host, name, limits);
  const v2 = host.mounts.find((m) => m.type === "cgroup2");
  if (v2) return createV2(v2.path, host, name, limits);
  return { unavailable: "no cgroup filesystem is mounted" };
}
