/**
 * Backup and restore on AWS, where no archive is made: DynamoDB keeps the table's backups
 * (an on-demand backup here, beside the point-in-time recovery infra/storage.ts enables) and
 * S3 keeps every version of every object (bucket versioning, enabled in infra/storage.ts). A
 * backup is therefore an on-demand backup of the table plus a manifest naming, for every key,
 * the object version that was current when the table's backup was taken: together a point in
 * time of the whole installation.
 *
 * A restore makes a new stage's storage from it: the table restored from the backup under the
 * stage's name (`RestoreTableFromBackup`, then TTL and point-in-time recovery switched on, which
 * a restore does not carry over), a bucket for the stage with versioning, and every object of
 * the manifest copied into it at its version (`CopyObject` with `versionId`, content type and
 * metadata kept). The stack then adopts both on its first deploy (GYRE_ADOPT_TABLE and
 * GYRE_ADOPT_BUCKET, infra/storage.ts). The KMS key stays in the account: the new stage uses
 * the old stage's key (GYRE_ADOPT_DATA_KEY), without which sealed values would not open.
 *
 * A point-in-time restore needs no backup: the table restored as it was at a time of the last
 * 35 days (`RestoreTableToPointInTime`, from the recovery infra/storage.ts enables), and the
 * bucket's objects as they were then, found the way a backup's manifest is (versionsAt: for
 * each key the newest version at or before the time, unless that is a delete marker) and
 * copied the same way. The time must have passed, be within the table's recovery window
 * (`DescribeContinuousBackups`) and within the 35 days the bucket keeps old versions.
 *
 * The bucket side of a backup lasts as long as the bucket keeps old versions: a version
 * replaced or deleted (retention deletes too) expires NONCURRENT_VERSION_DAYS (35) days later
 * (infra/storage.ts). A restore copies every version still there and skips, by key, those gone
 * (NoSuchVersion / NoSuchKey), reporting them; any other failure ends it.
 *
 * These calls have no local stand-in: aws.test.ts checks them at the SDK boundary.
 */
import { createHash } from "node:crypto";
import {
  CreateBackupCommand,
  DescribeBackupCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  RestoreTableFromBackupCommand,
  RestoreTableToPointInTimeCommand,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  type BucketLocationConstraint,
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { GyreError } from "../error.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { NONCURRENT_VERSION_DAYS } from "../retention/periods.ts";

export const AWS_BACKUP_FORMAT = "gyre-aws-backup";
/** Where a backup's manifest is kept in the backed-up bucket too (no lifecycle rule touches it). */
export const BACKUP_MANIFEST_PREFIX = "backups/";
/** CopyObject copies at most 5 GiB in one call. */
export const MAX_COPY_BYTES = 5 * 1024 ** 3;

export const AwsManifestSchema = z.object({
  format: z.literal(AWS_BACKUP_FORMAT),
  version: z.literal(1),
  gyre_version: z.string(),
  stage: z.string().nullable(),
  created_at: z.string(),
  table: z.object({ name: z.string(), backup_arn: z.string(), backup_name: z.string() }),
  bucket: z.object({ name: z.string() }),
  /** The KMS key the table's sealed values were sealed with. */
  kms_key_id: z.string().nullable(),
  counts: z.object({ objects: z.number().int(), object_bytes: z.number().int() }),
  objects: z.array(
    z.object({
      key: z.string(),
      version_id: z.string(),
      size: z.number().int(),
      etag: z.string().optional(),
    }),
  ),
});
export type AwsManifest = z.infer<typeof AwsManifestSchema>;

export interface AwsClients {
  dynamodb: Pick<DynamoDBClient, "send">;
  s3: Pick<S3Client, "send">;
}

const timestamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\..*$/, "Z");

/**
 * The object versions current at `at` (epoch ms): for each key the newest version written at
 * or before it, unless that is a delete marker. Versions written later (output of a job that
 * was still running) are left out: the table's backup does not know them.
 */
