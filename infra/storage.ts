/**
 * Where Gyre keeps its state: one DynamoDB table (the source of truth), one private bucket
 * (artifacts, caches, workspaces, step output) and the KMS key for envelope encryption.
 */
import { LinkNames } from "../packages/core/src/resources.ts";
import {
  NONCURRENT_VERSION_DAYS,
  RETENTION_DEFAULTS,
  RETENTION_PREFIXES,
  type RetainedKind,
} from "../packages/core/src/retention/periods.ts";
import { GLOBAL_INDEXES } from "../packages/core/src/table-schema.ts";
import { lambdaDefaults } from "./function.ts";
import { dataKeyGrants } from "./policies.ts";

/**
 * A stage restored from a backup (`gyre restore --aws`, packages/core/src/backup/aws.ts)
 * adopts the table, bucket and KMS key the restore names, on its first deploy:
 *   GYRE_ADOPT_TABLE=... GYRE_ADOPT_BUCKET=... GYRE_ADOPT_DATA_KEY=... npx sst deploy --stage <new>
 * (Pulumi imports them into the stage's state; later deploys need the variables no more.)
 */
const adopt = {
  table: process.env.GYRE_ADOPT_TABLE || undefined,
  bucket: process.env.GYRE_ADOPT_BUCKET || undefined,
  dataKey: process.env.GYRE_ADOPT_DATA_KEY || undefined,
};

/**
 * Single table, keyed as packages/core/src/table.ts describes; the indexes come from the
 * same list the local runtime creates its table from. `expiresAt` is TTL, read as a filter
 * too (TTL deletes late). Point-in-time recovery is on (35 days), beside the on-demand
 * backups `gyre backup --aws` takes.
 */
export const table = new sst.aws.Dynamo(LinkNames.table, {
  fields: Object.fromEntries(
    ["pk", "sk", ...GLOBAL_INDEXES.flatMap((i) => [`${i}pk`, `${i}sk`])].map((f) => [f, "string" as const]),
  ),
  primaryIndex: { hashKey: "pk", rangeKey: "sk" },
  globalIndexes: Object.fromEntries(
    GLOBAL_INDEXES.map((i) => [i, { hashKey: `${i}pk`, rangeKey: `${i}sk` }]),
  ),
  ttl: "expiresAt",
  deletionProtection: $app.removal !== "remove",
  transform: {
    table: (args, opts) => {
      args.pointInTimeRecovery = { enabled: true };
      if (adopt.table) {
        args.name = adopt.table;
        opts.import = adopt.table;
      }
    },
  },
});

/**
 * Private: no public access; objects reach browsers and builders only through presigned URLs,
 * so CORS allows reads and nothing else. Versioned: a backup (`gyre backup --aws`) names the
 * version of every object current when the table was backed up, and a restore copies those.
 */
export const bucket = new sst.aws.Bucket(LinkNames.bucket, {
  cors: { allowMethods: ["GET", "HEAD"] },
  versioning: true,
  transform: {
    bucket: (args, opts) => {
      if (adopt.bucket) {
        args.bucket = adopt.bucket;
        opts.import = adopt.bucket;
      }
    },
  },
});

/** Days a kind is kept on this stage: GYRE_RETENTION_<KIND>_DAYS at deploy time, or the default. */
function retentionDays(kind: RetainedKind): number {
  const given = process.env[`GYRE_RETENTION_${kind.toUpperCase()}_DAYS`];
  if (given === undefined || given === "") return RETENTION_DEFAULTS[kind];
  const days = Number(given);
  if (!Number.isInteger(days) || days < 0)
    throw new Error(
      `GYRE_RETENTION_${kind.toUpperCase()}_DAYS must be a whole number of days (0: kept for ever).`,
    );
  return days;
}

/**
 * Retention (packages/core/src/retention): step output, artifacts and caches expire by prefix
 * after their periods (the same defaults as the settings `retention_*_days`, which the API
 * applies to what it shows; give the stage the same numbers with GYRE_RETENTION_*_DAYS). With
 * versioning, an expired or deleted object's older versions are kept NONCURRENT_VERSION_DAYS
 * (a backup's manifest can be restored that long), then go; so do leftover delete markers and
 * unfinished multipart uploads.
 */
export const bucketLifecycle = new aws.s3.BucketLifecycleConfiguration("BucketRetention", {
  bucket: bucket.name,
  rules: [
    ...(["output", "artifacts", "caches"] as const)
      .filter((kind) => retentionDays(kind) > 0)
      .map((kind) => ({
        id: `expire-${kind}`,
        status: "Enabled",
        filter: { prefix: RETENTION_PREFIXES[kind] },
        expiration: { days: retentionDays(kind) },
      })),
    {
      id: "noncurrent-versions",
      status: "Enabled",
      filter: { prefix: "" },
      noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
    },
    {
      id: "delete-markers",
      status: "Enabled",
      filter: { prefix: "" },
      expiration: { expiredObjectDeleteMarker: true },
    },
  ],
});

/**
 * Customer-managed key; retained with the data it protects when the stage retains data. A
 * restored stage uses the key of the stage it was backed up from (GYRE_ADOPT_DATA_KEY): the
 * sealed values in its table open with that key only.
 */
export const dataKey = adopt.dataKey
  ? aws.kms.Key.get("DataEncryptionKey", adopt.dataKey)
  : new aws.kms.Key(
      "DataEncryptionKey",
      {
        description: `Gyre ${$app.stage}: envelope encryption of secrets`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      },
      { retainOnDelete: $app.removal !== "remove" },
    );

new aws.kms.Alias("DataEncryptionKeyAlias", {
  name: `alias/${$app.name}-${$app.stage}-data`,
  targetKeyId: dataKey.keyId,
});

export const dataKeyLink = new sst.Linkable(LinkNames.dataKey, {
  properties: { id: dataKey.keyId },
  include: dataKeyGrants(dataKey.arn).map((grant) => sst.aws.permission(grant)),
});

/**
 * Every hour: the audit log's hourly files into the bucket (`audit-logs/audit_log/v1/...`),
 * parked records put back into the table first (packages/core/src/audit/delivery.ts). It reads
 * the table and writes the bucket, nothing else.
 */
export const auditFiles = new sst.aws.CronV2("AuditFiles", {
  schedule: "rate(1 hour)",
  function: {
    ...lambdaDefaults,
    handler: "packages/functions/src/audit-files.handler",
    timeout: "5 minutes",
    link: [table, bucket],
  },
});
