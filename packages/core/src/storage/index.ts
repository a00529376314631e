/**
 * Storage grants: what a builder may read and write in the bucket, and where.
 *
 * A builder holds no S3 credentials. For a running allocation it asks the API, which checks
 * the allocation (its job item, attempt, `running` status and node) and answers a presigned
 * URL for one object, valid for 15 minutes. The object key is computed here from the job,
 * never taken from the builder: the builder names at most a relative path (an artifact) or a
 * cache key, both validated. A builder can therefore reach only its own job's objects and its
 * own project's caches.
 *
 *   caches/<project slug>/<cache key>.tar.gz        the archive                 caches.ts
 *   caches/<project slug>/<cache key>.tar.gz.json   its metadata, written by the API on commit
 *   artifacts/<job id>/<attempt>/<index>/<path>     one artifact, with its type  artifacts.ts
 *   workspaces/<workflow id>/<job name>/<index>.tar.gz (+ .json metadata)        workspaces.ts
 *   tests/<job id>/<attempt>/<index>.json           the allocation's results     test-results.ts
 *
 * What every grant shares (the allocation check, names, presigning) is grant.ts; uploads of
 * every kind and their commits are upload.ts; timings.ts reads earlier runs' test results.
 *
 * A cache or workspace layer becomes visible only when its metadata (SHA-256, size, time) is
 * committed, after the upload: a reader never sees a half-written archive, and the SHA-256
 * lets the builder refuse a corrupt download before unpacking anything.
 */
import { ArtifactKeys } from "./artifacts.ts";
import { CacheKeys } from "./caches.ts";
import { TestResultKeys } from "./test-results.ts";
import { WorkspaceKeys } from "./workspaces.ts";

export * from "./artifacts.ts";
export * from "./caches.ts";
export * from "./grant.ts";
export * from "./test-results.ts";
export * from "./upload.ts";
export * from "./workspaces.ts";

/** Every object key the storage modules write, in one place (each concern owns its own). */
export const StorageKeys = {
  cachePrefix: CacheKeys.prefix,
  cache: CacheKeys.archive,
  cacheMeta: CacheKeys.meta,
  artifactPrefix: ArtifactKeys.prefix,
  artifact: ArtifactKeys.object,
  workspacePrefix: WorkspaceKeys.prefix,
  workspace: WorkspaceKeys.archive,
  workspaceMeta: WorkspaceKeys.meta,
  testsPrefix: TestResultKeys.prefix,
  tests: TestResultKeys.object,
} as const;