export async function versionsAt(
  s3: AwsClients["s3"],
  bucket: string,
  at: number,
): Promise<AwsManifest["objects"]> {
  const latest = new Map<
    string,
    { version: string; time: number; size: number; etag?: string; deleted: boolean }
  >();
  const consider = (
    key: string,
    version: string,
    time: number,
    size: number,
    deleted: boolean,
    etag?: string,
  ) => {
    if (time > at) return;
    const known = latest.get(key);
    if (!known || time > known.time || (time === known.time && !deleted && known.deleted))
      latest.set(key, { version, time, size, deleted, ...(etag ? { etag } : {}) });
  };
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
    );
    for (const v of page.Versions ?? []) {
      if (!v.Key) continue;
      consider(v.Key, v.VersionId ?? "null", v.LastModified?.getTime() ?? 0, v.Size ?? 0, false, v.ETag);
    }
    for (const d of page.DeleteMarkers ?? []) {
      if (!d.Key) continue;
      consider(d.Key, d.VersionId ?? "null", d.LastModified?.getTime() ?? 0, 0, true);
    }
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
  return [...latest]
    .filter(([, v]) => !v.deleted)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, v]) => ({ key, version_id: v.version, size: v.size, ...(v.etag ? { etag: v.etag } : {}) }));
}

export interface AwsBackupOptions {
  tableName: string;
  bucketName: string;
  kmsKeyId?: string;
  stage?: string;
  gyreVersion: string;
  now?: () => number;
  log?: (line: string) => void;
}

/** Refuses a bucket that keeps no object versions: what `needed` says could not be done, and the fix. */
async function requireVersioning(s3: AwsClients["s3"], bucket: string, needed: string, then: string) {
  const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  if (versioning.Status !== "Enabled")
    throw new GyreError(
      "unprocessable",
      `Bucket ${bucket} does not keep object versions (versioning is ${versioning.Status ?? "off"}): ${needed}. ` +
        `Deploy the stage again (infra/storage.ts enables versioning), then ${then}.`,
    );
}

/** An on-demand backup of the table and the manifest of the bucket's versions at that moment. */
export async function createAwsBackup(clients: AwsClients, options: AwsBackupOptions): Promise<AwsManifest> {
  const log = options.log ?? (() => {});
  const now = options.now ?? Date.now;
  await requireVersioning(
    clients.s3,
    options.bucketName,
    "a backup could not name the objects as they were when the table was backed up",
    "back up",
  );
  const backupName = `gyre-${options.stage ?? "stage"}-${timestamp(now())}`.slice(0, 255);
  const created = await clients.dynamodb.send(
    new CreateBackupCommand({ TableName: options.tableName, BackupName: backupName }),
  );
  const arn = created.BackupDetails?.BackupArn;
  if (!arn) throw new GyreError("internal", `CreateBackup of ${options.tableName} answered no backup ARN.`);
  const at = created.BackupDetails?.BackupCreationDateTime?.getTime() ?? now();
  log(`table: on-demand backup ${arn}`);
  const objects = await versionsAt(clients.s3, options.bucketName, at);
  const manifest: AwsManifest = {
    format: AWS_BACKUP_FORMAT,
    version: 1,
    gyre_version: options.gyreVersion,
    stage: options.stage ?? null,
    created_at: new Date(at).toISOString(),
    table: { name: options.tableName, backup_arn: arn, backup_name: backupName },
    bucket: { name: options.bucketName },
    kms_key_id: options.kmsKeyId ?? null,
    counts: { objects: objects.length, object_bytes: objects.reduce((n, o) => n + o.size, 0) },
    objects,
  };
  log(`bucket: ${objects.length} object version(s) as of ${manifest.created_at}`);
  await clients.s3.send(
    new PutObjectCommand({
      Bucket: options.bucketName,
      Key: `${BACKUP_MANIFEST_PREFIX}${backupName}.json`,
      Body: JSON.stringify(manifest),
      ContentType: "application/json",
    }),
  );
  return manifest;
}

export const parseAwsManifest = (value: unknown) =>
  parseStored(AwsManifestSchema, value, "AWS backup manifest");

/**
 * The names a restore into `stage` gives the table and bucket, from what it restores (`source`:
 * the backup's ARN, or pointInTimeSource's): deterministic, so a rerun resumes.
 */
