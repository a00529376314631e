/**
 * Signed links: URLs that work without a token for a short while, as CircleCI's presigned
 * output URLs do. A link names what it opens (its `scope`, say one step's output of one build)
 * and when it expires; its signature is an HMAC-SHA256 of both under a key of its `purpose`.
 *
 * Each purpose has its own 256-bit key, generated on first use and kept in the table sealed
 * like every other secret (envelope encryption, bound to the purpose: `Keys.signingKey`).
 * Concurrent first uses agree on one key: the write is conditional and the loser reads the
 * winner's. A process remembers the key it unsealed (per Gyre context), so signing a page of
 * links costs no read.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { getItem, putNew } from "../store/index.ts";
import { Keys } from "../table.ts";
import { decryptSecret, encryptSecret } from "./envelope.ts";

export type LinkPurpose = "output-url";

/** How long a signed link stays valid: 15 minutes, as CircleCI's presigned output URLs. */
export const LINK_SECONDS = 15 * 60;

const KEY_BYTES = 32;
const SigningKeySchema = z.object({ purpose: z.string(), sealed: z.string() });
const aad = (purpose: LinkPurpose) => `signing-key:${purpose}`;

const known = new WeakMap<Gyre, Map<LinkPurpose, Promise<Buffer>>>();

/** The key of `purpose`, generated and recorded (sealed) the first time it is asked for. */
function signingKey(gyre: Gyre, purpose: LinkPurpose): Promise<Buffer> {
  const keys = known.get(gyre) ?? new Map<LinkPurpose, Promise<Buffer>>();
  known.set(gyre, keys);
  let key = keys.get(purpose);
  if (!key) {
    key = loadOrCreate(gyre, purpose);
    keys.set(purpose, key);
    // A failed read is not remembered: the next link tries again.
    key.catch(() => keys.delete(purpose));
  }
  return key;
}

async function loadOrCreate(gyre: Gyre, purpose: LinkPurpose): Promise<Buffer> {
  const record = Keys.signingKey(purpose);
  const unseal = async (sealed: string) =>
    Buffer.from(await decryptSecret(gyre.keys, sealed, aad(purpose)), "base64");
  const found = await getItem(gyre, record, SigningKeySchema, "signing key");
  if (found) return unseal(found.sealed);
  const fresh = randomBytes(KEY_BYTES);
  const sealed = await encryptSecret(gyre.keys, fresh.toString("base64"), aad(purpose));
  const item = { ...record, purpose, sealed, createdAt: new Date(gyre.now()).toISOString() };
  if (await putNew(gyre, item)) return fresh;
  const winner = await getItem(gyre, record, SigningKeySchema, "signing key");
  if (!winner) throw new GyreError("internal", `The ${purpose} signing key could not be recorded.`);
  return unseal(winner.sealed);
}

const mac = (key: Buffer, scope: string, expires: number) =>
  createHmac("sha256", key).update(`gyre-link:v1\n${scope}\n${expires}`).digest("base64url");

/** A signer for many links of one purpose at once (one key read for all of them). */
export async function linkSigner(
  gyre: Gyre,
  purpose: LinkPurpose,
): Promise<(scope: string) => { expires: number; signature: string }> {
  const key = await signingKey(gyre, purpose);
  const expires = Math.floor(gyre.now() / 1000) + LINK_SECONDS;
  return (scope) => ({ expires, signature: mac(key, scope, expires) });
}

/**
 * Checks a link's `expires` (epoch seconds, as given) and `signature` for `scope`: a 403 that
 * says which it is when the link was altered or has expired.
 */
export async function verifyLink(
  gyre: Gyre,
  purpose: LinkPurpose,
  scope: string,
  given: { expires: string | undefined; signature: string | undefined },
): Promise<void> {
  const altered = () =>
    new GyreError(
      "forbidden",
      "This link's signature does not match what it opens: it was altered. Read the build again for a fresh link.",
    );
  if (!given.expires || !given.signature || !/^[0-9]{1,12}$/.test(given.expires)) throw altered();
  const expires = Number(given.expires);
  const expected = Buffer.from(mac(await signingKey(gyre, purpose), scope, expires));
  const actual = Buffer.from(given.signature);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw altered();
  if (gyre.now() >= expires * 1000)
    throw new GyreError(
      "forbidden",
      `This link expired at ${new Date(expires * 1000).toISOString()} (links last ${LINK_SECONDS / 60} minutes). Read the build again for a fresh link.`,
    );
}
