/**
 * Paths in a job, as CircleCI resolves them, mapped to the builder's disk: `~` is HOME, a
 * relative path is under the working directory, and in a sandboxed job `/tmp` is the job's
 * own directory shown there. File steps (caches, artifacts, workspaces, test results) run in
 * the agent, outside the sandbox: in a sandboxed job they may read and write only inside the
 * job's directory, symlinks followed, so a job can never hand the agent its own secrets or
 * another job's files to upload, nor make it write outside.
 */

import { lstat, readlink, realpath } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import type { JobPlan } from "@gyre/core/config/plan";

/** A path as a job sees it (`at`), backed by a directory inside the job's own (`host`). */
export interface Mount {
  at: string;
  host: string;
}

/** A sandboxed job: the directory everything must stay in, and what is mounted where. */
export interface Confinement {
  root: string;
  mounts: readonly Mount[];
}

export interface JobPaths {
  home: string;
  workingDirectory: string;
  /** Set for a sandboxed job. */
  confinement?: Confinement;
}

export class PathOutsideJob extends Error {
  override readonly name = "PathOutsideJob";
  constructor(path: string) {
    super(
      `Gyre: ${path} is outside this job's directories (its working directory, HOME and /tmp); builders do not read or write anywhere else.`,
    );
  }
}

/** Lexically: `path` is `dir` or below it. */
export const isInside = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Where a job's mounts live on the builder: beside its directory, not in it. The job can write
 * inside a mount but never see, rename or replace the directory a mount comes from (its parent
 * is the agent's hidden work directory): otherwise a step could swap a mount's source for a
 * symlink and have the next step's sandbox bind whatever it points to.
 */
export const mountsDir = (root: string) => `${root}.mounts`;

/** Lexically: the builder path is the job's own (its directory or its mounts). */
export const ownedByJob = (path: string, root: string) =>
  isInside(path, root) || isInside(path, mountsDir(root));

/** The builder's path for an absolute path the job sees: through the job's mounts (longest first). */
export function toHost(absolute: string, confinement?: Confinement): string {
  // The job's own directory keeps its path, even when the builder keeps jobs under /tmp.
  if (!confinement || ownedByJob(absolute, confinement.root)) return absolute;
  const mount = [...confinement.mounts]
    .sort((a, b) => b.at.length - a.at.length)
    .find((m) => isInside(absolute, m.at));
  return mount ? join(mount.host, absolute.slice(mount.at.length)) : absolute;
}

/** The host path for a path as the job wrote it (no checks; see hostPath). */
export function resolvePath(
  path: string,
  home: string,
  workingDirectory: string,
  confinement?: Confinement,
): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return toHost(resolve(workingDirectory, path), confinement);
}

/**
 * What a sandboxed job gets mounted: /tmp, and every absolute path its plan names outside HOME
 * and its own directory (working directories, cache, workspace, artifact and test-result
 * paths), each backed by the job's own directory, so that what one step writes there the next
 * step, and the agent's file steps, find, and nothing is written on the builder outside the job.
 */
export function jobMounts(root: string, home: string, plan: JobPlan): Mount[] {
  const named: string[] = [plan.workingDirectory || "~/project"];
  for (const step of plan.steps) {
    if (step.type === "run" && step.workingDirectory) named.push(step.workingDirectory);
    if (step.type === "checkout" && step.path) named.push(step.path);
    if (step.type === "save_cache") named.push(...step.paths);
    if (step.type === "persist_to_workspace") named.push(step.root);
    if (step.type === "attach_workspace") named.push(step.at);
    if (step.type === "store_artifacts" || step.type === "store_test_results") named.push(step.path);
  }
  const outside = named
    .filter((p) => p.startsWith("/") && !p.includes("\0"))
    .map((p) => resolve(p))
    .filter((p) => p !== "/" && !isInside(p, "/tmp") && !isInside(p, home) && !isInside(p, root))
    .sort((a, b) => a.length - b.length);
  const base = mountsDir(root);
  const mounts: Mount[] = [{ at: "/tmp", host: join(base, "tmp") }];
  for (const at of outside) {
    if (!mounts.some((m) => isInside(at, m.at))) mounts.push({ at, host: join(base, "fs", at) });
  }
  return mounts;
}

/**
 * Where `path` really leads: its real path, or, when it does not exist, where its nearest
 * existing ancestor leads joined with the rest. A dangling symlink is followed through its link
 * text (a write through it would land at its target), up to 40 links as the kernel allows.
 */
async function realOrNearest(path: string, links = 0): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    if (links < 40 && (await lstat(path).catch(() => undefined))?.isSymbolicLink()) {
      return realOrNearest(resolve(dirname(path), await readlink(path)), links + 1);
    }
    const parent = dirname(path);
    if (parent === path) return path;
    return join(await realOrNearest(parent, links), basename(path));
  }
}

/**
 * The host path a file step may use for `path`: refused with PathOutsideJob when, in a
 * sandboxed job, it (or what its symlinks lead to) is outside the job's directory.
 */
export async function hostPath(path: string, job: JobPaths): Promise<string> {
  const host = resolvePath(path, job.home, job.workingDirectory, job.confinement);
  if (job.confinement) await assertInside(host, job.confinement.root, path);
  return host;
}

/** Throws PathOutsideJob unless `host`, symlinks followed, is inside the job's directory or its mounts. */
export async function assertInside(host: string, root: string, shown = host): Promise<void> {
  const real = await realOrNearest(host);
  for (const dir of [root, mountsDir(root)]) if (isInside(real, await realOrNearest(dir))) return;
  throw new PathOutsideJob(shown);
}
