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
  DescribeTableCommand,
  type DynamoDBClient,
  RestoreTableFromBackupCommand,
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

/** An on-demand backup of the table and the manifest of the bucket's versions at that moment. */
export async function createAwsBackup(clients: AwsClients, options: AwsBackupOptions): Promise<AwsManifest> {
  const log = options.log ?? (() => {});
  const now = options.now ?? Date.now;
  const versioning = await clients.s3.send(new GetBucketVersioningCommand({ Bucket: options.bucketName }));
  if (versioning.Status !== "Enabled")
    throw new GyreError(
      "unprocessable",
      `Bucket ${options.bucketName} does not keep object versions (versioning is ${versioning.Status ?? "off"}): ` +
        "a backup could not name the objects as they were when the table was backed up. Deploy the stage again " +
        "(infra/storage.ts enables versioning), then back up.",
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

/** The names a restore into `stage` gives the table and bucket (deterministic: a rerun resumes). */
export function restoredNames(app: string, stage: string, backupArn: string) {
  const clean = `${app}-${stage}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  const suffix = createHash("sha256").update(backupArn).digest("hex").slice(0, 8);
  return {
    table: `${clean}-table-${suffix}`.slice(0, 255),
    bucket: `${clean.slice(0, 40)}-restored-${suffix}`,
  };
}

export interface AwsRestoreOptions {
  backupArn: string;
  manifest: AwsManifest;
  stage: string;
  app?: string;
  region: string;
  /** How long to wait for the restored table to become ACTIVE (default an hour). */
  waitMs?: number;
  pollMs?: number;
  /** Copies in flight at once (default 16). */
  concurrency?: number;
  /** Settles the restored table's in-flight jobs (settle.ts), given its name. */
  settle?: (tableName: string) => Promise<{ interrupted: number }>;
  log?: (line: string) => void;
}

export interface AwsRestoreReport {
  tableName: string;
  bucketName: string;
  copied: number;
  /** The keys whose version named in the manifest is gone (expired): not restored, in key order. */
  skipped: string[];
  interrupted: number;
  kmsKeyId: string | null;
}

const named = (error: unknown, name: string) => error instanceof Error && error.name === name;
/** S3's answers for a source version that no longer exists (expired, or its key removed). */
const versionGone = (error: unknown) => named(error, "NoSuchVersion") || named(error, "NoSuchKey");

export async function restoreAwsBackup(
  clients: AwsClients,
  options: AwsRestoreOptions,
): Promise<AwsRestoreReport> {
  const log = options.log ?? (() => {});
  const { manifest } = options;
  if (manifest.table.backup_arn !== options.backupArn)
    throw new GyreError(
      "bad_request",
      `The manifest is of backup ${manifest.table.backup_arn}, not ${options.backupArn}: give the manifest that backup wrote.`,
    );
  const tooLarge = manifest.objects.filter((o) => o.size > MAX_COPY_BYTES);
  if (tooLarge.length > 0)
    throw new GyreError(
      "unprocessable",
      `${tooLarge.length} object(s) are over 5 GiB, more than one CopyObject copies (${tooLarge[0]!.key}): copy them by hand with multipart copy.`,
    );
  const backup = await clients.dynamodb.send(new DescribeBackupCommand({ BackupArn: options.backupArn }));
  const status = backup.BackupDescription?.BackupDetails?.BackupStatus;
  if (status !== "AVAILABLE")
    throw new GyreError(
      "unprocessable",
      `Backup ${options.backupArn} is ${status ?? "unknown"}, not AVAILABLE yet.`,
    );

  const names = restoredNames(options.app ?? "gyre", options.stage, options.backupArn);
  try {
    await clients.dynamodb.send(
      new RestoreTableFromBackupCommand({ TargetTableName: names.table, BackupArn: options.backupArn }),
    );
    log(`table: restoring ${options.backupArn} into ${names.table}`);
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
  const source = manifest.bucket.name;
  await Promise.all(
    Array.from({ length: Math.max(1, options.concurrency ?? 16) }, async () => {
      while (next < manifest.objects.length) {
        const object = manifest.objects[next++]!;
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
        if (copied % 1000 === 0) log(`bucket: ${copied} of ${manifest.objects.length} object(s) copied`);
      }
    }),
  );
  log(
    `bucket: ${copied} object(s) copied into ${names.bucket}` +
      (skipped.length > 0 ? `, ${skipped.length} skipped (their versions are gone)` : ""),
  );
  const settled = options.settle ? await options.settle(names.table) : { interrupted: 0 };
  return {
    tableName: names.table,
    bucketName: names.bucket,
    copied,
    skipped: skipped.sort(),
    interrupted: settled.interrupted,
    kmsKeyId: manifest.kms_key_id,
  };
}
