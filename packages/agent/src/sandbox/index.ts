/**
 * The job sandbox: every process of a job runs under bubblewrap in its own namespaces (mount,
 * pid, ipc, uts, cgroup, user, and network unless the builder shares the host's), with no
 * capabilities, the system directories read-only, a private /tmp, and the job's own directory
 * as the only writable place it can see. The agent's data and work directories (keys, tokens,
 * other jobs) do not exist in there. Limits of the job's resource class are enforced by a
 * per-job cgroup (see cgroup.ts).
 *
 * Configured per agent by environment:
 * - GYRE_SANDBOX_NETWORK=host|none (default host: jobs fetch dependencies; none leaves only a
 *   private loopback).
 * - GYRE_ALLOW_UNSANDBOXED=true lets jobs run on the host when bubblewrap is missing;
 *   otherwise such a builder fails every job with a message saying why.
 * - GYRE_SANDBOX_BIND=/dir1:/dir2 shows these host directories to every job, writable (a
 *   shared tool cache, say). None may hold the agent's work directory.
 * - GYRE_RESOURCE_CLASSES (see resources.ts).
 */
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
} from "node:fs";
import { mkdir } from "node:fs/promises";
import { delimiter, dirname, join, resolve, sep } from "node:path";
import { quote } from "../process.ts";
import type { Confinement, Mount } from "../steps/paths.ts";
import { createJobCgroup, type JobCgroup } from "./cgroup.ts";
import { formatMemory, limitsFor, type ResourceClasses, resourceClassesFromEnv } from "./resources.ts";

export type NetworkPolicy = "host" | "none";

/** A system path as the sandbox shows it: bound read-only, or the same symlink as on the host. */
export type SystemEntry = { path: string; symlink?: string };

export interface SandboxPolicy {
  /** bubblewrap's path, or why it cannot be used here. */
  bwrap: { path: string } | { missing: string };
  network: NetworkPolicy;
  allowUnsandboxed: boolean;
  classes: ResourceClasses;
  /** The system directories jobs see, read-only. */
  system: SystemEntry[];
  /** Files inside the system directories that jobs must not read (shown as empty). */
  masked: string[];
  /** Host directories jobs must never see, even where they sit below a system directory. */
  hidden: string[];
  /** Host directories every job sees, writable (GYRE_SANDBOX_BIND). */
  shared: string[];
  /** Whether to put each job in a cgroup with its class's limits (default true). */
  cgroups: boolean;
}

const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"];
const SECRET_FILES = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-"];

/** The system directories present on this host, symlinks kept as symlinks (merged /usr). */
export function systemEntries(dirs = SYSTEM_DIRS): SystemEntry[] {
  const entries: SystemEntry[] = [];
  for (const path of dirs) {
    try {
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) entries.push({ path, symlink: readlinkSync(path) });
      else if (stat.isDirectory()) entries.push({ path });
    } catch {
      // not on this host
    }
  }
  return entries;
}

/** Password hashes and SSH host keys: readable by root, and jobs run as root in the sandbox. */
function secretFiles(): string[] {
  const files = SECRET_FILES.filter((f) => existsSync(f));
  try {
    for (const name of readdirSync("/etc/ssh"))
      if (/^ssh_host_.*_key$/.test(name)) files.push(join("/etc/ssh", name));
  } catch {
    // no SSH server keys
  }
  return files;
}

function findOnPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** `path` is `dir` or below it. */
const within = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

let probed: SandboxPolicy["bwrap"] | undefined;

