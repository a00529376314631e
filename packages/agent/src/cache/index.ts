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
// Restore selection is decided by the API (it lists the entries): it lives in @gyre/core/cache/select.
