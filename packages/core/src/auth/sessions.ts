/**
 * Browser sessions. Signing in makes one: a random value in an HttpOnly, SameSite=Lax cookie
 * (Secure when the request came over TLS), stored only as its SHA-256, with a CSRF token the
 * page reads once (`GET /api/gyre/auth/session`) and sends as `X-CSRF-Token` on every request
 * that changes something. A session lasts the `session_hours` setting; signing out ends it,
 * and so do suspending or deleting its user.
 *
 *   pk SESSION#<sha256>  sk SESSION   { userId, csrfToken, createdAt, expiresAt }
 */
import { randomBytes } from "node:crypto";
import type { Gyre } from "../context.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, deleteItems, getItem, putItem, queryRaw } from "../store/index.ts";
import { Index, Keys } from "../table.ts";
import { hashToken } from "./tokens.ts";

export const SESSION_COOKIE = "gyre_session";

export const SessionSchema = z.object({
  userId: z.string(),
  csrfToken: z.string(),
  createdAt: z.string(),
  /** Epoch seconds (the table's TTL attribute; reads check it, TTL deletes are late). */
  expiresAt: z.number(),
  /** The token this session was made from (`POST /api/gyre/auth/token`): it ends with the token. */
  viaToken: z.string().optional(),
});
export type Session = z.infer<typeof SessionSchema> & { hash: string };

export async function createSession(
  gyre: Gyre,
  userId: string,
  hours: number,
  /** The hash of the token the session is made from, if it is. */
  viaToken?: string,
): Promise<{ cookie: string; session: Session }> {
  const cookie = randomBytes(32).toString("base64url");
  const hash = hashToken(cookie);
  const createdAt = new Date(gyre.now()).toISOString();
  const session = {
    userId,
    csrfToken: randomBytes(24).toString("base64url"),
    createdAt,
    expiresAt: Math.floor(gyre.now() / 1000) + hours * 3600,
    ...(viaToken ? { viaToken } : {}),
  };
  await putItem(gyre, {
    ...Keys.session(hash),
    gsi1pk: Index.sessionsOf(userId),
    gsi1sk: createdAt,
    ...session,
  });
  return { cookie, session: { ...session, hash } };
}

/** The live session a cookie names; undefined when there is none or it expired. */
export async function readSession(gyre: Gyre, cookie: string): Promise<Session | undefined> {
  const hash = hashToken(cookie);
  const session = await getItem(gyre, Keys.session(hash), SessionSchema, "session");
  if (!session || session.expiresAt * 1000 <= gyre.now()) return undefined;
  return { ...session, hash };
}

export const endSession = (gyre: Gyre, hash: string) => deleteItem(gyre, Keys.session(hash));

/** Ends every session of a user (suspended, deleted, gone from LDAP); answers their hashes. */
export async function endSessionsOf(gyre: Gyre, userId: string): Promise<string[]> {
  const keys: { pk: string; sk: string }[] = [];
  for await (const item of queryRaw(gyre, { index: "gsi1", partition: Index.sessionsOf(userId) }))
    keys.push({ pk: String(item.pk), sk: String(item.sk) });
  await deleteItems(gyre, keys);
  return keys.map((k) => k.pk.slice("SESSION#".length));
}
