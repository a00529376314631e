/**
 * Caches (`save_cache` / `restore_cache`): one archive per project and cache key, immutable
 * once committed. The archive becomes visible only when the API writes its metadata (SHA-256,
 * size, time) after checking the upload, so a reader never sees a half-written archive.
 *
 *   caches/<project slug>/<cache key>.tar.gz        the archive
 *   caches/<project slug>/<cache key>.tar.gz.json   its metadata, written by the API on commit
 */
import { deleteKeys, listObjects, putJson, readJson } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { badRequest } from "../error.ts";
import type { Job } from "../job/index.ts";
import { z } from "../protocol/schema.ts";
import { cacheExpired } from "../retention/index.ts";
import { CONTROL, type Grant, presign } from "./grant.ts";

/** Longest cache key, as the agent renders it (`MAX_CACHE_KEY_LENGTH`). */
export const MAX_CACHE_KEY_LENGTH = 900;

const META_SUFFIX = ".tar.gz.json";

export const CacheKeys = {
  prefix: (slug: string) => `caches/${slug}/`,
  archive: (slug: string, key: string) => `caches/${slug}/${key}.tar.gz`,
  meta: (slug: string, key: string) => `caches/${slug}/${key}${META_SUFFIX}`,
} as const;

/** A rendered cache key: 1..900 characters, no control character, no `.`/`..` path segment. */
export function validateCacheKey(value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw badRequest("A cache key must be a non-empty string.");
  if (value.length > MAX_CACHE_KEY_LENGTH)
    throw badRequest(
      `The cache key is ${value.length} characters long; the limit is ${MAX_CACHE_KEY_LENGTH}.`,
    );
  if (CONTROL.test(value)) throw badRequest("A cache key must not contain control characters.");
  if (value.split("/").some((segment) => segment === "." || segment === ".."))
    throw badRequest(`A cache key must not contain "." or ".." path segments: "${value}".`);
  return value;
}

export const CacheMetaSchema = z.object({
  key: z.string(),
  sha256: z.string(),
  bytes: z.number(),
  createdAt: z.string(),
  jobId: z.string(),
  jobNumber: z.number(),
  /** The saving allocation's directory: paths below it are restored below the restoring one's. */
  root: z.string().optional(),
});
export type CacheMeta = z.infer<typeof CacheMetaSchema>;

/**
 * The metadata of a committed cache; undefined while there is none, and once it has expired
 * (retention/index.ts: an expired cache is not restored, and may be saved anew).
 */
export async function committedCache(gyre: Gyre, slug: string, key: string): Promise<CacheMeta | undefined> {
  const meta = await readJson(gyre, CacheKeys.meta(slug, key), CacheMetaSchema, "cache metadata");
  return meta && !(await cacheExpired(gyre, meta.createdAt)) ? meta : undefined;
}

/**
 * Commits an uploaded archive of `job`'s project under `key`; false when the key was
 * committed already (it stays as it was: a cache is immutable).
 */
export async function commitCache(
  gyre: Gyre,
  job: Pick<Job, "id" | "number" | "projectSlug">,
  key: string,
  upload: { sha256: string; bytes: number; createdAt: string; root?: string },
): Promise<boolean> {
  const metaKey = CacheKeys.meta(job.projectSlug, key);
  if (await committedCache(gyre, job.projectSlug, key)) return false;
  const meta: CacheMeta = {
    key,
    sha256: upload.sha256,
    bytes: upload.bytes,
    createdAt: upload.createdAt,
    jobId: job.id,
    jobNumber: job.number,
    ...(upload.root !== undefined ? { root: upload.root } : {}),
  };
  await putJson(gyre, metaKey, meta);
  return true;
}

export interface CacheListing {
  key: string;
  createdAt: string;
}

/** Every committed cache of the project whose key starts with `prefix`. */
export async function listCaches(gyre: Gyre, slug: string, prefix: string): Promise<CacheListing[]> {
  const base = CacheKeys.prefix(slug);
  const entries: CacheListing[] = [];
  for await (const object of listObjects(gyre, `${base}${prefix}`)) {
    if (!object.key.endsWith(META_SUFFIX)) continue;
    entries.push({
      key: object.key.slice(base.length, -META_SUFFIX.length),
      createdAt: object.lastModified,
    });
  }
  return entries;
}

/**
 * Deletes every committed cache of the project (CircleCI's "clear cache"); answers how many.
 * The metadata of each goes first, so from then on no job is handed an archive about to go and
 * a later `save_cache` of the key saves anew; then the archives. Uploads not committed yet are
 * left alone. One window stays: a job that uploads and commits the same key between the two
 * passes loses its archive, and a restore of it then fails as a corrupt download does.
 */
export async function deleteCaches(gyre: Gyre, slug: string): Promise<number> {
  const caches = await listCaches(gyre, slug, "");
  const metas = caches.map((c) => CacheKeys.meta(slug, c.key));
  const archives = caches.map((c) => CacheKeys.archive(slug, c.key));
  await deleteKeys(gyre, metas);
  await deleteKeys(gyre, archives);
  return caches.length;
}

export type CacheDownload = CacheMeta & Grant;

/** The metadata of a committed cache and a presigned GET for its archive. */
export async function grantCacheDownload(
  gyre: Gyre,
  slug: string,
  key: string,
): Promise<CacheDownload | undefined> {
  const meta = await committedCache(gyre, slug, validateCacheKey(key));
  if (!meta) return undefined;
  return { ...meta, ...(await presign(gyre, "GET", CacheKeys.archive(slug, key))) };
}
