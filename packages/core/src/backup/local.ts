/**
 * The local runtime's backup and restore: the whole table and the whole bucket, through the
 * SDK clients (pointed at a running Gyre's stand-ins, or at stand-ins started over a stopped
 * data directory), into one archive (archive.ts) with a manifest (manifest.ts); and back, onto
 * a fresh data directory.
 *
 * Consistency (dynalite has no transactions, nothing is paused):
 * 1. The table is scanned first, every read strongly consistent: each item is as it was at
 *    some moment of the scan; the manifest records when the scan ran and the latest write
 *    time it saw.
 * 2. The bucket is listed and copied after the table. Every write Gyre makes to the bucket
 *    for a job (output, artifacts, test results, workspace layers) happens before the job's
 *    terminal status is written, so every job the table shows finished has all its objects in
 *    the archive. Objects of jobs still running may be partial; those jobs are settled by the
 *    restore (settle.ts), as the reference's clean-up of build records left half-done.
 * 3. A cache or workspace layer is visible only through its metadata object: a metadata
 *    object whose archive the copy does not hold is left out, so a restored cache is never a
 *    dangling one.
 *
 * Restore reads the archive twice: first to check every entry against the manifest's
 * SHA-256 (a damaged archive writes nothing), every object key (keys.ts: none may lead out of
 * the bucket) and the master key against its fingerprint, then to write. The second read is
 * checked too. The checksums detect damage, not tampering (archive.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
} from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeTableCommand,
  ScanCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, type GetObjectCommandOutput, PutObjectCommand } from "@aws-sdk/client-s3";
import { isMissing, listObjects } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { conflict, GyreError } from "../error.ts";
import { parseStored } from "../protocol/schema.ts";
import { MASTER_KEY_FILE } from "../secret/index.ts";
import { tableDefinition } from "../table-schema.ts";
import { ArchiveWriter, BackupArchiveError, readAll, readArchive, sha256Of } from "./archive.ts";
import { isInFlightJob, itemFromJson, itemToJson, type StoredItem, writeTimeOf } from "./items.ts";
import { checkObjectKeys, objectKeyProblem } from "./keys.ts";
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  countSealed,
  KEY_ENTRY,
  keyFingerprint,
  MANIFEST_ENTRY,
  type Manifest,
  type ManifestEntry,
  ManifestSchema,
  type ObjectEntry,
} from "./manifest.ts";

/** Items per table entry, and its size bound: entries stay small enough to hold in memory. */
const ITEMS_PER_ENTRY = 1000;
const BYTES_PER_ENTRY = 8 * 1024 * 1024;

const iso = (ms: number) => new Date(ms).toISOString();
const entryName = (prefix: string, n: number) => `${prefix}/${String(n).padStart(6, "0")}`;

export interface LocalBackupOptions {
  /** The installation's data directory (its master key is read from there). */
  dataDir: string;
  /** Where the archive goes (written beside it first, moved there when complete). */
  out: string;
  /** Replace a file already at `out` (without it, one there, even made meanwhile, is refused). */
  replace?: boolean;
  /** Put the master key in the archive (without it, sealed values open only with the original key file). */
  includeKey?: boolean;
  /** The stand-ins are a running Gyre's (recorded in the manifest). */
  whileRunning: boolean;
  gyreVersion: string;
  log?: (line: string) => void;
}

/** Every object under `prefix` (aws/s3.ts listObjects), its time in epoch milliseconds. */
export async function* listBucket(
  gyre: Gyre,
  prefix = "",
): AsyncGenerator<{ key: string; size: number; lastModified: number }> {
  for await (const o of listObjects(gyre, prefix))
    yield { key: o.key, size: o.size, lastModified: Date.parse(o.lastModified) };
}

/** The archive a metadata object commits (caches/...tar.gz.json, workspaces/.../N.json), if it is one. */
export function committedArchiveOf(key: string): string | undefined {
  if (key.startsWith("caches/") && key.endsWith(".tar.gz.json")) return key.slice(0, -".json".length);
  const layer = /^(workspaces\/.+\/\d+)\.json$/.exec(key);
  return layer ? `${layer[1]}.tar.gz` : undefined;
}

