import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { decryptSecret, encryptSecret } from "./envelope.ts";
import { LocalKeyPort } from "./key-port.ts";

let dir: string;
let keys: LocalKeyPort;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gyre-envelope-"));
  keys = new LocalKeyPort(dir);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const AAD = "gh/acme/api:NPM_TOKEN";

/** Flips one bit in the base64url part `index` of a sealed value. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split(".");
  const bytes = Buffer.from(parts[index]!, "base64url");
  bytes[bytes.length - 1]! ^= 0x01;
  parts[index] = bytes.toString("base64url");
  return parts.join(".");
}

async function expectGyreError(promise: Promise<unknown>, code: string, message: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GyreError);
  expect((error as GyreError).code).toBe(code);
  expect((error as GyreError).message).toMatch(message);
}

describe("encryptSecret / decryptSecret", () => {
  it("round-trips a value, including unicode and the empty string", async () => {
    for (const value of ["s3cr3t", "päss wörd 😀", "", "x".repeat(10_000)]) {
      expect(await decryptSecret(keys, await encryptSecret(keys, value, AAD), AAD)).toBe(value);
    }
  });

  it("produces the compact v1 format with five base64url parts", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("value");
  });

  it("uses a fresh data key and iv for every secret", async () => {
    const a = (await encryptSecret(keys, "same", AAD)).split(".");
    const b = (await encryptSecret(keys, "same", AAD)).split(".");
    expect(a[1]).not.toBe(b[1]);
    expect(a[2]).not.toBe(b[2]);
    expect(a[4]).not.toBe(b[4]);
  });

  it("rejects a tampered ciphertext", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    await expectGyreError(decryptSecret(keys, tamper(sealed, 4), AAD), "internal", /failed authentication/);
  });

  it("rejects a tampered tag", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    await expectGyreError(decryptSecret(keys, tamper(sealed, 3), AAD), "internal", /failed authentication/);
  });

  it("rejects a tampered iv", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    await expectGyreError(decryptSecret(keys, tamper(sealed, 2), AAD), "internal", /failed authentication/);
  });

  it("rejects a tampered data key", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    await expectGyreError(decryptSecret(keys, tamper(sealed, 1), AAD), "internal", /could not be unwrapped/);
  });

  it("rejects a value copied to another owner (aad mismatch)", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    await expectGyreError(
      decryptSecret(keys, sealed, "gh/acme/other:NPM_TOKEN"),
      "internal",
      /sealed for "gh\/acme\/other:NPM_TOKEN" failed authentication/,
    );
  });

  it("rejects a value swapped with another secret's ciphertext", async () => {
    const a = (await encryptSecret(keys, "aaaa", AAD)).split(".");
    const b = (await encryptSecret(keys, "bbbb", AAD)).split(".");
    const mixed = [a[0], a[1], a[2], a[3], b[4]].join(".");
    await expectGyreError(decryptSecret(keys, mixed, AAD), "internal", /failed authentication/);
  });

  it("rejects malformed sealed values with bad_request", async () => {
    for (const bad of ["", "plaintext", "v2.a.b.c.d", "v1.a.b.c", "v1.a.b+c.d.e", "v1.AAAA.AAAA.AAAA.AAAA"]) {
      await expectGyreError(decryptSecret(keys, bad, AAD), "bad_request", /Not a sealed secret/);
    }
  });

  it("cannot decrypt with another master key", async () => {
    const sealed = await encryptSecret(keys, "value", AAD);
    const otherDir = await mkdtemp(join(tmpdir(), "gyre-envelope-other-"));
    try {
      await expectGyreError(
        decryptSecret(new LocalKeyPort(otherDir), sealed, AAD),
        "internal",
        /could not be unwrapped/,
      );
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});
