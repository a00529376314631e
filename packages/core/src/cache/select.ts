/**
 * Which stored cache a `restore_cache` step restores, and whether `save_cache` writes.
 *
 * Restore: keys are tried in order; for each key the most recently created entry whose key
 * starts with it wins (an exact match counts as a prefix match and does not win over a newer,
 * longer key: CircleCI's `restore_cache` reference says that with several matches the most
 * recent one is used, even if there is a more precise match); the first key with any match
 * wins. Pass `{ exactFirst: true }` to prefer an exact match over a newer prefix match.
 * Save: a cache key is immutable; an existing key is never overwritten.
 */

export interface CacheEntry {
  key: string;
  createdAt: Date | string | number;
}

export interface SelectOptions {
  /** Prefer an exact key match over a newer prefix match (default false, as CircleCI does). */
  exactFirst?: boolean;
}

export function selectCacheEntry<E extends CacheEntry>(
  keys: readonly string[],
  entries: readonly E[],
  options: SelectOptions = {},
): E | undefined {
  const exactFirst = options.exactFirst ?? false;
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