export function restoredNames(app: string, stage: string, source: string) {
  const clean = `${app}-${stage}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const suffix = createHash("sha256").update(source).digest("hex").slice(0, 8);
  return {
    table: `${clean}-table-${suffix}`.slice(0, 255),
    bucket: `${clean.slice(0, 40)}-restored-${suffix}`,
  };
}

/** What a restore made, as its settle step is given it. */
export interface AwsRestored {
  tableName: string;
  bucketName: string;
  copied: number;
  /**
   * The keys whose version (named in the manifest, or current at the point in time) is gone
   * (expired): not restored, in key order.
   */
  skipped: string[];
}

/** Where a restore goes and how it runs: the same for a backup and a point in time. */
export interface AwsRestoreTarget {
  stage: string;
  app?: string;
  region: string;
  /** How long to wait for the restored table to become ACTIVE (default an hour). */
  waitMs?: number;
  pollMs?: number;
  /** Copies in flight at once (default 16). */
  concurrency?: number;
  /** Settles the restored table's in-flight jobs (settle.ts) once the table and bucket are made. */
  settle?: (restored: AwsRestored) => Promise<{ interrupted: number }>;
  log?: (line: string) => void;
}

export interface AwsRestoreOptions extends AwsRestoreTarget {
  backupArn: string;
  manifest: AwsManifest;
}

export interface AwsRestoreReport extends AwsRestored {
  interrupted: number;
  kmsKeyId: string | null;
}

const named = (error: unknown, name: string) => error instanceof Error && error.name === name;
/** S3's answers for a source version that no longer exists (expired, or its key removed). */
const versionGone = (error: unknown) => named(error, "NoSuchVersion") || named(error, "NoSuchKey");

/** Refuses objects one CopyObject cannot copy, before anything is made. */
function refuseTooLarge(objects: AwsManifest["objects"]) {
  const tooLarge = objects.filter((o) => o.size > MAX_COPY_BYTES);
  if (tooLarge.length > 0)
    throw new GyreError(
      "unprocessable",
      `${tooLarge.length} object(s) are over 5 GiB, more than one CopyObject copies (${tooLarge[0]!.key}): copy them by hand with multipart copy.`,
    );
}

export async function restoreAwsBackup(
  clients: AwsClients,
  options: AwsRestoreOptions,
): Promise<AwsRestoreReport> {
  const { manifest } = options;
  if (manifest.table.backup_arn !== options.backupArn)
    throw new GyreError(
      "bad_request",
      `The manifest is of backup ${manifest.table.backup_arn}, not ${options.backupArn}: give the manifest that backup wrote.`,
    );
  refuseTooLarge(manifest.objects);
  const backup = await clients.dynamodb.send(new DescribeBackupCommand({ BackupArn: options.backupArn }));
  const status = backup.BackupDescription?.BackupDetails?.BackupStatus;
  if (status !== "AVAILABLE")
    throw new GyreError(
      "unprocessable",
      `Backup ${options.backupArn} is ${status ?? "unknown"}, not AVAILABLE yet.`,
    );
  const names = restoredNames(options.app ?? "gyre", options.stage, options.backupArn);
  const restored = await restoreInto(clients, options, {
    names,
    what: options.backupArn,
    restoreTable: () =>
      clients.dynamodb.send(
        new RestoreTableFromBackupCommand({ TargetTableName: names.table, BackupArn: options.backupArn }),
      ),
    sourceBucket: manifest.bucket.name,
    objects: manifest.objects,
  });
  return { ...restored, kmsKeyId: manifest.kms_key_id };
}

const DAY_MS = 86_400_000;

/** An ISO 8601 time with its zone (`Z` or an offset): a time without one would be this machine's local time. */
const ISO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(\.\d{1,9})?)?(Z|([+-])(\d{2}):?(\d{2}))$/i;

/** The time `gyre restore --aws --point-in-time` is given, as epoch ms. */
export function parsePointInTime(text: string): number {
  const match = ISO_TIME.exec(text.trim());
  const at = match ? Date.parse(text.trim()) : Number.NaN;
  // Its date and time as written, in its zone: Date.parse would take February 30th for March 2nd.
  const offsetMs = match?.[5]
    ? (match[5] === "-" ? -1 : 1) * (Number(match[6]) * 60 + Number(match[7])) * 60_000
    : 0;
  if (Number.isNaN(at) || new Date(at + offsetMs).toISOString().slice(0, 16) !== match?.[1])
    throw new GyreError(
      "bad_request",
      `--point-in-time ${JSON.stringify(text)} is not a time: give an ISO 8601 time with its zone, such as 2026-03-01T11:45:00Z.`,
    );
  return at;
}

/** What a point-in-time restore's names derive from: the source table and the time (a rerun resumes it). */
export const pointInTimeSource = (tableName: string, at: number) =>
  `${tableName}@${new Date(at).toISOString()}`;

export interface AwsPointInTimeOptions extends AwsRestoreTarget {
  /** The stage's table and bucket, restored as they were at `at`. */
  tableName: string;
  bucketName: string;
  /** The stage's KMS key (the restored stage adopts it). */
  kmsKeyId?: string;
  /** The time to restore, epoch ms. */
  at: number;
  now?: () => number;
}

/**
 * Refuses a time a point-in-time restore cannot reach: one that has not passed, one older than
 * the bucket keeps replaced versions, or one outside the table's recovery window.
 */
async function checkPointInTime(clients: AwsClients, options: AwsPointInTimeOptions) {
  const now = (options.now ?? Date.now)();
  const iso = (ms: number) => new Date(ms).toISOString();
  const at = iso(options.at);
  if (options.at > now)
    throw new GyreError(
      "bad_request",
      `The point in time ${at} is in the future (it is now ${iso(now)}): give a time that has passed.`,
    );
  const oldest = now - NONCURRENT_VERSION_DAYS * DAY_MS;
  if (options.at < oldest)
    throw new GyreError(
      "unprocessable",
      `The point in time ${at} is more than ${NONCURRENT_VERSION_DAYS} days ago: bucket ${options.bucketName} keeps a ` +
        `replaced or deleted object's old versions ${NONCURRENT_VERSION_DAYS} days (infra/storage.ts), so its objects as ` +
        `they were then are gone. Give a time after ${iso(oldest)}.`,
    );
  const described = await clients.dynamodb.send(
    new DescribeContinuousBackupsCommand({ TableName: options.tableName }),
  );
  const recovery = described.ContinuousBackupsDescription?.PointInTimeRecoveryDescription;
  if (recovery?.PointInTimeRecoveryStatus !== "ENABLED")
    throw new GyreError(
      "unprocessable",
      `Point-in-time recovery is ${recovery?.PointInTimeRecoveryStatus ?? "off"} on table ${options.tableName}: ` +
        "there is no point in time to restore. Deploy the stage again (infra/storage.ts enables it); it reaches back from then on.",
    );
  const earliest = recovery.EarliestRestorableDateTime?.getTime();
  if (earliest !== undefined && options.at < earliest)
    throw new GyreError(
      "unprocessable",
      `The point in time ${at} is before the earliest time table ${options.tableName} can be restored to, ` +
        `${iso(earliest)} (point-in-time recovery reaches back 35 days at most, and no further than when it was ` +
        `switched on): give a time at or after ${iso(earliest)}.`,
    );
  const latest = recovery.LatestRestorableDateTime?.getTime();
  if (latest !== undefined && options.at > latest)
    throw new GyreError(
      "unprocessable",
      `The point in time ${at} is after the latest time table ${options.tableName} can be restored to, ` +
        `${iso(latest)} (it trails the present by about five minutes): give a time at or before ${iso(latest)}, ` +
        "or run the restore again in a few minutes.",
    );
}

