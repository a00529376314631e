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

export interface JobPaths {
  home: string;
  workingDirectory: string;
  /** Set for a sandboxed job: where its /tmp is, and the directory everything must stay in. */
  confinement?: { tmp: string; root: string };
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

/** The host path for a path as the job wrote it (no checks; see hostPath). */
export function resolvePath(path: string, home: string, workingDirectory: string, tmp?: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  const absolute = resolve(workingDirectory, path);
  // The job's own directory keeps its path even when the builder keeps jobs under /tmp.
  if (tmp && isInside(absolute, "/tmp") && !isInside(absolute, dirname(tmp))) {
    return join(tmp, absolute.slice("/tmp".length));
  }
  return absolute;
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
  const host = resolvePath(path, job.home, job.workingDirectory, job.confinement?.tmp);
  if (job.confinement) await assertInside(host, job.confinement.root, path);
  return host;
}

/** Throws PathOutsideJob unless `host`, symlinks followed, is inside `root`. */
export async function assertInside(host: string, root: string, shown = host): Promise<void> {
  const realRoot = await realOrNearest(root);
  if (!isInside(await realOrNearest(host), realRoot)) throw new PathOutsideJob(shown);
}
