/**
 * Who is calling: a token (personal, project or operator, tokens.ts) or a browser session
 * (sessions.ts) → a principal: the user, and what the credential limits them to.
 *
 * Every request authenticates, so what a credential resolves to is remembered per process for
 * at most AUTH_CACHE_MS, with strongly consistent reads behind it: revoking a token, ending a
 * session, suspending or deleting a user holds everywhere within a second, and at once in the
 * process that did it (`forgetCredential`, `forgetUser`).
 *
 * A user who signed in with LDAP is looked up in LDAP again when the last look is older than
 * the `ldap_recheck_seconds` setting: gone from LDAP or from the required group, their sessions
 * and tokens are removed. When LDAP cannot be reached the last answer stands for up to a day
 * (asked again every 30 s): an outage does not lock everyone out at once, and a removal is seen
 * at the next look. With LDAP sign-in switched off, LDAP accounts are refused.
 */
import type { Gyre } from "../context.ts";
import { forbidden, GyreError, unauthorized } from "../error.ts";
import { ldapConfig, readSettings } from "../settings/index.ts";
import { getItem, tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { ldapEntryId, ldapLookup } from "./ldap.ts";
import { endSessionsOf, readSession, type Session } from "./sessions.ts";
import { hashToken, listTokens, revokeToken, type TokenInfo, TokenItemSchema, tokenInfo } from "./tokens.ts";
import { readUser, type User } from "./users.ts";

export * from "./sessions.ts";
export * from "./tokens.ts";
export * from "./users.ts";

export interface Principal {
  user: User;
  /** The token the request carried, when it carried one. */
  token?: TokenInfo;
  /** The browser session, when the request was made with its cookie. */
  session?: Session;
}

export interface Credentials {
  token?: string;
  /** The session cookie's value. */
  session?: string;
}

export const AUTH_CACHE_MS = 1000;
/** `lastUsedAt` / `lastSeenAt` are written at most this often per token and user. */
const SEEN_EVERY_MS = 60_000;

const cache = new Map<string, { principal: Principal; expires: number; gyre: Gyre }>();
/** LDAP unreachable: when to ask again for a user (per process), and how stale a last answer may be. */
const ldapRetryAt = new Map<string, number>();
const LDAP_RETRY_MS = 30_000;
const LDAP_MAX_STALE_MS = 24 * 3600_000;

export async function authenticate(gyre: Gyre, credentials: Credentials): Promise<Principal> {
  const raw = credentials.token ?? credentials.session;
  if (!raw) throw unauthorized();
  const key = `${credentials.token ? "t" : "s"}:${hashToken(raw)}`;
  const cached = cache.get(key);
  let principal: Principal;
  if (cached && cached.gyre === gyre && cached.expires > gyre.now()) principal = cached.principal;
  else {
    principal = credentials.token
      ? await principalOfToken(gyre, credentials.token)
      : await principalOfSession(gyre, credentials.session!);
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, { principal, expires: gyre.now() + AUTH_CACHE_MS, gyre });
  }
  const { user } = principal;
  if (user.state === "suspended")
    throw forbidden("This account is suspended: ask an administrator to reactivate it.");
  if (user.state === "suspended-new")
    throw forbidden("This account waits for an administrator to activate it.");
  if (user.provider === "ldap") await recheckLdap(gyre, principal, key);
  return principal;
}

async function principalOfToken(gyre: Gyre, token: string): Promise<Principal> {
  const item = await getItem(gyre, Keys.token(hashToken(token)), TokenItemSchema, "api token");
  if (!item) throw unauthorized("Invalid token provided.");
  const info = tokenInfo(item);
  // A project token is the project's: it acts as itself, whatever became of whoever made it.
  if (info.kind === "project") {
    await seen(gyre, info, undefined);
    return { user: projectTokenUser(info), token: info };
  }
  const user = await readUser(gyre, info.userId);
  if (!user) throw unauthorized("Invalid token provided.");
  await seen(gyre, info, user);
  return { user: withoutSecrets(user), token: info };
}

async function principalOfSession(gyre: Gyre, cookie: string): Promise<Principal> {
  const session = await readSession(gyre, cookie);
  if (!session) throw unauthorized("Your session has ended: sign in again.");
  // A session made from a token lasts no longer than the token.
  if (session.viaToken && !(await getItem(gyre, Keys.token(session.viaToken), TokenItemSchema, "api token")))
    throw unauthorized("The token this session was made from was revoked: sign in again.");
  const user = await readUser(gyre, session.userId);
  if (!user) throw unauthorized("Your session has ended: sign in again.");
  await seen(gyre, undefined, user);
  return { user: withoutSecrets(user), session };
}

