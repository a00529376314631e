/**
 * Reading a project's repository with git: a bare mirror per repository in the scratch
 * directory, fetched only when the wanted commit is not already there, and files read at
 * a revision with `git show` (no working tree is ever checked out here).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { badRequest, GyreError } from "../error.ts";

const run = promisify(execFile);
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", LC_ALL: "C" };

async function git(args: string[], cwd?: string): Promise<string> {
  const { stdout } = await run("git", args, { cwd, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const mirrors = new Map<string, Promise<string>>();

/** The bare mirror of `repoUrl`, cloned on first use. */
export function mirrorOf(scratchDir: string, repoUrl: string): Promise<string> {
  const dir = join(
    scratchDir,
    "repos",
    `${createHash("sha256").update(repoUrl).digest("hex").slice(0, 24)}.git`,
  );
  let pending = mirrors.get(dir);
  if (!pending) {
    pending = (async () => {
      if (await exists(dir)) return dir;
      await mkdir(join(scratchDir, "repos"), { recursive: true });
      const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
      try {
        await git(["clone", "--mirror", "--quiet", repoUrl, tmp]);
        await rename(tmp, dir);
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        throw new GyreError("unprocessable", `Could not clone ${repoUrl}: ${gitMessage(error)}`);
      }
      return dir;
    })();
    mirrors.set(dir, pending);
    pending.catch(() => mirrors.delete(dir));
  }
  return pending;
}

function gitMessage(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim();
  return stderr || (error instanceof Error ? error.message : String(error));
}

async function hasCommit(mirror: string, revision: string): Promise<boolean> {
  return git(["cat-file", "-e", `${revision}^{commit}`], mirror).then(
    () => true,
    () => false,
  );
}

async function fetchMirror(mirror: string): Promise<void> {
  try {
    await git(
      [
        "fetch",
        "--quiet",
        "--prune",
        "--force",
        "origin",
        "+refs/heads/*:refs/heads/*",
        "+refs/tags/*:refs/tags/*",
      ],
      mirror,
    );
  } catch (error) {
    throw new GyreError("unprocessable", `Could not fetch the repository: ${gitMessage(error)}`);
  }
}

export interface Ref {
  branch?: string;
  tag?: string;
  /** A full commit SHA, when the caller knows it (a push webhook does). */
  revision?: string;
}

/** The commit a ref points to, fetching only when it is not known yet. */
export async function resolveRevision(scratchDir: string, repoUrl: string, ref: Ref): Promise<string> {
  const mirror = await mirrorOf(scratchDir, repoUrl);
  if (ref.revision) {
    if (!/^[0-9a-f]{40}$/.test(ref.revision)) throw badRequest(`Invalid revision "${ref.revision}".`);
    if (!(await hasCommit(mirror, ref.revision))) await fetchMirror(mirror);
    if (!(await hasCommit(mirror, ref.revision))) {
      throw new GyreError("unprocessable", `Commit ${ref.revision} is not in the repository.`);
    }
    return ref.revision;
  }
  const name = ref.tag ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`;
  if (!ref.tag && !ref.branch) throw badRequest("A branch, tag or revision is required.");
  await fetchMirror(mirror);
  try {
    return (await git(["rev-parse", "--verify", "--quiet", `${name}^{commit}`], mirror)).trim();
  } catch {
    throw new GyreError(
      "unprocessable",
      `${ref.tag ? "Tag" : "Branch"} "${ref.tag ?? ref.branch}" not found in the repository.`,
    );
  }
}

/** A file's content at a revision, or undefined when the file does not exist there. */
export async function readFileAt(
  scratchDir: string,
  repoUrl: string,
  revision: string,
  path: string,
): Promise<string | undefined> {
  const mirror = await mirrorOf(scratchDir, repoUrl);
  try {
    return await git(["show", `${revision}:${path}`], mirror);
  } catch {
    return undefined;
  }
}

/** The commit's subject and author, for the pipeline's trigger info. */
export async function commitInfo(scratchDir: string, repoUrl: string, revision: string) {
  const mirror = await mirrorOf(scratchDir, repoUrl);
  const out = await git(["show", "-s", "--format=%s%x00%an%x00%ae", revision], mirror);
  const [subject = "", author = "", email = ""] = out.trim().split("\0");
  return { subject, author, email };
}
