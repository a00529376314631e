/**
 * `<data dir>/runtime.json`: where a running local Gyre's stand-ins listen, written when it
 * starts and removed when it stops, so that commands run beside it (`gyre backup`) reach the
 * same table and bucket through the same SDK clients, as `sst shell` hands the AWS ones their
 * resources.
 *
 * It holds no credential, yet it is written 0600, because what it points at has none: the
 * stand-ins (dynalite, s3rver) accept any request, so whoever reaches their ports can read and
 * write the whole table and bucket (every record, job output, artifact, cache and test result,
 * token digests, and sealed values, which stay sealed: the master key is not reachable through
 * them). They listen on 127.0.0.1 only, which keeps other machines out but not other users and
 * processes of this one. The file names the ports; 0600 keeps it from telling other users
 * where they are, though they could still find them by probing loopback: it does not make the
 * stand-ins private. On a shared machine, run Gyre where only its owner runs processes.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const RUNTIME_FILE = "runtime.json";

export interface RuntimeFile {
  pid: number;
  url: string;
  region: string;
  table: string;
  bucket: string;
  endpoints: { dynamodb: string; s3: string };
  started_at: string;
}

export async function writeRuntimeFile(dataDir: string, runtime: RuntimeFile): Promise<void> {
  // A new file (0600 even when a stale one from a crash is there), then renamed over it:
  // a reader sees the old file or the whole new one.
  const file = join(dataDir, RUNTIME_FILE);
  const partial = `${file}.${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    await writeFile(partial, `${JSON.stringify(runtime, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    await rename(partial, file);
  } catch (error) {
    // Not another's file of that name (EEXIST): ours, half written or not renamed.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") await rm(partial, { force: true });
    throw error;
  }
}

export async function removeRuntimeFile(dataDir: string, pid = process.pid): Promise<void> {
  // Only our own: a second runtime started on the same directory does not erase the first's.
  const current = await readRuntimeFile(dataDir);
  if (current?.pid === pid) await rm(join(dataDir, RUNTIME_FILE), { force: true });
}

/** The file as written, or undefined when there is none (or it is unreadable). */
export async function readRuntimeFile(dataDir: string): Promise<RuntimeFile | undefined> {
  try {
    const value = JSON.parse(await readFile(join(dataDir, RUNTIME_FILE), "utf8")) as RuntimeFile;
    return typeof value.pid === "number" && value.endpoints?.dynamodb && value.endpoints.s3
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/** The running Gyre of a data directory: its file, if the process that wrote it is alive. */
export async function runningGyre(dataDir: string): Promise<RuntimeFile | undefined> {
  const file = await readRuntimeFile(dataDir);
  if (!file) return undefined;
  try {
    process.kill(file.pid, 0);
    return file;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === "EPERM" ? file : undefined;
  }
}