/**
 * The stage's table and bucket as they were at `options.at`, restored into `options.stage`
 * (see the top of this file): checked first (checkPointInTime, versioning, object sizes), so a
 * refused time makes nothing.
 */
export async function restoreAwsPointInTime(
  clients: AwsClients,
  options: AwsPointInTimeOptions,
): Promise<AwsRestoreReport> {
  await checkPointInTime(clients, options);
  const at = new Date(options.at);
  await requireVersioning(
    clients.s3,
    options.bucketName,
    `a restore could not copy the objects as they were at ${at.toISOString()}`,
    "restore a later time",
  );
  const objects = await versionsAt(clients.s3, options.bucketName, options.at);
  refuseTooLarge(objects);
  (options.log ?? (() => {}))(`bucket: ${objects.length} object version(s) as of ${at.toISOString()}`);
  const names = restoredNames(
    options.app ?? "gyre",
    options.stage,
    pointInTimeSource(options.tableName, options.at),
  );
  const restored = await restoreInto(clients, options, {
    names,
    what: `${options.tableName} as of ${at.toISOString()}`,
    restoreTable: () =>
      clients.dynamodb.send(
        new RestoreTableToPointInTimeCommand({
          SourceTableName: options.tableName,
          TargetTableName: names.table,
          RestoreDateTime: at,
        }),
      ),
    sourceBucket: options.bucketName,
    objects,
  });
  return { ...restored, kmsKeyId: options.kmsKeyId ?? null };
}

