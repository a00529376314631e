/**
 * Backup and restore (docs/operations.md, "Backup and restore"): locally one archive of the
 * table, the bucket and (only when asked) the master key, with a manifest and checksums
 * (archive.ts, manifest.ts, local.ts); on AWS an on-demand DynamoDB backup plus a manifest of
 * the bucket's object versions (aws.ts). After either restore, builds that were in flight are
 * settled (settle.ts): nothing stays running; the old installation's tokens and sessions are
 * dropped and the restore is recorded (restored.ts).
 */
export * from "./archive.ts";
export * from "./aws.ts";
export * from "./items.ts";
export * from "./local.ts";
export * from "./manifest.ts";
export * from "./restored.ts";
export * from "./settle.ts";
