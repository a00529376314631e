/**
 * Where Gyre keeps its state: one DynamoDB table (the source of truth), one private bucket
 * (artifacts, caches, workspaces, step output) and the KMS key for envelope encryption.
 */
import { LinkNames } from "../packages/core/src/resources.ts";
import { dataKeyGrants } from "./policies.ts";

/** Single table; `expiresAt` is TTL, read as a filter too (TTL deletes late). */
export const table = new sst.aws.Dynamo(LinkNames.table, {
  fields: { pk: "string", sk: "string", gsi1pk: "string", gsi1sk: "string" },
  primaryIndex: { hashKey: "pk", rangeKey: "sk" },
  globalIndexes: { gsi1: { hashKey: "gsi1pk", rangeKey: "gsi1sk" } },
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