/**
 * Who a project token acts as: itself, by its id (what records name as the actor). It holds no
 * role and no GitHub account; its rights are its scope on its project (permission.ts).
 */
function projectTokenUser(info: TokenInfo): User {
  return {
    id: info.id,
    login: "project-token",
    name: `Project token ${info.label}`,
    admin: false,
    state: "active",
    provider: "local",
    createdAt: info.createdAt ?? new Date(0).toISOString(),
  };
}

/** The user as requests see them: their GitHub token stays in the table. */
function withoutSecrets(user: User): User {
  if (!user.github?.token) return user;
  const { token: _sealed, ...github } = user.github;
  return { ...user, github };
}

/** Records when a token was last used and its user last seen, at most once a minute each. */
async function seen(gyre: Gyre, token: TokenInfo | undefined, user: User | undefined): Promise<void> {
  const now = gyre.now();
  const stamp = new Date(now).toISOString();
  const stale = (at: string | undefined) => !at || now - Date.parse(at) > SEEN_EVERY_MS;
  const writes: Promise<unknown>[] = [];
  if (token && stale(token.lastUsedAt))
    writes.push(
      tryUpdate(gyre, Keys.token(token.hash), {
        set: { lastUsedAt: stamp },
        when: [{ path: "pk", exists: true }],
      }),
    );
  if (user && !user.builder && user.state === "active" && stale(user.lastSeenAt))
    writes.push(
      tryUpdate(gyre, Keys.user(user.id), {
        set: { lastSeenAt: stamp },
        when: [{ path: "pk", exists: true }],
      }),
    );
  await Promise.all(writes);
}

async function recheckLdap(gyre: Gyre, principal: Principal, key: string): Promise<void> {
  const ldap = principal.user.ldap;
  if (!ldap) return;
  const gone = () =>
    unauthorized("Your LDAP account is no longer allowed to use Gyre: ask an administrator.");
  if (ldap.goneAt) throw gone();
  const settings = await readSettings(gyre);
  const config = await ldapConfig(gyre);
  // LDAP sign-in switched off: nothing vouches for an LDAP account any more.
  if (!config)
    throw unauthorized("LDAP sign-in is no longer set up on this installation: sign in another way.");
  const stale = gyre.now() - Date.parse(ldap.checkedAt);
  if (stale < settings.ldap_recheck_seconds * 1000) return;
  if ((ldapRetryAt.get(principal.user.id) ?? 0) > gyre.now()) return;
  let found: Awaited<ReturnType<typeof ldapLookup>>;
  try {
    found = await ldapLookup(config, ldap.username);
  } catch (error) {
    if (!(error instanceof GyreError && error.code === "unavailable")) throw error;
    // An outage: the last answer stands for a while (asked again in LDAP_RETRY_MS, not on
    // every request), but not for ever.
    if (stale > Math.max(LDAP_MAX_STALE_MS, settings.ldap_recheck_seconds * 10_000))
      throw new GyreError("unavailable", "LDAP cannot be reached to check your account: try again later.");
    ldapRetryAt.set(principal.user.id, gyre.now() + LDAP_RETRY_MS);
    return;
  }
  ldapRetryAt.delete(principal.user.id);
  const at = new Date(gyre.now()).toISOString();
  // Another entry now answering to the username (the person left, someone else got the name)
  // is not this user: as gone as no entry at all.
  const same = found && (!ldap.id || ldapEntryId(found) === ldap.id);
  const next = same ? { ...ldap, checkedAt: at } : { ...ldap, goneAt: at };
  await tryUpdate(gyre, Keys.user(principal.user.id), { set: { ldap: next } });
  principal.user = { ...principal.user, ldap: next };
  if (!same) {
    // Nothing of theirs outlives it: their tokens and sessions go, not just refused for now.
    const tokens = await listTokens(gyre, principal.user.id);
    for (const token of tokens) await revokeToken(gyre, tokens, token.id);
    await endSessionsOf(gyre, principal.user.id);
    forgetUser(principal.user.id);
    cache.delete(key);
    throw gone();
  }
}

/** Forgets what this process remembers of a credential (after revoking it or signing out). */
export function forgetCredential(kind: "token" | "session", hash: string): void {
  cache.delete(`${kind === "token" ? "t" : "s"}:${hash}`);
}

/** Forgets every credential of a user this process remembers (suspended, deleted, role changed). */
export function forgetUser(userId: string): void {
  for (const [key, entry] of cache) if (entry.principal.user.id === userId) cache.delete(key);
}
