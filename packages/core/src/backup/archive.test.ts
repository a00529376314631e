import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ArchiveWriter, BackupArchiveError, readAll, readArchive } from "./archive.ts";
import { itemFromJson, itemToJson } from "./items.ts";
import { verifyArchive } from "./local.ts";
import { countSealed, KEY_ENTRY, keyFingerprint, MANIFEST_ENTRY, type Manifest } from "./manifest.ts";

const dir = () => mkdtempSync(join(tmpdir(), "gyre-archive-"));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function* chunked(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

function manifestFor(entries: { name: string; body: Buffer }[]): Manifest {
  const at = "2026-01-01T00:00:00.000Z";
  return {
    format: "gyre-backup",
    version: 1,
    gyre_version: "test",
    created_at: at,
    completed_at: at,
    source: { runtime: "local", data_dir: "/x", table: "gyre", bucket: "gyre", while_running: false },
    consistency: {
      table_scan_started_at: at,
      table_scan_finished_at: at,
      bucket_listed_at: at,
      highest_item_write_ms: null,
    },
    counts: { items: 0, objects: entries.length, object_bytes: 0, sealed_values: 0, in_flight_jobs: 0 },
    key: { included: false, fingerprint: null },
    entries: entries.map((e, i) => ({
      kind: "object" as const,
      name: e.name,
      key: `output/k/${i}`,
      bytes: e.body.length,
      sha256: sha(e.body),
    })),
  };
}

async function write(path: string, entries: { name: string; body: Buffer }[], manifest?: Manifest) {
  const writer = new ArchiveWriter(path, Date.parse("2026-01-01T00:00:00Z"));
  for (const e of entries) await writer.add(e.name, e.body.length, chunked(e.body, 1000));
  const m = Buffer.from(JSON.stringify(manifest ?? manifestFor(entries)));
  await writer.add(MANIFEST_ENTRY, m.length, m);
  await writer.finish();
}

describe("the backup archive", () => {
  const entries = [
    { name: "bucket/000001", body: Buffer.from("hello\n") },
    { name: "bucket/000002", body: Buffer.alloc(0) },
    { name: "bucket/000003", body: Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251)) },
    { name: "bucket/000004", body: Buffer.alloc(512, 7) },
  ];

  it("round-trips entries of any size, and GNU tar reads the same archive", async () => {
    const path = join(dir(), "a.tar.gz");
    await write(path, entries);
    const read: { name: string; body: Buffer; mode: number }[] = [];
    await readArchive(path, async (e) => {
      read.push({ name: e.name, body: await readAll(e.body), mode: e.mode });
    });
    expect(read.map((e) => e.name)).toEqual([...entries.map((e) => e.name), MANIFEST_ENTRY]);
    for (const [i, e] of entries.entries()) expect(read[i]!.body.equals(e.body)).toBe(true);
    expect(execFileSync("tar", ["-tzf", path]).toString().trim().split("\n")).toEqual(
      read.map((e) => e.name),
    );
    const out = dir();
    execFileSync("tar", ["-xzf", path, "-C", out]);
    expect(readFileSync(join(out, "bucket/000003")).equals(entries[2]!.body)).toBe(true);
    expect((await verifyArchive(path)).entries).toHaveLength(entries.length);
  });

  it("skips what a handler leaves unread", async () => {
    const path = join(dir(), "a.tar.gz");
    await write(path, entries);
    const names: string[] = [];
    await readArchive(path, async (e) => {
      names.push(e.name);
      if (e.name === "bucket/000004") expect((await readAll(e.body)).length).toBe(512);
    });
    expect(names).toHaveLength(entries.length + 1);
  });

  it("refuses a damaged file with a clear error (gzip's CRC, a truncation)", async () => {
    const path = join(dir(), "a.tar.gz");
    await write(path, entries);
    const bytes = readFileSync(path);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(path, flipped);
    await expect(verifyArchive(path)).rejects.toThrow(BackupArchiveError);
    await expect(verifyArchive(path)).rejects.toThrow(/damaged/);
    writeFileSync(path, bytes.subarray(0, bytes.length - 40));
    await expect(verifyArchive(path)).rejects.toThrow(BackupArchiveError);
    writeFileSync(path, "not an archive at all");
    await expect(verifyArchive(path)).rejects.toThrow(/not a gzip-compressed tar/);
  });

  it("refuses an archive rebuilt with different content: each entry's SHA-256 is checked", async () => {
    const path = join(dir(), "a.tar.gz");
    await write(path, entries);
    // Change one byte inside the tar and compress it again: gzip is happy, the checksum is not.
    const tar = gunzipSync(readFileSync(path));
    const at = tar.indexOf(Buffer.from("hello\n"));
    tar[at] = "j".charCodeAt(0);
    writeFileSync(path, gzipSync(tar));
    await expect(verifyArchive(path)).rejects.toThrow(
      /bucket\/000001 \(output\/k\/0\) does not match its checksum/,
    );
  });

  it("refuses entries a manifest does not list, and a manifest naming missing entries", async () => {
    const path = join(dir(), "a.tar.gz");
    await write(path, entries, manifestFor(entries.slice(1)));
    await expect(verifyArchive(path)).rejects.toThrow(/bucket\/000001, which its manifest does not list/);
    const other = join(dir(), "b.tar.gz");
    await write(other, entries.slice(1), manifestFor(entries));
    await expect(verifyArchive(other)).rejects.toThrow(/missing bucket\/000001/);
  });

  it("is written to a new file only, 0600: a file or link already there is refused and left alone", async () => {
    const d = dir();
    const path = join(d, "a.tar.gz");
    await write(path, entries);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // A second writer on the same path (a partial file someone put there first) fails at once.
    await expect(ArchiveWriter.open(path, 0)).rejects.toMatchObject({ code: "EEXIST" });
    expect((await verifyArchive(path)).entries).toHaveLength(entries.length);
    // A link planted where the archive goes: nothing is written through it.
    const victim = join(d, "victim");
    writeFileSync(victim, "keep me");
    symlinkSync(victim, join(d, "planted"));
    await expect(ArchiveWriter.open(join(d, "planted"), 0)).rejects.toMatchObject({ code: "EEXIST" });
    expect(readFileSync(victim, "utf8")).toBe("keep me");
  });

  it("refuses, before anything is written, an archive whose manifest names an object key Gyre never writes", async () => {
    const body = Buffer.from("x");
    const crafted = (key: string) => {
      const manifest = manifestFor([{ name: "bucket/000001", body }]);
      (manifest.entries[0] as { key: string }).key = key;
      return manifest;
    };
    for (const key of [
      "../../../escaped/x",
      "output/../../../../escaped/x",
      "output/a/./b",
      "output//b",
      "/output/a",
      "output\\..\\x",
      "output/a\u0000b",
      "output/a\nb",
      `output/${"a".repeat(1020)}`,
      `output/${"é".repeat(600)}`,
      "elsewhere/a",
      "dynamodb/x",
    ]) {
      const path = join(dir(), "crafted.tar.gz");
      await write(path, [{ name: "bucket/000001", body }], crafted(key));
      await expect(verifyArchive(path), key).rejects.toThrow(BackupArchiveError);
      await expect(verifyArchive(path), key).rejects.toThrow(
        /is refused: its manifest names the object key .* which Gyre never writes/,
      );
    }
    // One bad key among good ones refuses the whole archive, and says how many.
    const many = manifestFor(entries);
    (many.entries[1] as { key: string }).key = "../x";
    (many.entries[3] as { key: string }).key = "../y";
    const path = join(dir(), "many.tar.gz");
    await write(path, entries, many);
    await expect(verifyArchive(path)).rejects.toThrow(/"\.\.\/x", .*and 1 more such key/);
  });

  it("checks a master key in the archive against the manifest's fingerprint", async () => {
    const key = Buffer.alloc(32, 3);
    const withKey = (fingerprint: string | null, included = true) => {
      const manifest = manifestFor([]);
      manifest.key = { included, fingerprint };
      manifest.entries.push({ kind: "key", name: KEY_ENTRY, bytes: key.length, sha256: sha(key) });
      return manifest;
    };
    const ok = join(dir(), "ok.tar.gz");
    await write(ok, [{ name: KEY_ENTRY, body: key }], withKey(keyFingerprint(key)));
    expect((await verifyArchive(ok)).key.included).toBe(true);
    // Another key than the fingerprint names (its checksum made to match): refused.
    const swapped = join(dir(), "swapped.tar.gz");
    await write(swapped, [{ name: KEY_ENTRY, body: key }], withKey(keyFingerprint(Buffer.alloc(32, 4))));
    await expect(verifyArchive(swapped)).rejects.toThrow(
      /the master key it holds \(keys\/master\.key\) is not the one its manifest names/,
    );
    const unnamed = join(dir(), "unnamed.tar.gz");
    await write(unnamed, [{ name: KEY_ENTRY, body: key }], withKey(null));
    await expect(verifyArchive(unnamed)).rejects.toThrow(/is not the one its manifest names/);
    // A key the manifest says is not there.
    const hidden = join(dir(), "hidden.tar.gz");
    await write(hidden, [{ name: KEY_ENTRY, body: key }], withKey(keyFingerprint(key), false));
    await expect(verifyArchive(hidden)).rejects.toThrow(/says the master key is not in the archive/);
  });
});

