/**
 * Caches (`save_cache` / `restore_cache`): key templates, which stored cache to restore, and
 * the tar.gz archives themselves.
 */
export {
  type CreateArchiveInput,
  type CreatedArchive,
  createArchive,
  type ExtractedArchive,
  extract,
  LARGE_CACHE_BYTES,
} from "./archive.ts";
export {
  type CacheKeyContext,
  circleArch,
  fileChecksum,
  MAX_CACHE_KEY_LENGTH,
  renderCacheKey,
  resolvePath,
} from "./key.ts";
export { type CacheEntry, type SelectOptions, selectCacheEntry, shouldSave } from "./select.ts";
