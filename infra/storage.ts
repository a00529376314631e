/**
 * Where Gyre keeps its state: one DynamoDB table (the source of truth), one private bucket
 * (artifacts, caches, workspaces, step output) and the KMS key for envelope encryption.
 */
import { LinkNames } from "../packages/core/src/resources.ts";
import { GLOBAL_INDEXES } from "../packages/core/src/table-schema.ts";
import { dataKeyGrants } from "./policies.ts";

/**
 * Single table, keyed as packages/core/src/table.ts describes; the indexes come from the
 * same list the local runtime creates its table from. `expiresAt` is TTL, read as a filter
 * too (TTL deletes late).
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
  transform: { table: { pointInTimeRecovery: { enabled: true } } },
});

/**
 * Private: no public access; objects reach browsers and builders only through presigned URLs,
 * so CORS allows reads and nothing else.
 */
export const bucket = new sst.aws.Bucket(LinkNames.bucket, {
  cors: { allowMethods: ["GET", "HEAD"] },
});

/** Customer-managed key; retained with the data it protects when the stage retains data. */
export const dataKey = new aws.kms.Key(
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
