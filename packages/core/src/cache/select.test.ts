import { describe, expect, it } from "vitest";
import { selectCacheEntry, shouldSave } from "./select.ts";

const entries = [
  { key: "v1-deps-main-abc", createdAt: "2024-01-01T00:00:00Z" },
  { key: "v1-deps-main-abc-extra", createdAt: "2024-03-01T00:00:00Z" },
  { key: "v1-deps-main-def", createdAt: "2024-02-01T00:00:00Z" },
  { key: "v1-deps-feature-123", createdAt: "2024-04-01T00:00:00Z" },
  { key: "v2-deps-main-abc", createdAt: "2024-05-01T00:00:00Z" },
];

describe("selectCacheEntry", () => {
  it("takes the most recent prefix match even over an exact match, as CircleCI's reference describes", () => {
    expect(selectCacheEntry(["v1-deps-main-abc"], entries)?.key).toBe("v1-deps-main-abc-extra");
    expect(selectCacheEntry(["v1-deps-main-abc"], entries, { exactFirst: false })?.key).toBe(
      "v1-deps-main-abc-extra",
    );
  });

  it("restores an exact match when it is the newest prefix match", () => {
    const newer = [...entries, { key: "v1-deps-main-abc", createdAt: "2024-06-01T00:00:00Z" }];
    expect(selectCacheEntry(["v1-deps-main-abc"], newer)?.key).toBe("v1-deps-main-abc");
  });

  it("with exactFirst: true prefers an exact match over a newer prefix match", () => {
    expect(selectCacheEntry(["v1-deps-main-abc"], entries, { exactFirst: true })?.key).toBe(
      "v1-deps-main-abc",
    );
  });

  it("falls back to the most recently created prefix match", () => {
    expect(selectCacheEntry(["v1-deps-main-"], entries)?.key).toBe("v1-deps-main-abc-extra");
    expect(selectCacheEntry(["v1-deps-"], entries)?.key).toBe("v1-deps-feature-123");
  });

  it("tries keys in order; the first key with any match wins over later, newer matches", () => {
    expect(selectCacheEntry(["v1-deps-main-zzz", "v1-deps-main-d", "v2-"], entries)?.key).toBe(
      "v1-deps-main-def",
    );
  });

  it("returns undefined when no key matches", () => {
    expect(selectCacheEntry(["v3-"], entries)).toBeUndefined();
    expect(selectCacheEntry([], entries)).toBeUndefined();
    expect(selectCacheEntry(["v1-"], [])).toBeUndefined();
  });

  it("ignores an empty key rather than matching every cache", () => {
    expect(selectCacheEntry(["", "v2-"], entries)?.key).toBe("v2-deps-main-abc");
  });

  it("accepts Date, ISO string and epoch milliseconds, and breaks ties by key", () => {
    const mixed = [
      { key: "k-a", createdAt: new Date("2024-01-02T00:00:00Z") },
      { key: "k-b", createdAt: Date.parse("2024-01-03T00:00:00Z") },
      { key: "k-c", createdAt: "2024-01-01T00:00:00Z" },
    ];
    expect(selectCacheEntry(["k-"], mixed)?.key).toBe("k-b");
    const tied = [
      { key: "t-a", createdAt: 5 },
      { key: "t-b", createdAt: 5 },
    ];
    expect(selectCacheEntry(["t-"], tied)?.key).toBe("t-b");
    expect(selectCacheEntry(["t-"], [...tied].reverse())?.key).toBe("t-b");
  });

  it("returns the entry object itself, with its extra fields", () => {
    const withId = [{ key: "x-1", createdAt: 1, objectKey: "caches/x-1.tgz" }];
    expect(selectCacheEntry(["x-"], withId)).toBe(withId[0]);
  });
});

describe("shouldSave", () => {
  it("saves a key that does not exist yet", () => {
    expect(shouldSave("v1-deps-main-new", entries)).toBe(true);
  });

  it("never overwrites an existing key", () => {
    expect(shouldSave("v1-deps-main-abc", entries)).toBe(false);
  });

  it("is exact: an existing longer key with this prefix does not block saving", () => {
    expect(shouldSave("v1-deps-main", entries)).toBe(true);
  });
});
