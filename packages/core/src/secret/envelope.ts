/**
 * Secrets at rest: envelope encryption with AES-256-GCM.
 *
 * `encryptSecret(keys, plaintext, aad)` asks the key port for a fresh data key, encrypts the
 * value with it and returns one compact, versioned string:
 *
 *     v1.<encrypted data key>.<iv>.<tag>.<ciphertext>     (each part base64url, no padding)
 *
 * `aad` names the secret's owner (say `gh/acme/api:NPM_TOKEN`, or a context id and variable
 * name). It is authenticated, not stored: a sealed value copied to another project or variable
 * fails to decrypt.
 *
 * A fresh data key per secret (not one per process): a secret is written rarely (a person
 * saving a variable), so one extra `GenerateDataKey` per write costs nothing; each sealed
 * value stands alone (no key lifetime to manage, nothing shared between owners, a leaked data
 * key opens one value). The cost is on reads, one unwrap per value; wrap the key port in
 * `CachingKeyPort` where jobs decrypt the same variables over and over.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { GyreError } from "../error.ts";
import type { KeyPort } from "./key-port.ts";

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export async function encryptSecret(keys: KeyPort, plaintext: string, aad: string): Promise<string> {
  const dataKey = await keys.generateDataKey();
  if (dataKey.plaintext.length !== KEY_BYTES) {
    throw new GyreError(
      "internal",
      `The key port returned a ${dataKey.plaintext.length}-byte data key; AES-256 needs 32.`,
    );
  }
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv);
  cipher.setAAD(associatedData(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [
    VERSION,
    encode(dataKey.encrypted),
    encode(iv),
    encode(cipher.getAuthTag()),
    encode(ciphertext),
  ].join(".");
}

export async function decryptSecret(keys: KeyPort, sealed: string, aad: string): Promise<string> {
  const parts = sealed.split(".");
  if (parts.length !== 5 || parts[0] !== VERSION || !parts.slice(1).every((part) => BASE64URL.test(part))) {
    throw new GyreError(
      "bad_request",
      `Not a sealed secret: expected "${VERSION}.<data key>.<iv>.<tag>.<ciphertext>" in base64url, got ${describe(sealed)}.`,
    );
  }
  const [, wrappedKey, ivText, tagText, ciphertextText] = parts as [string, string, string, string, string];
  const iv = Buffer.from(ivText, "base64url");
  const tag = Buffer.from(tagText, "base64url");
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES || wrappedKey.length === 0) {
    throw new GyreError("bad_request", "Not a sealed secret: the iv, tag or data key has the wrong length.");
  }
  const key = await keys.decryptDataKey(Buffer.from(wrappedKey, "base64url"));
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAAD(associatedData(aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertextText, "base64url")),
      decipher.final(),
    ]).toString("utf8");
  } catch {
    throw new GyreError(
      "internal",
      `The secret sealed for "${aad}" failed authentication: the stored value was altered, or it was sealed for another owner.`,
    );
  }
}

/** The authenticated data: the format version and the owner, so neither can be swapped. */
function associatedData(aad: string): Buffer {
  return Buffer.from(`gyre-secret:${VERSION}:${aad}`, "utf8");
}

function encode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

function describe(sealed: string): string {
  return sealed.length > 16
    ? `a ${sealed.length}-character value starting "${sealed.slice(0, 4)}"`
    : "a short value";
}