function probe(): SandboxPolicy["bwrap"] {
  const path = findOnPath("bwrap") ?? (existsSync("/usr/bin/bwrap") ? "/usr/bin/bwrap" : undefined);
  if (!path) return { missing: "bubblewrap (bwrap) is not installed on this builder" };
  const run = spawnSync(path, ["--unshare-all", "--cap-drop", "ALL", "--ro-bind", "/", "/", "true"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (run.status === 0) return { path };
  const why = (run.stderr || run.error?.message || `exit ${run.status}`).trim();
  return { missing: `bubblewrap cannot create a sandbox here: ${why}` };
}

/** Finds bubblewrap and checks, once per process, that it can create namespaces here (~20 ms). */
export function probeBwrap(): SandboxPolicy["bwrap"] {
  probed ??= probe();
  return probed;
}

/** The agent's sandbox settings from its environment; `workDir` and the directory holding it stay hidden. */
export function sandboxPolicyFromEnv(workDir: string, env: NodeJS.ProcessEnv = process.env): SandboxPolicy {
  const network = (env.GYRE_SANDBOX_NETWORK || "host").trim();
  if (network !== "host" && network !== "none")
    throw new Error(`GYRE_SANDBOX_NETWORK must be "host" or "none", not "${network}".`);
  const work = resolve(workDir);
  const hidden = [work, dirname(work)].filter((p) => p !== "/");
  const shared = (env.GYRE_SANDBOX_BIND ?? "").split(":").filter(Boolean);
  for (const dir of shared) {
    if (!dir.startsWith("/") || !existsSync(dir))
      throw new Error(`GYRE_SANDBOX_BIND: ${dir} must be an absolute path to an existing directory.`);
    const exposed = hidden.find((h) => within(h, resolve(dir)));
    if (exposed)
      throw new Error(`GYRE_SANDBOX_BIND: ${dir} would show jobs ${exposed}, which holds the agent's data.`);
  }
  return {
    bwrap: probeBwrap(),
    network,
    allowUnsandboxed: /^(true|1|yes)$/i.test(env.GYRE_ALLOW_UNSANDBOXED ?? ""),
    classes: resourceClassesFromEnv(env),
    system: systemEntries(),
    masked: secretFiles(),
    hidden,
    shared: shared.map((d) => resolve(d)),
    cgroups: true,
  };
}

/** A local repository to clone from (`/path` or `file:///path`), or undefined for a remote URL. */
export function localRepository(repoUrl: string): string | undefined {
  if (repoUrl.startsWith("file://")) {
    try {
      return decodeURIComponent(new URL(repoUrl).pathname);
    } catch {
      return undefined;
    }
  }
  return repoUrl.startsWith("/") ? resolve(repoUrl) : undefined;
}

export interface BwrapSpec {
  /** The job's own directory: the only writable host directory in the sandbox. */
  root: string;
  home: string;
  /** Paths the job sees, backed by directories inside root (its /tmp, its working directory, ...). */
  mounts: readonly Mount[];
  network: NetworkPolicy;
  system: SystemEntry[];
  masked: string[];
  /** More host paths to show read-only (a local repository to check out). */
  readOnly: string[];
  hidden: string[];
  /** Host directories shown writable. */
  shared: string[];
}

/** bubblewrap's arguments for running `argv` in `cwd` inside the sandbox `spec` describes. */
export function bwrapArgs(spec: BwrapSpec, argv: string[], cwd: string, options: WrapOptions = {}): string[] {
  const args = ["--unshare-all"];
  if (spec.network === "host") args.push("--share-net");
  // Root in the sandbox but without capabilities: it cannot remount the read-only binds
  // writable or unmount what hides the agent's directories.
  args.push("--cap-drop", "ALL", "--die-with-parent");
  // A new session, so a step cannot push input into a terminal of the agent's (TIOCSTI); an SSH
  // session keeps its own terminal (a pty of its own), or its shell has no job control.
  if (!options.terminal) args.push("--new-session");
  args.push("--proc", "/proc", "--dev", "/dev");
  const bound: string[] = [];
  for (const entry of spec.system) {
    if (entry.symlink) args.push("--symlink", entry.symlink, entry.path);
    else {
      args.push("--ro-bind", entry.path, entry.path);
      bound.push(entry.path);
    }
  }
  for (const file of spec.masked) args.push("--ro-bind", "/dev/null", file);
  for (const path of spec.readOnly) {
    args.push("--ro-bind", path, path);
    bound.push(path);
  }
  // A hidden directory that some bind above would show is covered by an empty tmpfs.
  const covered = spec.hidden.filter((h) => bound.some((b) => within(h, b)));
  for (const dir of covered) args.push("--tmpfs", dir);
  // A read-only path inside a covered directory comes back on top of the cover.
  for (const path of spec.readOnly)
    if (covered.some((h) => within(path, h))) args.push("--ro-bind", path, path);
  // The job's own directory, its mounts and the directories the operator shares with every job
  // (GYRE_SANDBOX_BIND), outermost first: an inner bind lands on top of an outer one (the job's
  // directory may itself live under /tmp, or under another mount).
  const writable = [
    ...spec.mounts,
    ...spec.shared.map((dir) => ({ at: dir, host: dir })),
    { at: spec.root, host: spec.root },
  ].sort((a, b) => a.at.length - b.at.length);
  for (const m of writable) args.push("--bind", m.host, m.at);
  // A read-only path (a local repository) under one of those mounts comes back on top of it.
  for (const path of spec.readOnly) {
    if (spec.mounts.some((m) => within(path, m.at))) args.push("--ro-bind", path, path);
  }
  // A step may work in a directory outside the job's (`working_directory: /tmp/x`): create it.
  if (![spec.root, ...spec.shared, ...spec.mounts.map((m) => m.at), ...bound].some((b) => within(cwd, b))) {
    args.push("--dir", cwd);
  }
  args.push("--chdir", cwd, "--setenv", "HOME", spec.home, "--", ...argv);
  return args;
}

export interface WrapOptions {
  /** The process is an SSH session's shell: it keeps the session's terminal as its own. */
  terminal?: boolean;
}

export interface JobSandbox {
  /** Said first in the job's output (no sandbox here, and what happens because of it). */
  warning?: string;
  /** The "Sandbox: ..." lines of "Spin up environment". */
  summary: string;
  /** Set when the job must not run: the reason, for the job's output. */
  refusal?: string;
  wrap: (argv: string[], cwd: string, options?: WrapOptions) => string[];
  /** After each step: a message when the kernel killed a process for going over the memory limit. */
  afterStep(): Promise<string | undefined>;
  /** Kills what is left of the job and removes its cgroup. */
  close(): Promise<void>;
  /**
   * Set when the job is isolated: the host directory its /tmp is, and the job's directory
   * that file steps (run by the agent outside the sandbox) must stay within.
   */
  confinement?: Confinement;
}

export interface JobPlace {
  root: string;
  home: string;
  resourceClass: string;
  repoUrl: string;
  /** What the job sees where (from steps/paths.ts jobMounts); /tmp at least. */
  mounts: readonly Mount[];
}

/** Prepares the sandbox of one job allocation: its cgroup and the command line that enters it. */
export async function openSandbox(policy: SandboxPolicy, job: JobPlace): Promise<JobSandbox> {
  const bwrap = "path" in policy.bwrap ? policy.bwrap.path : undefined;
  const lines: string[] = [];
  let warning: string | undefined;
  if (!bwrap) {
    const missing = "missing" in policy.bwrap ? policy.bwrap.missing : "";
    if (!policy.allowUnsandboxed) {
      const refusal = `Gyre: ${missing}, so this job cannot run isolated from the builder and is refused. Install bubblewrap on the builder (apt-get install bubblewrap), or set GYRE_ALLOW_UNSANDBOXED=true to run jobs on the host without a sandbox.\n`;
      return {
        warning: refusal,
        summary: "Sandbox: none (refused)\n",
        refusal,
        wrap: (argv) => argv,
        afterStep: async () => undefined,
        close: async () => undefined,
      };
    }
    warning = `Gyre: ${missing}; running this job on the host WITHOUT a sandbox (GYRE_ALLOW_UNSANDBOXED=true): it can read everything the builder can.\n`;
  }

  const { name, limits, fallback } = limitsFor(policy.classes, job.resourceClass);
  if (fallback)
    lines.push(`Resource class ${job.resourceClass} has no size on this builder; using ${name}'s limits.`);
  let cgroup: JobCgroup | undefined;
  if (policy.cgroups) {
    const made = await createJobCgroup(job.root.split(sep).pop()!, limits);
    if ("cgroup" in made) cgroup = made.cgroup;
    else lines.push(`Gyre: resource limits are not enforced on this builder (${made.unavailable}).`);
  }
  const sizes = `memory ${formatMemory(limits.memoryMb)}, pids ${limits.pids}, ${limits.cpus} vCPU`;
  lines.unshift(
    `Sandbox: ${bwrap ? "bubblewrap" : "none"}, network ${bwrap ? policy.network : "host"}, ${sizes} (resource class ${name}${cgroup ? `, cgroup v${cgroup.version}` : ", not enforced"})`,
  );

  const repo = localRepository(job.repoUrl);
  await Promise.all(job.mounts.map((m) => mkdir(m.host, { recursive: true })));
  const spec: BwrapSpec = {
    root: job.root,
    home: job.home,
    mounts: job.mounts,
    network: policy.network,
    system: policy.system,
    masked: policy.masked,
    readOnly: repo && existsSync(repo) ? [realpathSync(repo)] : [],
    hidden: policy.hidden,
    shared: policy.shared,
  };
  // The launcher joins the job's cgroup, then becomes bubblewrap (same pid, same process group).
  // It is /bin/sh, which never reads $BASH_ENV or $ENV when it runs a -c script.
  const enter = cgroup?.procsFiles.map((f) => `echo $$ > ${quote(f)}`).join(" && ");
  const launch = (argv: string[]) =>
    enter ? ["/bin/sh", "-c", `${enter} && exec "$@"`, "gyre-sandbox", ...argv] : argv;
  let oomKills = cgroup ? await cgroup.oomKills() : 0;

  return {
    warning,
    summary: `${lines.join("\n")}\n`,
    wrap: (argv, cwd, options) => launch(bwrap ? [bwrap, ...bwrapArgs(spec, argv, cwd, options)] : argv),
    afterStep: async () => {
      if (!cgroup) return undefined;
      const now = await cgroup.oomKills();
      if (now === oomKills) return undefined;
      oomKills = now;
      return `\nGyre: this job went over its memory limit (${formatMemory(limits.memoryMb)}, resource class ${name}); the kernel killed a process. Use a larger resource_class.\n`;
    },
    close: async () => {
      await cgroup?.remove();
    },
    ...(bwrap ? { confinement: { root: job.root, mounts: job.mounts } } : {}),
  };
}