describe("table items in the archive", () => {
  it("keep every DynamoDB type exactly (numbers' digits, sets, binary)", () => {
    const item = {
      pk: { S: "PROJECT#gh/a/b" },
      n: { N: "12345678901234567890.5" },
      b: { B: new Uint8Array([0, 1, 255]) },
      ss: { SS: ["a", "b"] },
      ns: { NS: ["1", "2"] },
      bs: { BS: [new Uint8Array([9])] },
      m: { M: { l: { L: [{ BOOL: true }, { NULL: true }, { S: "x" }] } } },
    };
    const back = itemFromJson(JSON.parse(JSON.stringify(itemToJson(item))));
    expect(back).toEqual(item);
    expect(() => itemFromJson({ pk: { X: 1 } })).toThrow(/not an AttributeValue/);
  });

  it("counts sealed values and fingerprints keys without showing them", () => {
    const sealed = `v1.${"A".repeat(82)}.${"b".repeat(16)}.${"c".repeat(22)}.ZZZ`;
    expect(countSealed({ a: { S: sealed }, b: { M: { c: { S: sealed } } }, d: { S: "v1.no" } })).toBe(2);
    const key = Buffer.alloc(32, 1);
    expect(keyFingerprint(key)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(keyFingerprint(key)).not.toContain(key.toString("hex"));
  });
});
