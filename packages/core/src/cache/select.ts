/**
 * Which stored cache a `restore_cache` step restores, and whether `save_cache` writes.
 *
 * Restore: keys are tried in order; for each key an exact match wins, else the most recently
 * created entry whose key starts with it; the first key with any match wins. (CircleCI's
 * current reference says it takes the most recent prefix match even when an exact match
 * exists; pass `{ exactFirst: false }` for that behaviour.)
 * Save: a cache key is immutable; an existing key is never overwritten.
 */

export interface CacheEntry {
  key: string;
  createdAt: Date | string | number;
}

export interface SelectOptions {
  /** Prefer an exact key match over a newer prefix match (default true). */
  exactFirst?: boolean;
}

export function selectCacheEntry<E extends CacheEntry>(
  keys: readonly string[],
  entries: readonly E[],
  options: SelectOptions = {},
): E | undefined {
  const exactFirst = options.exactFirst ?? true;
  for (const key of keys) {
    if (key.length === 0) continue;
    if (exactFirst) {
      const exact = newest(entries.filter((entry) => entry.key === key));
      if (exact) return exact;
    }
    const prefixed = newest(entries.filter((entry) => entry.key.startsWith(key)));
    if (prefixed) return prefixed;
  }
  return undefined;
}

/** Whether `save_cache` should upload under `key`: only when no cache has that key yet. */
export function shouldSave(key: string, existing: readonly Pick<CacheEntry, "key">[]): boolean {
  return !existing.some((entry) => entry.key === key);
}

/** The most recently created entry; ties go to the greater key, so the choice is stable. */
function newest<E extends CacheEntry>(entries: readonly E[]): E | undefined {
  let best: E | undefined;
  let bestTime = Number.NEGATIVE_INFINITY;
  for (const entry of entries) {
    const time = new Date(entry.createdAt).getTime();
    if (Number.isNaN(time)) continue;
    if (time > bestTime || (time === bestTime && best !== undefined && entry.key > best.key)) {
      best = entry;
      bestTime = time;
    }
  }
  return best;
}
