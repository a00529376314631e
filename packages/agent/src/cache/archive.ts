/**
 * Cache archives: tar.gz made and unpacked by the system `tar` (GNU tar, on every Debian).
 *
 * `createArchive` stores each path under its absolute location (relative paths start at
 * `root`, `~` is the home directory), so `extract(..., "/")` puts files back where they were
 * saved, as CircleCI does. The archive's SHA-256 is computed while it is written.
 *
 * `extract` checks the SHA-256 of the whole archive before unpacking anything: a corrupt or
 * truncated download fails with a clear error and leaves the destination untouched. GNU tar
 * strips leading `/` and refuses members with `..`, so an archive cannot write outside
 * `destRoot`.
 *
 * Both warn (a `warning` string) above 500 MB, CircleCI's documented limit for corruption
 * checks ("We recommend keeping cache sizes under 500MB").
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { relative } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GyreError } from "@gyre/core/error";
import { resolvePath } from "./key.ts";

/** 500 MB (MiB): above this size a cache is warned about. */
export const LARGE_CACHE_BYTES = 500 * 1024 * 1024;

export interface CreateArchiveInput {
  /** Where relative paths start (the job's working directory). */
  root: string;
  /** The `save_cache` paths: relative, absolute or `~/...`. */
  paths: readonly string[];
  /** Where to write the .tar.gz. */
  archivePath: string;
  home?: string;
  /** Tests only: the warning threshold. */
  warnAboveBytes?: number;
}

export interface CreatedArchive {
  /** Lowercase hex SHA-256 of the archive file. */
  sha256: string;
  bytes: number;
  /** The absolute paths stored. */
  archived: string[];
  /** Paths that did not exist and were skipped (as given). */
  missing: string[];
  warning?: string;
}

export async function createArchive(input: CreateArchiveInput): Promise<CreatedArchive> {
  const home = input.home ?? homedir();
  const archived: string[] = [];
  const missing: string[] = [];
  for (const path of input.paths) {
    const absolute = resolvePath(path, input.root, home);
    if (await lstat(absolute).catch(() => undefined)) archived.push(absolute);
    else missing.push(path);
  }
  if (archived.length === 0) {
    throw new GyreError(
      "bad_request",
      `None of the cache paths exist (${input.paths.join(", ") || "no paths given"}); nothing to save.`,
    );
  }
  const members = [...new Set(archived.map((absolute) => relative("/", absolute) || "."))];
  let packed: PackedTar;
  try {
    packed = await packTar("/", members, input.archivePath);
  } catch (error) {
    if (error instanceof GyreError) throw error;
    throw new GyreError(
      "internal",
      `Could not write the cache archive ${input.archivePath}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const { code, stderr, bytes } = packed;
  if (code !== 0 && code !== 1) {
    throw new GyreError("internal", `tar could not create the cache archive (exit ${code}): ${stderr}`);
  }
  const warnings = [
    code === 1 ? `some files changed while the cache was being saved: ${stderr}` : undefined,
    sizeWarning(bytes, input.warnAboveBytes),
  ].filter((w) => w !== undefined);
  return {
    sha256: packed.sha256,
    bytes,
    archived,
    missing,
    ...(warnings.length > 0 ? { warning: warnings.join("; ") } : {}),
  };
}

export interface ExtractedArchive {
  bytes: number;
  warning?: string;
}

/** Verifies the archive's SHA-256, then unpacks it under `destRoot` (normally `/`). */
export async function extract(
  archivePath: string,
  expectedSha256: string,
  destRoot: string,
  options: { warnAboveBytes?: number } = {},
): Promise<ExtractedArchive> {
  const info = await stat(archivePath).catch(() => undefined);
  if (!info?.isFile()) throw new GyreError("not_found", `The cache archive ${archivePath} does not exist.`);
  const hash = createHash("sha256");
  await pipeline(createReadStream(archivePath), hash);
  const actual = hash.digest("hex");
  if (actual !== expectedSha256.toLowerCase()) {
    throw new GyreError(
      "unprocessable",
      `The cache archive is corrupt: its SHA-256 is ${actual}, expected ${expectedSha256}. Nothing was unpacked; the cache is skipped.`,
    );
  }
  await mkdir(destRoot, { recursive: true });
  const tar = spawn("tar", ["--extract", "--gzip", `--file=${archivePath}`, `--directory=${destRoot}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr = collect(tar.stderr);
  const code = await exitCode(tar);
  if (code !== 0)
    throw new GyreError("internal", `tar could not unpack the cache archive (exit ${code}): ${await stderr}`);
  const warning = sizeWarning(info.size, options.warnAboveBytes);
  return { bytes: info.size, ...(warning ? { warning } : {}) };
}

function sizeWarning(bytes: number, limit = LARGE_CACHE_BYTES): string | undefined {
  if (bytes <= limit) return undefined;
  const mb = (n: number) => `${Math.round(n / (1024 * 1024))} MB`;
  return `The cache is ${mb(bytes)}, over ${mb(limit)}: large caches take long to save and restore and are more likely to be corrupted; consider splitting it into several caches.`;
}

export interface PackedTar {
  sha256: string;
  bytes: number;
  /** tar's exit code: 0, or 1 when files changed while being read (the archive is still whole). */
  code: number;
  stderr: string;
}

/**
 * A tar.gz of `members` (relative to `directory`) written to `archivePath`, its SHA-256 and
 * size computed while it is written: the one way archives are made (caches, workspaces).
 */
export async function packTar(
  directory: string,
  members: readonly string[],
  archivePath: string,
): Promise<PackedTar> {
  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const tar = spawn("tar", ["--create", "--gzip", "--file=-", `--directory=${directory}`, "--", ...members], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr = collect(tar.stderr);
  const exit = exitCode(tar);
  exit.catch(() => {});
  try {
    await pipeline(tar.stdout, hashing, createWriteStream(archivePath, { mode: 0o600 }));
  } catch (error) {
    tar.kill();
    await exit.catch(() => {});
    throw error;
  }
  return { sha256: hash.digest("hex"), bytes, code: await exit, stderr: await stderr };
}

function exitCode(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    child.once("error", (error) =>
      reject(new GyreError("internal", `Could not run tar (is it installed?): ${error.message}`)),
    );
    child.once("close", (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}

async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return "";
  let text = "";
  for await (const chunk of stream) text = (text + chunk.toString()).slice(-4000);
  return text.trim();
}
