/**
 * Reading a project's repository with git: a bare mirror per repository in the scratch
 * directory, fetched only when the wanted commit is not already there, and files read at
 * a revision with `git show` (no working tree is ever checked out here).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { badRequest, GyreError } from "../error.ts";
import { sharedFreshRun } from "../lane.ts";
import { gitEnvironment } from "../network/git.ts";
import { isSshUrl } from "../ssh/keys.ts";

const run = promisify(execFile);
const BASE_ENV = { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", LC_ALL: "C" };

/** A repository as the server reaches it: its URL, and the private key to use over SSH. */
export interface Repository {
  url: string;
  /** The project's checkout key (OpenSSH private key), for ssh:// and git@host: URLs. */
  sshKey?: string;
}

interface Mirror {
  dir: string;
  env: NodeJS.ProcessEnv;
}

async function git(args: string[], mirror: { dir?: string; env: NodeJS.ProcessEnv }): Promise<string> {
  const { stdout } = await run("git", args, {
    cwd: mirror.dir,
    env: mirror.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const mirrors = new Map<string, Promise<Mirror>>();
const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 24);

/**
 * git's environment for `repo`: over HTTPS the environment's proxy and private CAs (network/:
 * lower-case proxy variables, loopback in NO_PROXY, GIT_SSL_CAINFO with the system's CAs too);
 * its key (written once, owner-only) when it has one.
 */
async function envFor(scratchDir: string, repo: Repository): Promise<NodeJS.ProcessEnv> {
  if (!repo.sshKey && !isSshUrl(repo.url))
    return { ...BASE_ENV, ...(await gitEnvironment(join(scratchDir, "git-ca"), process.env)) };
  // Over SSH: never prompt (batch mode), learn a host's key on first contact.
  const dir = join(scratchDir, "ssh");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const options = `-o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${join(dir, "known_hosts")}`;
  if (!repo.sshKey) return { ...BASE_ENV, GIT_SSH_COMMAND: `ssh ${options}` };
  const keyFile = join(dir, `${digest(repo.sshKey)}.key`);
  if (!(await exists(keyFile)))
    await writeFile(keyFile, repo.sshKey.endsWith("\n") ? repo.sshKey : `${repo.sshKey}\n`, { mode: 0o600 });
  return { ...BASE_ENV, GIT_SSH_COMMAND: `ssh -i ${keyFile} -o IdentitiesOnly=yes ${options}` };
}

/**
 * The bare mirror of a repository, cloned on first use. Mirrors are kept per URL and key:
 * a project reads only what its own credentials can fetch, never another project's mirror.
 */
export function mirrorOf(scratchDir: string, repo: Repository): Promise<Mirror> {
  const dir = join(scratchDir, "repos", `${digest(`${repo.url}\u0000${repo.sshKey ?? ""}`)}.git`);
  let pending = mirrors.get(dir);
  if (!pending) {
    pending = (async () => {
      const env = await envFor(scratchDir, repo);
      if (await exists(dir)) return { dir, env };
      await mkdir(join(scratchDir, "repos"), { recursive: true });
      const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
      try {
        await git(["clone", "--mirror", "--quiet", repo.url, tmp], { env });
        await rename(tmp, dir);
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        throw new GyreError("unprocessable", `Could not clone ${repo.url}: ${gitMessage(error)}`);
      }
      return { dir, env };
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

async function fetchMirror(mirror: Mirror): Promise<void> {
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
        // A pull request from a fork has its head only there (GitHub's refs/pull/<n>/head).
        "+refs/pull/*/head:refs/pull/*/head",
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
export async function resolveRevision(scratchDir: string, repo: Repository, ref: Ref): Promise<string> {
  if (ref.revision) {
    if (!/^[0-9a-f]{40}$/.test(ref.revision)) throw badRequest(`Invalid revision "${ref.revision}".`);
    return ref.revision;
  }
  if (!ref.tag && !ref.branch) throw badRequest("A branch, tag or revision is required.");
  const name = ref.tag ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`;
  const mirror = await mirrorOf(scratchDir, repo);
  let listed: string;
  try {
    listed = await sharedFreshRun(GIT_LANES, `${mirror.dir}\u0000${name}`, () =>
      git(["ls-remote", "origin", name, `${name}^{}`], mirror),
    );
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
  repo: Repository,
  revision: string,
  path: string,
): Promise<CommitRead> {
  const mirror = await mirrorOf(scratchDir, repo);
  // What a commit holds never changes: a read by full SHA is remembered.
  const key = `${mirror.dir}\u0000${revision}\u0000${path}`;
  const known = /^[0-9a-f]{40}$/.test(revision) ? reads.get(key) : undefined;
  if (known) {
    reads.delete(key);
    reads.set(key, known); // most recently used last
    return known;
  }
  let read = await catFile(mirror, revision, path);
  if (!read) {
    await fetchMirror(mirror);
    read = await catFile(mirror, revision, path);
  }
  if (!read) throw new GyreError("unprocessable", `Commit ${revision} is not in the repository.`);
  if (
    /^[0-9a-f]{40}$/.test(revision) &&
    (read.file?.length ?? 0) + read.body.length <= MAX_REMEMBERED_BYTES
  ) {
    reads.set(key, read);
    if (reads.size > MAX_REMEMBERED_READS) reads.delete(reads.keys().next().value!);
  }
  return read;
}

/** Reads remembered by commit (least recently used first), and their bounds. */
const reads = new Map<string, CommitRead>();
const MAX_REMEMBERED_READS = 256;
const MAX_REMEMBERED_BYTES = 256 * 1024;

/** The lanes of `ls-remote` (a burst of triggers for one branch costs two, not one each). */
const GIT_LANES = {};

async function catFile(mirror: Mirror, revision: string, path: string): Promise<CommitRead | undefined> {
  const out = await new Promise<Buffer>((resolvePromise, reject) => {
    const child = execFile(
      "git",
      ["cat-file", "--batch"],
      { cwd: mirror.dir, env: mirror.env, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
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
