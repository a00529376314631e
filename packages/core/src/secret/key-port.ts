/**
 * The key port for envelope encryption: something that hands out fresh 256-bit data keys
 * (plaintext for immediate use, wrapped for storage) and unwraps stored ones. Adapters:
 * `LocalKeyPort` (a master key file in the data directory, here) and `KmsKeyPort` (AWS KMS,
 * in `./kms-key-port.ts`, kept apart so only code that uses KMS loads the AWS SDK), plus
 * `CachingKeyPort`, which remembers unwrapped data keys for a while.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { GyreError } from "../error.ts";

export interface DataKey {
  /** 32 bytes for AES-256; use, then drop. */
  plaintext: Uint8Array;
  /** The same key wrapped by the master key; safe to store beside the ciphertext. */
  encrypted: Uint8Array;
}

export interface KeyPort {
  generateDataKey(): Promise<DataKey>;
  decryptDataKey(encrypted: Uint8Array): Promise<Uint8Array>;
}

export const MASTER_KEY_FILE = "master.key";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** First byte of a locally wrapped data key: version 1 = AES-256-GCM, iv | tag | ciphertext. */
const LOCAL_WRAP_V1 = 1;

/**
 * Master key in `<dataDir>/master.key`: 32 random bytes, created with mode 0600 on first use
 * (exclusive create, so two processes starting together agree on one key). A key file that
 * group or others can read is refused. Data keys are wrapped with AES-256-GCM.
 */
export class LocalKeyPort implements KeyPort {
  readonly keyFile: string;
  private masterKey: Promise<Buffer> | undefined;

  constructor(dataDir: string) {
    this.keyFile = join(dataDir, MASTER_KEY_FILE);
  }

  async generateDataKey(): Promise<DataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", await this.master(), iv);
    const wrapped = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const encrypted = Buffer.concat([Buffer.from([LOCAL_WRAP_V1]), iv, cipher.getAuthTag(), wrapped]);
    return { plaintext: new Uint8Array(plaintext), encrypted: new Uint8Array(encrypted) };
  }

  async decryptDataKey(encrypted: Uint8Array): Promise<Uint8Array> {
    const bytes = Buffer.from(encrypted);
    if (bytes.length !== 1 + IV_BYTES + TAG_BYTES + KEY_BYTES || bytes[0] !== LOCAL_WRAP_V1) {
      throw new GyreError(
        "internal",
        "The data key is not one wrapped by the local master key (wrong format).",
      );
    }
    const iv = bytes.subarray(1, 1 + IV_BYTES);
    const tag = bytes.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", await this.master(), iv);
    decipher.setAuthTag(tag);
    try {
      return new Uint8Array(
        Buffer.concat([decipher.update(bytes.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]),
      );
    } catch {
      throw new GyreError(
        "internal",
        `The data key could not be unwrapped with the master key in ${this.keyFile}: it was altered or wrapped by another master key.`,
      );
    }
  }

  private master(): Promise<Buffer> {
    this.masterKey ??= loadOrCreateMasterKey(this.keyFile);
    this.masterKey.catch(() => {
      this.masterKey = undefined;
    });
    return this.masterKey;
  }
}

async function loadOrCreateMasterKey(keyFile: string): Promise<Buffer> {
  await mkdir(join(keyFile, ".."), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(keyFile, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const key = randomBytes(KEY_BYTES);
    try {
      await handle.writeFile(key);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const { mode } = await stat(keyFile);
  if ((mode & 0o077) !== 0) {
    throw new GyreError(
      "internal",
      `The master key file ${keyFile} can be read by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${keyFile}`,
    );
  }
  const key = await readFile(keyFile);
  if (key.length !== KEY_BYTES) {
    throw new GyreError(
      "internal",
      `The master key file ${keyFile} holds ${key.length} bytes, not ${KEY_BYTES}: it is damaged. Restore it from backup; without it stored secrets cannot be decrypted.`,
    );
  }
  return key;
}

export interface CachingKeyPortOptions {
  /** How many unwrapped data keys to remember (least recently used dropped first). Default 1000. */
  maxEntries?: number;
  /** How long an unwrapped key is remembered, in ms. Default 5 minutes. */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Remembers unwrapped data keys so that decrypting the same secrets again (every job of a
 * project reads the same environment variables) does not call KMS each time. New data keys
 * are never cached: every secret still gets its own key.
 */
export class CachingKeyPort implements KeyPort {
  private readonly entries = new Map<string, { key: Uint8Array; expires: number }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: KeyPort,
    options: CachingKeyPortOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  generateDataKey(): Promise<DataKey> {
    return this.inner.generateDataKey();
  }

  async decryptDataKey(encrypted: Uint8Array): Promise<Uint8Array> {
    const id = Buffer.from(encrypted).toString("base64");
    const hit = this.entries.get(id);
    if (hit && hit.expires > this.now()) {
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit.key;
    }
    const key = await this.inner.decryptDataKey(encrypted);
    this.entries.delete(id);
    this.entries.set(id, { key, expires: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return key;
  }
}