async function readKeyFile(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The archive at `out` exists already (and was not to be replaced). */
const archiveExists = (out: string) =>
  conflict(`${out} exists already: give another --out, or --force to replace it.`);

/**
 * Moves the finished archive into place: over what is at `out` with `replace`, else only when
 * nothing is there, checked by the file system itself (a hard link fails on an existing name),
 * so that a file made since the caller looked is not overwritten either.
 */
async function moveInto(partial: string, out: string, replace: boolean): Promise<void> {
  if (replace) return rename(partial, out);
  try {
    await link(partial, out);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw archiveExists(out);
    // A file system without hard links: look, then rename.
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
    if (await present(out)) throw archiveExists(out);
    return rename(partial, out);
  }
  await rm(partial, { force: true });
}

/** Writes a backup of the installation `gyre` reaches into `options.out`; answers its manifest. */
export async function writeLocalBackup(gyre: Gyre, options: LocalBackupOptions): Promise<Manifest> {
  const log = options.log ?? (() => {});
  const createdMs = Date.now();
  // A new file (never one already there, nor through a link), named unpredictably.
  const partial = `${options.out}.partial-${process.pid}-${randomBytes(6).toString("hex")}`;
  const writer = await ArchiveWriter.open(partial, createdMs);
  try {
    const entries: ManifestEntry[] = [];
    const counts = { items: 0, objects: 0, object_bytes: 0, sealed_values: 0, in_flight_jobs: 0 };
    let highest: number | null = null;

    // 1. The table, strongly consistent.
    let lines: string[] = [];
    let lineBytes = 0;
    let lineItems = 0;
    const flush = async () => {
      if (lines.length === 0) return;
      const body = Buffer.from(`${lines.join("\n")}\n`, "utf8");
      const written = await writer.add(`${entryName("table", entries.length + 1)}.jsonl`, body.length, body);
      entries.push({ kind: "table", items: lineItems, ...written });
      lines = [];
      lineBytes = 0;
      lineItems = 0;
    };
    let start: StoredItem | undefined;
    do {
      const page = await gyre.aws.dynamo.send(
        new ScanCommand({
          TableName: gyre.resources.tableName,
          ConsistentRead: true,
          Limit: 500,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of (page.Items ?? []) as StoredItem[]) {
        const json = itemToJson(item);
        const line = JSON.stringify(json);
        counts.items++;
        counts.sealed_values += countSealed(json);
        if (isInFlightJob(item)) counts.in_flight_jobs++;
        const at = writeTimeOf(item);
        if (at !== undefined && (highest === null || at > highest)) highest = at;
        lines.push(line);
        lineItems++;
        lineBytes += line.length + 1;
        if (lineItems >= ITEMS_PER_ENTRY || lineBytes >= BYTES_PER_ENTRY) await flush();
      }
      start = page.LastEvaluatedKey as StoredItem | undefined;
    } while (start);
    await flush();
    const scannedMs = Date.now();
    log(`table: ${counts.items} item(s)`);

    // 2. The bucket, after the table. Metadata objects wait until their archives are known.
    let objectNumber = 0;
    const copied = new Set<string>();
    const metas: { key: string; body: Buffer; entry: Omit<ObjectEntry, "name" | "bytes" | "sha256"> }[] = [];
    const copy = async (key: string): Promise<boolean> => {
      // Not one Gyre writes (someone else's object in the bucket): a restore would refuse the archive.
      const problem = objectKeyProblem(key);
      if (problem) {
        log(`bucket: left out ${JSON.stringify(key)}: a restore would refuse its key (${problem})`);
        return false;
      }
      let got: GetObjectCommandOutput;
      try {
        got = await gyre.aws.s3.send(new GetObjectCommand({ Bucket: gyre.resources.bucketName, Key: key }));
      } catch (error) {
        if (isMissing(error)) return false; // deleted since the listing (a cache cleared, a sweep)
        throw error;
      }
      const described: Omit<ObjectEntry, "name" | "bytes" | "sha256"> = {
        kind: "object",
        key,
        ...(got.ContentType ? { content_type: got.ContentType } : {}),
        ...(got.ContentEncoding ? { content_encoding: got.ContentEncoding } : {}),
        ...(got.ContentDisposition ? { content_disposition: got.ContentDisposition } : {}),
        ...(got.CacheControl ? { cache_control: got.CacheControl } : {}),
        ...(got.Metadata && Object.keys(got.Metadata).length > 0 ? { metadata: got.Metadata } : {}),
        ...(got.LastModified ? { last_modified: got.LastModified.toISOString() } : {}),
      };
      const body = (got.Body as AsyncIterable<Uint8Array> | undefined) ?? (async function* () {})();
      if (committedArchiveOf(key)) {
        metas.push({ key, body: await readAll(body), entry: described });
        return true;
      }
      const written = await writer.add(entryName("bucket", ++objectNumber), got.ContentLength ?? 0, body);
      entries.push({ ...described, ...written });
      copied.add(key);
      counts.objects++;
      counts.object_bytes += written.bytes;
      return true;
    };
    for await (const object of listBucket(gyre)) await copy(object.key);
    // A cache committed while the listing passed it: its archive sorts before its metadata.
    for (const meta of metas) {
      const archive = committedArchiveOf(meta.key)!;
      if (!copied.has(archive) && !(await copy(archive))) {
        log(`bucket: left out ${meta.key}: its archive is gone or left out`);
        continue;
      }
      const written = await writer.add(entryName("bucket", ++objectNumber), meta.body.length, meta.body);
      entries.push({ ...meta.entry, ...written });
      counts.objects++;
      counts.object_bytes += written.bytes;
    }
    const listedMs = Date.now();
    log(`bucket: ${counts.objects} object(s), ${counts.object_bytes} byte(s)`);

    // 3. The master key: named always, included only when asked.
    const key = await readKeyFile(join(options.dataDir, MASTER_KEY_FILE));
    if (options.includeKey && !key && counts.sealed_values > 0)
      throw new GyreError(
        "bad_request",
        `--include-key: ${join(options.dataDir, MASTER_KEY_FILE)} is missing, yet the table holds ${counts.sealed_values} sealed value(s).`,
      );
    if (options.includeKey && key) {
      const written = await writer.add(KEY_ENTRY, key.length, key, 0o600);
      entries.push({ kind: "key", name: KEY_ENTRY, bytes: written.bytes, sha256: written.sha256 });
    }

    const manifest: Manifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_FORMAT_VERSION,
      gyre_version: options.gyreVersion,
      created_at: iso(createdMs),
      completed_at: iso(Date.now()),
      source: {
        runtime: "local",
        data_dir: options.dataDir,
        table: gyre.resources.tableName,
        bucket: gyre.resources.bucketName,
        while_running: options.whileRunning,
      },
      consistency: {
        table_scan_started_at: iso(createdMs),
        table_scan_finished_at: iso(scannedMs),
        bucket_listed_at: iso(listedMs),
        highest_item_write_ms: highest,
      },
      counts,
      key: { included: Boolean(options.includeKey && key), fingerprint: key ? keyFingerprint(key) : null },
      entries,
    };
    const body = Buffer.from(JSON.stringify(manifest, null, 2), "utf8");
    await writer.add(MANIFEST_ENTRY, body.length, body);
    await writer.finish();
    await moveInto(partial, options.out, Boolean(options.replace));
    return manifest;
  } catch (error) {
    await writer.abort().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
}

/** A master key file is 32 bytes; an entry far larger is not one. */
const MAX_KEY_ENTRY_BYTES = 4096;

/**
 * Checks the archive at `path` against its manifest: every entry there and listed, each
 * SHA-256 and size as listed, every object key one a restore may write (keys.ts), and the
 * master key, when the archive holds it, the one the manifest's fingerprint names. Writes
 * nothing; throws `BackupArchiveError` saying what is wrong.
 */
export async function verifyArchive(path: string): Promise<Manifest> {
  const seen = new Map<string, { sha256: string; bytes: number }>();
  let manifest: Manifest | undefined;
  let keyFound: string | undefined;
  await readArchive(path, async (entry) => {
    if (seen.has(entry.name) || (entry.name === MANIFEST_ENTRY && manifest))
      throw new BackupArchiveError(`${path} holds ${entry.name} twice: it is not a Gyre backup.`);
    if (entry.name === MANIFEST_ENTRY) {
      const text = (await readAll(entry.body)).toString("utf8");
      try {
        manifest = parseStored(ManifestSchema, JSON.parse(text), "backup manifest");
      } catch (error) {
        throw new BackupArchiveError(
          `${path}: its manifest is unreadable (${error instanceof Error ? error.message : String(error)}).`,
        );
      }
      return;
    }
    if (entry.name === KEY_ENTRY) {
      if (entry.size > MAX_KEY_ENTRY_BYTES)
        throw new BackupArchiveError(
          `${path}: its ${KEY_ENTRY} is ${entry.size} bytes: it is not a master key.`,
        );
      const key = await readAll(entry.body);
      keyFound = keyFingerprint(key);
      seen.set(entry.name, { sha256: createHash("sha256").update(key).digest("hex"), bytes: key.length });
      return;
    }
    seen.set(entry.name, await sha256Of(entry.body));
  });
  if (!manifest)
    throw new BackupArchiveError(`${path} has no ${MANIFEST_ENTRY}: it is not a complete Gyre backup.`);
  checkObjectKeys(manifest, path);
  const keyListed = manifest.entries.some((e) => e.kind === "key");
  if (manifest.key.included !== keyListed)
    throw new BackupArchiveError(
      `${path}: its manifest says the master key is ${manifest.key.included ? "" : "not "}in the archive, but its entries ${keyListed ? "list" : "do not list"} ${KEY_ENTRY}.`,
    );
  if (keyFound !== undefined && keyFound !== manifest.key.fingerprint)
    throw new BackupArchiveError(
      `${path}: the master key it holds (${KEY_ENTRY}) is not the one its manifest names (its fingerprint differs): ` +
        "its sealed values would not open with it. Nothing was restored.",
    );
  for (const entry of manifest.entries) {
    const found = seen.get(entry.name);
    if (!found) throw new BackupArchiveError(`${path} is missing ${entry.name}, which its manifest lists.`);
    if (found.sha256 !== entry.sha256 || found.bytes !== entry.bytes)
      throw new BackupArchiveError(
        `${path} is damaged: ${entry.name}${entry.kind === "object" ? ` (${entry.key})` : ""} does not match its checksum in the manifest.`,
      );
    seen.delete(entry.name);
  }
  const extra = [...seen.keys()][0];
  if (extra) throw new BackupArchiveError(`${path} holds ${extra}, which its manifest does not list.`);
  return manifest;
}

/** What a restore needs to know about the master key, decided before anything is written. */
export type KeyPlan =
  | { kind: "none" }
  | { kind: "present" }
  | { kind: "write"; key: Buffer }
  | { kind: "from-archive" };

/**
 * Where the key for the archive's sealed values comes from: one already in the target data
 * directory, a key file given, or the archive itself (--include-key). None of these with
 * sealed values in the archive is a refusal: they would not open.
 */
export async function planKey(
  manifest: Manifest,
  dataDir: string,
  keyFile: string | undefined,
): Promise<KeyPlan> {
  const wanted = manifest.key.fingerprint;
  const target = join(dataDir, MASTER_KEY_FILE);
  const present = await readKeyFile(target);
  const given = keyFile ? await readFile(keyFile) : undefined;
  if (wanted === null) return present || !given ? { kind: "none" } : { kind: "write", key: given };
  const wrong = (where: string) =>
    new GyreError(
      "bad_request",
      `${where} is not the master key this backup's sealed values were sealed with (its fingerprint differs): they would not open with it.`,
    );
  if (present) {
    if (keyFingerprint(present) !== wanted) throw wrong(target);
    return { kind: "present" };
  }
  if (given) {
    if (keyFingerprint(given) !== wanted) throw wrong(keyFile!);
    return { kind: "write", key: given };
  }
  if (manifest.key.included) return { kind: "from-archive" };
  throw new GyreError(
    "bad_request",
    `This backup was made without --include-key and no master key was given: its ${manifest.counts.sealed_values} sealed value(s) ` +
      "(project and context environment variables, webhook secrets, settings secrets) would not open. " +
      `Give the original installation's key with --key <its master.key>, or copy it to ${target} first, or back up again with --include-key.`,
  );
}

async function writeKey(dataDir: string, key: Buffer): Promise<void> {
  const handle = await open(
    join(dataDir, MASTER_KEY_FILE),
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    0o600,
  );
  try {
    await handle.writeFile(key);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates the table as the runtime does (table-schema.ts) and waits until it is ACTIVE. */
export async function createTable(gyre: Gyre): Promise<void> {
  const raw = gyre.aws.dynamo;
  await raw.send(new CreateTableCommand(tableDefinition(gyre.resources.tableName)));
  for (const deadline = Date.now() + 30_000; ; ) {
    const out = await raw.send(new DescribeTableCommand({ TableName: gyre.resources.tableName }));
    if (out.Table?.TableStatus === "ACTIVE") return;
    if (Date.now() > deadline) throw new Error(`Table ${gyre.resources.tableName} did not become ACTIVE.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function writeItems(gyre: Gyre, items: StoredItem[]): Promise<void> {
  const table = gyre.resources.tableName;
  for (let i = 0; i < items.length; i += 25) {
    let requests: WriteRequest[] = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; requests.length > 0; round++) {
      if (round === 10)
        throw new Error(`DynamoDB left ${requests.length} item(s) unwritten after ${round} rounds.`);
      if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** round)));
      const out = await gyre.aws.dynamo.send(
        new BatchWriteItemCommand({ RequestItems: { [table]: requests } }),
      );
      requests = out.UnprocessedItems?.[table] ?? [];
    }
  }
}

export interface LocalRestoreReport {
  items: number;
  objects: number;
  key: KeyPlan["kind"];
}

/**
 * Writes a verified archive (verifyArchive) into the empty installation `gyre` reaches: the
 * table (created here), the bucket, and the master key per `key`. Each entry is checked again
 * as it is written; a mismatch throws (the caller removes what was written).
 */
export async function restoreLocalBackup(
  gyre: Gyre,
  path: string,
  manifest: Manifest,
  options: { dataDir: string; key: KeyPlan; log?: (line: string) => void },
): Promise<LocalRestoreReport> {
  const log = options.log ?? (() => {});
  // verifyArchive checked them; checked again here, before anything is written, for any caller.
  checkObjectKeys(manifest, path);
  const byName = new Map(manifest.entries.map((e) => [e.name, e]));
  const report: LocalRestoreReport = { items: 0, objects: 0, key: options.key.kind };
  if (options.key.kind === "write") await writeKey(options.dataDir, options.key.key);
  await createTable(gyre);
  await readArchive(path, async (entry) => {
    if (entry.name === MANIFEST_ENTRY) return;
    const listed = byName.get(entry.name);
    if (!listed) throw new BackupArchiveError(`${path} changed since it was checked: ${entry.name} is new.`);
    const hash = createHash("sha256");
    const checked = async function* () {
      for await (const chunk of entry.body) {
        hash.update(chunk);
        yield chunk;
      }
    };
    const same = () => {
      if (hash.digest("hex") !== listed.sha256)
        throw new BackupArchiveError(`${path} changed since it was checked: ${entry.name} differs.`);
    };
    if (listed.kind === "table") {
      const text = (await readAll(checked())).toString("utf8");
      same();
      const items = text
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line, i) => itemFromJson(JSON.parse(line), `${entry.name}:${i + 1}`));
      await writeItems(gyre, items);
      report.items += items.length;
      return;
    }
    if (listed.kind === "key") {
      const key = await readAll(checked());
      same();
      if (keyFingerprint(key) !== manifest.key.fingerprint)
        throw new BackupArchiveError(
          `${path}: the master key it holds is not the one its manifest names (its fingerprint differs).`,
        );
      if (options.key.kind === "from-archive") await writeKey(options.dataDir, key);
      return;
    }
    await gyre.aws.s3.send(
      new PutObjectCommand({
        Bucket: gyre.resources.bucketName,
        Key: listed.key,
        Body: Readable.from(checked()),
        ContentLength: listed.bytes,
        ...(listed.content_type ? { ContentType: listed.content_type } : {}),
        ...(listed.content_encoding ? { ContentEncoding: listed.content_encoding } : {}),
        ...(listed.content_disposition ? { ContentDisposition: listed.content_disposition } : {}),
        ...(listed.cache_control ? { CacheControl: listed.cache_control } : {}),
        ...(listed.metadata ? { Metadata: listed.metadata } : {}),
      }),
    );
    same();
    report.objects++;
    if (report.objects % 500 === 0) log(`bucket: ${report.objects} object(s) written`);
  });
  if (report.items !== manifest.counts.items || report.objects !== manifest.counts.objects)
    throw new BackupArchiveError(
      `${path}: restored ${report.items} item(s) and ${report.objects} object(s), but the manifest lists ${manifest.counts.items} and ${manifest.counts.objects}.`,
    );
  return report;
}

/** True when `path` exists and is a directory with nothing in it but, at most, a master key. */
export async function isFreshDataDir(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isDirectory()) return false;
  } catch {
    return true; // missing: it will be made
  }
  return (await readdir(path)).every((name) => name === MASTER_KEY_FILE);
}

/**
 * True when `path` holds what only a Gyre data directory holds: `dynamodb/` (the table's
 * store) or `master.key`. `gyre restore --force` replaces nothing in any other directory.
 */
export async function isGyreDataDir(path: string): Promise<boolean> {
  const kind = (name: string) => lstat(join(path, name)).catch(() => undefined);
  const [store, key] = await Promise.all([kind("dynamodb"), kind(MASTER_KEY_FILE)]);
  return Boolean(store?.isDirectory() || key?.isFile());
}

/**
 * A new, empty directory (0700) to restore into before the result replaces `dataDir`: beside
 * it, on the same file system, so that renames move the result into place; inside it when
 * `dataDir` is a file system of its own (a mount point).
 */
export async function stagingDirFor(dataDir: string): Promise<string> {
  const parent = dirname(dataDir);
  await mkdir(parent, { recursive: true });
  const own = await stat(dataDir).catch(() => undefined);
  const base = own && own.dev !== (await stat(parent)).dev ? dataDir : parent;
  return mkdtemp(join(base, `.${basename(dataDir)}.restore-`));
}

const present = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/**
 * Puts what `staging` holds in place of `dataDir`'s entries of the same names and of those in
 * `replaced` (moved aside first, removed once the new ones are in). When `dataDir` does not
 * exist, `staging` simply becomes it. When a rename fails, every entry moved is moved back, so
 * that `dataDir` is as it was, `staging` is removed and the error is thrown; should a move back
 * fail too, nothing more is removed and the error says where the old and new entries are.
 * Entries of `dataDir` not named (builder-ca.pem, git-ca/, anything of the operator's) stay.
 */
export async function replaceDataDir(
  staging: string,
  dataDir: string,
  replaced: readonly string[],
  fs: { rename: (from: string, to: string) => Promise<void> } = { rename },
): Promise<void> {
  if (!(await present(dataDir))) {
    try {
      await fs.rename(staging, dataDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return;
  }
  let incoming: string[];
  let aside: string;
  try {
    incoming = await readdir(staging);
    aside = await mkdtemp(join(dirname(staging), `.${basename(dataDir)}.previous-`));
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const movedAside: string[] = [];
  const movedIn: string[] = [];
  try {
    for (const name of new Set([...replaced, ...incoming])) {
      if (!(await present(join(dataDir, name)))) continue;
      await fs.rename(join(dataDir, name), join(aside, name));
      movedAside.push(name);
    }
    for (const name of incoming) {
      await fs.rename(join(staging, name), join(dataDir, name));
      movedIn.push(name);
    }
  } catch (error) {
    const stuck: string[] = [];
    for (const name of movedIn.reverse())
      await fs.rename(join(dataDir, name), join(staging, name)).catch(() => stuck.push(name));
    for (const name of movedAside.reverse())
      await fs.rename(join(aside, name), join(dataDir, name)).catch(() => stuck.push(name));
    const reason = error instanceof Error ? error.message : String(error);
    if (stuck.length > 0)
      throw new Error(
        `Moving the restored data into ${dataDir} failed (${reason}), and so did moving back ${stuck.join(", ")}: ` +
          `what ${dataDir} held before is in ${aside}, the restored data in ${staging}. Move them by hand.`,
      );
    await rmdir(aside).catch(() => undefined);
    await rm(staging, { recursive: true, force: true });
    throw new Error(`Moving the restored data into ${dataDir} failed (${reason}): ${dataDir} is as it was.`);
  }
  await rm(aside, { recursive: true, force: true });
  await rm(staging, { recursive: true, force: true });
}
