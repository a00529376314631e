/**
 * The manifest of a local backup archive: `manifest.json`, the archive's last entry (the
 * SHA-256 of every other entry is known only once it is written). It says what the archive
 * holds, when and how consistently it was taken, and whether the master key is in it.
 *
 *   table/NNNNNN.jsonl   table items, one a line, as DynamoDB's AttributeValue JSON
 *   bucket/NNNNNN        one object each; its S3 key, content type and metadata are here
 *   keys/master.key      the local master key, only with --include-key
 *   manifest.json        this
 */
import { createHash } from "node:crypto";
import { z } from "../protocol/schema.ts";

export const MANIFEST_ENTRY = "manifest.json";
export const KEY_ENTRY = "keys/master.key";
export const BACKUP_FORMAT = "gyre-backup";
export const BACKUP_FORMAT_VERSION = 1;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Iso = z.string().min(1).max(40);

export const TableEntrySchema = z.object({
  kind: z.literal("table"),
  name: z.string(),
  items: z.number().int().min(0),
  bytes: z.number().int().min(0),
  sha256: Sha256,
});

export const ObjectEntrySchema = z.object({
  kind: z.literal("object"),
  name: z.string(),
  /**
   * The object's key in the bucket. Not trusted: before a restore writes anything, every key is
   * checked to be one Gyre writes (keys.ts), since s3rver maps keys to paths.
   */
  key: z.string(),
  bytes: z.number().int().min(0),
  sha256: Sha256,
  content_type: z.string().optional(),
  content_encoding: z.string().optional(),
  content_disposition: z.string().optional(),
  cache_control: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  /** When the source last wrote it (a restore writes it anew: S3 sets the time). */
  last_modified: Iso.optional(),
});
export type ObjectEntry = z.infer<typeof ObjectEntrySchema>;

export const KeyEntrySchema = z.object({
  kind: z.literal("key"),
  name: z.literal(KEY_ENTRY),
  bytes: z.number().int(),
  sha256: Sha256,
});

export const ManifestEntrySchema = z.discriminatedUnion("kind", [
  TableEntrySchema,
  ObjectEntrySchema,
  KeyEntrySchema,
]);
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

export const ManifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(BACKUP_FORMAT_VERSION),
  /** The Gyre version that wrote it. */
  gyre_version: z.string(),
  /** When the backup started (the table scan's start). */
  created_at: Iso,
  completed_at: Iso,
  source: z.object({
    runtime: z.literal("local"),
    data_dir: z.string(),
    table: z.string(),
    bucket: z.string(),
    /** Taken from a running Gyre's stand-ins (true) or from a stopped data directory. */
    while_running: z.boolean(),
  }),
  /**
   * What "consistent" means here (docs/operations.md, "Backup and restore"): every item as it
   * was at one moment of the scan (strongly consistent reads), the bucket listed after the
   * table, so every job the table shows finished has all its output in the archive. Jobs still
   * queued or running (`in_flight_jobs`) are settled by the restore.
   */
  consistency: z.object({
    table_scan_started_at: Iso,
    table_scan_finished_at: Iso,
    bucket_listed_at: Iso,
    /** The latest `updatedAt` of any item (epoch ms), null when none has one. */
    highest_item_write_ms: z.number().nullable(),
  }),
  counts: z.object({
    items: z.number().int().min(0),
    objects: z.number().int().min(0),
    object_bytes: z.number().int().min(0),
    /** Values sealed with the master key (environment variables, context variables, webhook secrets...). */
    sealed_values: z.number().int().min(0),
    in_flight_jobs: z.number().int().min(0),
  }),
  key: z.object({
    included: z.boolean(),
    /** `sha256:<hex>` of the master key the sealed values need; null when there was none. */
    fingerprint: z.string().nullable(),
  }),
  entries: z.array(ManifestEntrySchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** Names a master key without revealing it (a SHA-256 of a domain-separated copy). */
export function keyFingerprint(key: Uint8Array): string {
  return `sha256:${createHash("sha256").update("gyre master key fingerprint\0").update(key).digest("hex")}`;
}

/** A sealed value as encryptSecret writes it (secret/envelope.ts): `v1.<key>.<iv>.<tag>.<ciphertext>`. */
const SEALED = /^v1\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/;

/** How many sealed values an item (as DynamoDB AttributeValue JSON) holds. */
export function countSealed(value: unknown): number {
  if (typeof value === "string") return SEALED.test(value) ? 1 : 0;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + countSealed(v), 0);
  if (value && typeof value === "object")
    return Object.values(value).reduce((n: number, v) => n + countSealed(v), 0);
  return 0;
}
