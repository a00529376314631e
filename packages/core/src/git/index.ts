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

/**
 * The commit a ref points to. A revision is taken as given (readAtRevision fetches it when
 * the mirror lacks it); a branch or tag is asked of the remote with one `ls-remote`, which is
 * cheaper than a fetch and always current.
 */
export async function resolveRevision(scratchDir: string, repoUrl: string, ref: Ref): Promise<string> {
  if (ref.revision) {
    if (!/^[0-9a-f]{40}$/.test(ref.revision)) throw badRequest(`Invalid revision "${ref.revision}".`);
    return ref.revision;
  }
  if (!ref.tag && !ref.branch) throw badRequest("A branch, tag or revision is required.");
  const name = ref.tag ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`;
  const mirror = await mirrorOf(scratchDir, repoUrl);
  let listed: string;
  try {
    listed = await git(["ls-remote", "origin", name, `${name}^{}`], mirror);
  } catch (error) {
    throw new GyreError("unprocessable", `Could not read the repository: ${gitMessage(error)}`);
  }
  // An annotated tag lists its object and, as `^{}`, the commit it points to: take the commit.
  const lines = listed
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t") as [string, string]);
  const found = lines.find(([, r]) => r === `${name}^{}`) ?? lines.find(([, r]) => r === name);
  if (!found)
    throw new GyreError(
      "unprocessable",
      `${ref.tag ? "Tag" : "Branch"} "${ref.tag ?? ref.branch}" not found in the repository.`,
    );
  return found[0];
}

export interface CommitRead {
  /** The file's content, or undefined when the commit has no such file. */
  file: string | undefined;
  subject: string;
  body: string;
}

/**
 * A commit's message and one file at that commit, in a single `git cat-file --batch`
 * (fetching first only when the mirror does not have the commit yet).
 */
export async function readAtRevision(
  scratchDir: string,
  repoUrl: string,
  revision: string,
  path: string,
): Promise<CommitRead> {
  const mirror = await mirrorOf(scratchDir, repoUrl);
  let read = await catFile(mirror, revision, path);
  if (!read) {
    await fetchMirror(mirror);
    read = await catFile(mirror, revision, path);
  }
  if (!read) throw new GyreError("unprocessable", `Commit ${revision} is not in the repository.`);
  return read;
}

async function catFile(mirror: string, revision: string, path: string): Promise<CommitRead | undefined> {
  const out = await new Promise<Buffer>((resolvePromise, reject) => {
    const child = execFile(
      "git",
      ["cat-file", "--batch"],
      { cwd: mirror, env: GIT_ENV, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolvePromise(stdout)),
    );
    child.stdin!.end(`${revision}^{commit}\n${revision}:${path}\n`);
  });
  const objects: (Buffer | undefined)[] = [];
  let at = 0;
  while (at < out.length && objects.length < 2) {
    const eol = out.indexOf(10, at);
    const header = out.subarray(at, eol).toString("utf8").split(" ");
    if (header[1] === "missing" || header.length < 3) {
      objects.push(undefined);
      at = eol + 1;
      continue;
    }
    const size = Number(header[2]);
    objects.push(out.subarray(eol + 1, eol + 1 + size));
    at = eol + 1 + size + 1;
  }
  const [commit, file] = objects;
  if (!commit) return undefined;
  const text = commit.toString("utf8");
  const message = text.slice(text.indexOf("\n\n") + 2);
  const [subject = "", ...rest] = message.split("\n");
  return { file: file?.toString("utf8"), subject, body: rest.join("\n").trim() };
}