/**
 * What both restores do once they know what to restore: the table restored under `names.table`
 * (`restoreTable`; a table already there is an earlier run's, only waited for), made as
 * infra/storage.ts declares it, a versioned private bucket with every object copied in at its
 * version (a version gone is skipped, by key), then the settle.
 */
async function restoreInto(
  clients: AwsClients,
  options: AwsRestoreTarget,
  restore: {
    names: { table: string; bucket: string };
    /** What is restored, for the log. */
    what: string;
    restoreTable: () => Promise<unknown>;
    sourceBucket: string;
    objects: AwsManifest["objects"];
  },
): Promise<Omit<AwsRestoreReport, "kmsKeyId">> {
  const log = options.log ?? (() => {});
  const { names, objects } = restore;
  try {
    await restore.restoreTable();
    log(`table: restoring ${restore.what} into ${names.table}`);
  } catch (error) {
    // A rerun of the same restore: the table is there already (it is only waited for).
    if (!named(error, "TableAlreadyExistsException") && !named(error, "ResourceInUseException")) throw error;
    log(`table: ${names.table} exists already (an earlier run of this restore)`);
  }
  const deadline = Date.now() + (options.waitMs ?? 3_600_000);
  for (;;) {
    const table = await clients.dynamodb.send(new DescribeTableCommand({ TableName: names.table }));
    if (table.Table?.TableStatus === "ACTIVE") break;
    if (Date.now() > deadline)
      throw new GyreError(
        "unavailable",
        `Table ${names.table} is still ${table.Table?.TableStatus}: run the restore again later.`,
      );
    await new Promise((r) => setTimeout(r, options.pollMs ?? 10_000));
  }
  // What a restore does not carry over, as infra/storage.ts declares it (so the stack adopts it unchanged).
  try {
    await clients.dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: names.table,
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      }),
    );
  } catch (error) {
    // A rerun: TTL is on already.
    if (!(error instanceof Error && /already enabled/i.test(error.message))) throw error;
  }
  await clients.dynamodb.send(
    new UpdateContinuousBackupsCommand({
      TableName: names.table,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    }),
  );

  try {
    await clients.s3.send(
      new CreateBucketCommand({
        Bucket: names.bucket,
        ...(options.region === "us-east-1"
          ? {}
          : {
              CreateBucketConfiguration: { LocationConstraint: options.region as BucketLocationConstraint },
            }),
      }),
    );
  } catch (error) {
    if (!named(error, "BucketAlreadyOwnedByYou")) throw error;
  }
  await clients.s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: names.bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    }),
  );
  await clients.s3.send(
    new PutBucketVersioningCommand({ Bucket: names.bucket, VersioningConfiguration: { Status: "Enabled" } }),
  );
  let copied = 0;
  let next = 0;
  const skipped: string[] = [];
  const source = restore.sourceBucket;
  await Promise.all(
    Array.from({ length: Math.max(1, options.concurrency ?? 16) }, async () => {
      while (next < objects.length) {
        const object = objects[next++]!;
        try {
          await clients.s3.send(
            new CopyObjectCommand({
              Bucket: names.bucket,
              Key: object.key,
              CopySource: `${source}/${object.key.split("/").map(encodeURIComponent).join("/")}?versionId=${encodeURIComponent(object.version_id)}`,
              MetadataDirective: "COPY",
            }),
          );
        } catch (error) {
          if (!versionGone(error)) throw error;
          skipped.push(object.key);
          log(`bucket: skipped ${object.key}: its version ${object.version_id} is gone (expired)`);
          continue;
        }
        copied++;
        if (copied % 1000 === 0) log(`bucket: ${copied} of ${objects.length} object(s) copied`);
      }
    }),
  );
  log(
    `bucket: ${copied} object(s) copied into ${names.bucket}` +
      (skipped.length > 0 ? `, ${skipped.length} skipped (their versions are gone)` : ""),
  );
  const restored: AwsRestored = {
    tableName: names.table,
    bucketName: names.bucket,
    copied,
    skipped: skipped.sort(),
  };
  const settled = options.settle ? await options.settle(restored) : { interrupted: 0 };
  return { ...restored, interrupted: settled.interrupted };
}
