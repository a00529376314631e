/**
 * Users and personal API tokens. A token is shown once at creation; only its SHA-256 is
 * stored, so a leaked table does not leak tokens. Clients send it as CircleCI clients do:
 * a `Circle-Token` header, HTTP basic auth with the token as user name, or `circle-token`.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, notFound, unauthorized } from "../error.ts";
import { Ids, parseStored, z } from "../protocol/schema.ts";
import { getItem, putItem, queryPage } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

/** A user, as the table holds it (`Keys.user`, listed under `Index.users`). */
export const UserSchema = z.object({
  id: z.string(),
  login: z.string(),
  name: z.string(),
  admin: z.boolean(),
  /** A builder agent's identity: may claim and report allocations, nothing else. */
  builder: z.boolean().optional(),
  createdAt: z.string(),
});
export type User = z.infer<typeof UserSchema>;

/** An API token as the table holds it (`Keys.token`, by the token's SHA-256; listed under `Index.tokensOf`). */
export const TokenItemSchema = z.object({ userId: z.string(), label: z.string() });
/** What authenticating with a token reads of it. */
const TokenOwnerSchema = TokenItemSchema.pick({ userId: true });

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export async function createUser(
  gyre: Gyre,
  input: { login: string; name?: string; admin?: boolean; builder?: boolean },
): Promise<User> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(input.login))
    throw badRequest(`Invalid login "${input.login}".`);
  const user: User = {
    id: randomUUID(),
    login: input.login,
    name: input.name ?? input.login,
    admin: input.admin ?? false,
    ...(input.builder ? { builder: true } : {}),
    createdAt: new Date(gyre.now()).toISOString(),
  };
  await putItem(gyre, { ...Keys.user(user.id), gsi1pk: Index.users(), gsi1sk: user.login, ...user });
  return user;
}

/** Issues a new token for a user; the returned value is the only copy in clear. */
export async function createToken(gyre: Gyre, userId: string, label: string): Promise<string> {
  const token = `gyre_${randomBytes(24).toString("hex")}`;
  await putItem(gyre, {
    ...Keys.token(hashToken(token)),
    gsi1pk: Index.tokensOf(userId),
    gsi1sk: new Date(gyre.now()).toISOString(),
    userId,
    label,
  });
  return token;
}

/**
 * Token → user, remembered for a short while per process: every agent and API request
 * authenticates, and two reads each would dominate the read cost of a job. A revoked or
 * removed token therefore keeps working for at most AUTH_CACHE_MS in a process that saw it.
 */
export const AUTH_CACHE_MS = 30_000;
const authCache = new Map<string, { user: User; expires: number }>();

export async function authenticate(gyre: Gyre, token: string | undefined): Promise<User> {
  if (!token) throw unauthorized();
  const hash = hashToken(token);
  const cached = authCache.get(hash);
  if (cached && cached.expires > gyre.now()) return cached.user;
  const user = await lookUp(gyre, hash);
  if (authCache.size >= 10_000) authCache.clear();
  authCache.set(hash, { user, expires: gyre.now() + AUTH_CACHE_MS });
  return user;
}

/** Token → user in two eventually consistent reads (the cache above tolerates staleness anyway). */
async function lookUp(gyre: Gyre, hash: string): Promise<User> {
  const eventually = { consistent: false };
  const token = await getItem(gyre, Keys.token(hash), TokenOwnerSchema, "api token", eventually);
  if (!token) throw unauthorized("Invalid token provided.");
  const user = await getItem(gyre, Keys.user(token.userId), UserSchema, "user", eventually);
  if (!user) throw unauthorized("Invalid token provided.");
  const { id, login, name, admin, builder, createdAt } = user;
  return { id, login, name, admin, ...(builder ? { builder } : {}), createdAt };
}

/**
 * `GET /user/{id}`: a person's account. A builder's identity is not a person's and is not shown;
 * neither is anything that is not a UUID (404, as for an unknown id).
 */
export async function getUser(gyre: Gyre, id: string): Promise<User> {
  const user = Ids.uuid.safeParse(id).success
    ? await getItem(gyre, Keys.user(id.toLowerCase()), UserSchema, "user", { consistent: false })
    : undefined;
  if (!user || user.builder) throw notFound(`User ${id.slice(0, 64)} not found.`);
  return user;
}

/**
 * The person whose login is `login` (the oldest, should an operator have given two the same
 * login), for attributing a webhook's push to a Gyre user; undefined when there is none.
 */
export async function findUserByLogin(gyre: Gyre, login: string): Promise<User | undefined> {
  const page = await queryPage(gyre, {
    index: "gsi1",
    partition: Index.users(),
    sort: { eq: login },
    limit: 10,
  });
  return page.items
    .map((raw) => parseStored(UserSchema, raw, "user"))
    .filter((u) => !u.builder)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
}

/** CircleCI API v2 `User` shape (`GET /me`, `GET /user/{id}`). */
export const userJson = (u: User) => ({ id: u.id, login: u.login, name: u.name });
