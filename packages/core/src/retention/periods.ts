/**
 * Retention's constants, free of imports so infra/storage.ts can build the bucket's lifecycle
 * rules from the same numbers and prefixes the local sweep uses (retention/index.ts).
 */

/**
 * Days each kind is kept by default (the settings `retention_*_days`): 0, for ever. Expiry is
 * the operator's choice: an installation upgraded to this version loses nothing it had, and
 * the first sweep deletes nothing until a period is set.
 */
export const RETENTION_DEFAULTS = { output: 0, artifacts: 0, caches: 0 } as const;

/** Where each kind lives in the bucket (output/index.ts, storage/artifacts.ts, storage/caches.ts). */
export const RETENTION_PREFIXES = { output: "output/", artifacts: "artifacts/", caches: "caches/" } as const;

export type RetainedKind = keyof typeof RETENTION_DEFAULTS;

/**
 * Days S3 keeps an object's older versions once it is replaced or deleted (AWS, versioned
 * bucket): as long as DynamoDB's point-in-time recovery reaches back, so a backup's manifest
 * of versions (backup/aws.ts) can be restored for that long after its objects went.
 */
export const NONCURRENT_VERSION_DAYS = 35;
