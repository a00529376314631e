import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { decryptSecret, encryptSecret } from "./envelope.ts";
import { CachingKeyPort, type KeyPort, LocalKeyPort, MASTER_KEY_FILE } from "./key-port.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gyre-keys-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("LocalKeyPort", () => {
  it("creates a 32-byte master key file with mode 0600 on first use", async () => {
    const keys = new LocalKeyPort(join(dir, "data"));
    await keys.generateDataKey();
    const file = join(dir, "data", MASTER_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file)).length).toBe(32);
  });

  it("reuses the master key across instances, so secrets survive a restart", async () => {
    const sealed = await encryptSecret(new LocalKeyPort(dir), "kept", "p:V");
    const before = await readFile(join(dir, MASTER_KEY_FILE));
    expect(await decryptSecret(new LocalKeyPort(dir), sealed, "p:V")).toBe("kept");
    expect(await readFile(join(dir, MASTER_KEY_FILE))).toEqual(before);
  });

  it("agrees on one master key when instances start together", async () => {
    const ports = Array.from({ length: 5 }, () => new LocalKeyPort(dir));
    const sealed = await Promise.all(ports.map((port, i) => encryptSecret(port, `v${i}`, "a")));
    for (const port of ports) {
      expect(await Promise.all(sealed.map((s) => decryptSecret(port, s, "a")))).toEqual([
        "v0",
        "v1",
        "v2",
        "v3",
        "v4",
      ]);
    }
  });

  it("wraps a fresh 32-byte data key each time and unwraps it", async () => {
    const keys = new LocalKeyPort(dir);
    const a = await keys.generateDataKey();
    const b = await keys.generateDataKey();
    expect(a.plaintext.length).toBe(32);
    expect(Buffer.from(a.plaintext).equals(Buffer.from(b.plaintext))).toBe(false);
    expect(Buffer.from(a.encrypted).includes(Buffer.from(a.plaintext))).toBe(false);
    expect(Buffer.from(await keys.decryptDataKey(a.encrypted))).toEqual(Buffer.from(a.plaintext));
  });

  it("refuses a master key file that other users can read", async () => {
    const file = join(dir, MASTER_KEY_FILE);
    await writeFile(file, Buffer.alloc(32, 1));
    await chmod(file, 0o644);
    const error = await new LocalKeyPort(dir).generateDataKey().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).message).toMatch(/can be read by other users \(mode 644\).*chmod 600/);
  });

  it("refuses a master key file of the wrong length", async () => {
    const file = join(dir, MASTER_KEY_FILE);
    await writeFile(file, Buffer.alloc(10), { mode: 0o600 });
    await expect(new LocalKeyPort(dir).generateDataKey()).rejects.toThrow(/holds 10 bytes, not 32/);
  });

  it("rejects a data key that is not in its wrapped format", async () => {
    await expect(new LocalKeyPort(dir).decryptDataKey(new Uint8Array(5))).rejects.toThrow(/wrong format/);
  });
});

describe("CachingKeyPort", () => {
  function counting(): KeyPort & { decrypts: number } {
    const inner = new LocalKeyPort(dir);
    const port = {
      decrypts: 0,
      generateDataKey: () => inner.generateDataKey(),
      decryptDataKey: (e: Uint8Array) => {
        port.decrypts++;
        return inner.decryptDataKey(e);
      },
    };
    return port;
  }

  it("unwraps a data key once while it is remembered", async () => {
    const inner = counting();
    const keys = new CachingKeyPort(inner);
    const sealed = await encryptSecret(keys, "v", "a");
    for (let i = 0; i < 3; i++) expect(await decryptSecret(keys, sealed, "a")).toBe("v");
    expect(inner.decrypts).toBe(1);
  });

  it("unwraps again after the time to live", async () => {
    const inner = counting();
    let now = 0;
    const keys = new CachingKeyPort(inner, { ttlMs: 1000, now: () => now });
    const sealed = await encryptSecret(keys, "v", "a");
    await decryptSecret(keys, sealed, "a");
    now = 999;
    await decryptSecret(keys, sealed, "a");
    now = 2000;
    await decryptSecret(keys, sealed, "a");
    expect(inner.decrypts).toBe(2);
  });

  it("drops the least recently used key beyond maxEntries", async () => {
    const inner = counting();
    const keys = new CachingKeyPort(inner, { maxEntries: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((v) => encryptSecret(keys, v, "x")));
    await decryptSecret(keys, a!, "x");
    await decryptSecret(keys, b!, "x");
    await decryptSecret(keys, a!, "x"); // a is now the most recent
    await decryptSecret(keys, c!, "x"); // evicts b
    expect(inner.decrypts).toBe(3);
    await decryptSecret(keys, a!, "x");
    expect(inner.decrypts).toBe(3);
    await decryptSecret(keys, b!, "x");
    expect(inner.decrypts).toBe(4);
  });

  it("never reuses a data key for new secrets", async () => {
    const keys = new CachingKeyPort(new LocalKeyPort(dir));
    const a = await keys.generateDataKey();
    const b = await keys.generateDataKey();
    expect(Buffer.from(a.plaintext).equals(Buffer.from(b.plaintext))).toBe(false);
  });
});
