/**
 * People: who they are (a GitHub account, an LDAP entry, or a local account such as the local
 * runtime's administrator and `gyre admin bootstrap`'s), their role and their state, as the
 * reference's "Managing User Accounts" has them:
 *
 *   active ──suspend──► suspended ──activate──► active
 *   (new, when "suspend new users" is on) suspended-new ──activate──► active
 *
 * "inactive" is not stored: it is an active user not seen for INACTIVE_DAYS. Suspended users
 * cannot sign in or use tokens and are not counted as seats. The first person to sign in with
 * GitHub or LDAP becomes an administrator (the reference's rule), decided by one conditional
 * write so that two first sign-ins at once make one administrator.
 */
import { randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, forbidden, notFound } from "../error.ts";
import { Ids, parseStored, z } from "../protocol/schema.ts";
import { readSettings } from "../settings/index.ts";
import {
  deleteItem,
  deleteItems,
  getItem,
  type Key,
  putItem,
  putNew,
  queryAll,
  queryPage,
  queryRaw,
  tryUpdate,
} from "../store/index.ts";
import { Index, Keys, Partitions } from "../table.ts";
import { listTokens, revokeToken } from "./tokens.ts";

export const USER_STATES = ["active", "suspended", "suspended-new"] as const;
export type UserState = (typeof USER_STATES)[number];
/** An active user not seen for this long is listed as inactive. */
export const INACTIVE_DAYS = 30;

/** A user, as the table holds it (`Keys.user`, listed under `Index.users`). */
export const UserSchema = z.object({
  id: z.string(),
  login: z.string(),
  name: z.string(),
  admin: z.boolean(),
  /** A builder agent's identity: may claim and report allocations, nothing else. */
  builder: z.boolean().optional(),
  createdAt: z.string(),
  state: z.enum(USER_STATES).default("active"),
  /** How the user signs in: `local` accounts only with tokens. */
  provider: z.enum(["local", "github", "ldap"]).default("local"),
  email: z.string().optional(),
  /** Their GitHub account: signed in with, or connected after an LDAP sign-in. */
  github: z
    .object({
      id: z.number().int(),
      login: z.string(),
      /** Their OAuth token, sealed to the user (`githubTokenAad`): read repository permissions with. */
      token: z.string().optional(),
      orgs: z.array(z.string()).default([]),
      connectedAt: z.string(),
    })
    .optional(),
  ldap: z
    .object({
      /** The entry's own identity (its entryUUID or objectGUID, else its DN): the sign-in identity's key. */
      id: z.string().optional(),
      dn: z.string(),
      username: z.string(),
      /** When LDAP last said they are there (and in the required group). */
      checkedAt: z.string(),
      /** When LDAP said they are gone: refused until they sign in again successfully. */
      goneAt: z.string().optional(),
    })
    .optional(),
  lastSeenAt: z.string().optional(),
  /** When the state last changed, and by whom (a user id). */
  stateChangedAt: z.string().optional(),
});
export type User = z.infer<typeof UserSchema>;

const LOGIN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/;

/** What a user's GitHub token is sealed to. */
export const githubTokenAad = (userId: string) => `user:${userId}:github-token`;

export async function createUser(
  gyre: Gyre,
  input: {
    login: string;
    name?: string;
    admin?: boolean;
    builder?: boolean;
    state?: UserState;
    provider?: User["provider"];
    email?: string;
  },
): Promise<User> {
  if (!LOGIN.test(input.login)) throw badRequest(`Invalid login "${input.login.slice(0, 80)}".`);
  const user: User = {
    id: randomUUID(),
    login: input.login,
    name: input.name ?? input.login,
    admin: input.admin ?? false,
    ...(input.builder ? { builder: true } : {}),
    createdAt: new Date(gyre.now()).toISOString(),
    state: input.state ?? "active",
    provider: input.provider ?? "local",
    ...(input.email ? { email: input.email } : {}),
  };
  await putItem(gyre, { ...Keys.user(user.id), gsi1pk: Index.users(), gsi1sk: user.login, ...user });
  return user;
}

/** The user item as stored, or undefined. */
export const readUser = (gyre: Gyre, id: string, consistent = true) =>
  getItem(gyre, Keys.user(id), UserSchema, "user", { consistent });

/**
 * `GET /user/{id}`: a person's account. A builder's identity is not a person's and is not shown;
 * neither is anything that is not a UUID (404, as for an unknown id).
 */
export async function getUser(gyre: Gyre, id: string): Promise<User> {
  const user = Ids.uuid.safeParse(id).success ? await readUser(gyre, id.toLowerCase(), false) : undefined;
  if (!user || user.builder) throw notFound(`User ${id.slice(0, 64)} not found.`);
  return user;
}

/**
 * The person whose login is `login` (the oldest, should two have the same login), for
 * attributing a webhook's push to a Gyre user; undefined when there is none.
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

/** Every person (builders' identities left out), by login. */
export async function listUsers(gyre: Gyre): Promise<User[]> {
  const users: User[] = [];
  for await (const user of queryAll(gyre, { index: "gsi1", partition: Index.users() }, UserSchema, "user"))
    if (!user.builder) users.push(user);
  return users;
}

/** active / inactive / suspended / suspended-new, as the users list shows a user. */
export function shownState(gyre: Gyre, user: User): UserState | "inactive" {
  if (user.state !== "active") return user.state;
  const seen = Date.parse(user.lastSeenAt ?? user.createdAt);
  return gyre.now() - seen > INACTIVE_DAYS * 86_400_000 ? "inactive" : "active";
}

/** Users counted against seats: everyone not suspended. */
export const seatsOf = (users: readonly User[]) => users.filter((u) => u.state === "active").length;

/** CircleCI API v2 `User` shape (`GET /me`, `GET /user/{id}`). */
export const userJson = (u: User) => ({ id: u.id, login: u.login, name: u.name });

/** A user as administrators see them (`GET /api/gyre/users`): never their GitHub token. */
export const userAdminJson = (gyre: Gyre, u: User) => ({
  id: u.id,
  login: u.login,
  name: u.name,
  email: u.email ?? null,
  role: u.admin ? "admin" : "normal",
  state: shownState(gyre, u),
  provider: u.provider,
  github_login: u.github?.login ?? null,
  ldap_dn: u.ldap?.dn ?? null,
  created_at: u.createdAt,
  last_seen_at: u.lastSeenAt ?? null,
});

/**
 * Refuses a change that would leave the installation without an active administrator (the one
 * `user` is, about to be suspended, demoted or deleted). Two administrators acting on each other
 * at the same moment can still both succeed: `gyre admin bootstrap --force` makes a new one.
 */
async function keepAnAdministrator(gyre: Gyre, user: User, doing: string): Promise<void> {
  if (!user.admin || user.state !== "active") return;
  const others = (await listUsers(gyre)).filter((u) => u.admin && u.state === "active" && u.id !== user.id);
  if (others.length === 0)
    throw conflict(`${user.login} is the only active administrator: make another one before ${doing} them.`);
}

/** A person by id for an administrator's procedure: 404 for builders and unknown ids. */
export async function personById(gyre: Gyre, id: string): Promise<User> {
  return getUser(gyre, id);
}

/**
 * Suspends or activates a user (activating also admits a suspended new user). Answers the user
 * as they are after the change; an administrator cannot suspend themselves (someone must stay).
 */
export async function setUserState(
  gyre: Gyre,
  id: string,
  state: "active" | "suspended",
  by: User,
): Promise<User> {
  const user = await personById(gyre, id);
  if (state === "suspended" && user.id === by.id)
    throw badRequest("You cannot suspend yourself: another administrator must.");
  if (user.state === state) return user;
  if (state === "suspended") await keepAnAdministrator(gyre, user, "suspending");
  const at = new Date(gyre.now()).toISOString();
  await tryUpdate(gyre, Keys.user(user.id), { set: { state, stateChangedAt: at } });
  return { ...user, state, stateChangedAt: at };
}

/** Makes a user an administrator or a normal user; the last active administrator stays one. */
export async function setUserRole(gyre: Gyre, id: string, role: "admin" | "normal", by: User): Promise<User> {
  const user = await personById(gyre, id);
  const admin = role === "admin";
  if (user.admin === admin) return user;
  if (!admin && user.id === by.id) throw badRequest("You cannot remove your own administrator role.");
  if (!admin) await keepAnAdministrator(gyre, user, "demoting");
  await tryUpdate(gyre, Keys.user(user.id), { set: { admin } });
  // Their operator tokens were an administrator's: they go with the role.
  if (!admin) {
    const tokens = await listTokens(gyre, user.id);
    for (const token of tokens.filter((t) => t.kind === "operator"))
      await revokeToken(gyre, tokens, token.id);
  }
  return { ...user, admin };
}

/**
 * Deletes a user and everything that is theirs: tokens, sessions, sign-in identities, SSH
 * keys, follows, cached permissions. Their pipelines stay (attributed by login, as pushes are).
 * The user item goes last, so a failure half-way leaves a user that can be deleted again.
 */
export async function deleteUser(gyre: Gyre, id: string, by: User): Promise<Record<string, number>> {
  const user = await personById(gyre, id);
  if (user.id === by.id) throw badRequest("You cannot delete yourself: another administrator must.");
  await keepAnAdministrator(gyre, user, "deleting");
  const keys: Key[] = [];
  const removed: Record<string, number> = {};
  const add = (kind: string, key: Key) => {
    removed[kind] = (removed[kind] ?? 0) + 1;
    keys.push(key);
  };
  for (const partition of [Index.tokensOf(user.id), Index.sessionsOf(user.id)])
    for await (const item of queryRaw(gyre, { index: "gsi1", partition }))
      add(String(item.pk).split("#")[0]!, { pk: String(item.pk), sk: String(item.sk) });
  for await (const item of queryRaw(gyre, { partition: Partitions.user(user.id), consistent: true }))
    if (item.sk !== "USER") add(String(item.sk).split("#")[0]!, { pk: String(item.pk), sk: String(item.sk) });
  if (user.github) add("IDENTITY", Keys.identity("github", String(user.github.id)));
  if (user.ldap) add("IDENTITY", Keys.identity("ldap", (user.ldap.id ?? user.ldap.username).toLowerCase()));
  await deleteItems(gyre, keys);
  await deleteItem(gyre, Keys.user(user.id));
  return removed;
}

const IdentitySchema = z.object({ userId: z.string() });

/**
 * Takes the first-administrator mark; true for the one caller that takes it. An installation
 * that made its administrator itself (the local runtime's, `gyre admin bootstrap`) takes it
 * then, so nobody who merely signs in first becomes an administrator beside them.
 */
export const claimFirstAdmin = (gyre: Gyre) =>
  putNew(gyre, { ...Keys.firstAdmin(), at: new Date(gyre.now()).toISOString() });

/** What a sign-in learned of the person, from GitHub or LDAP. */
export interface SignInIdentity {
  provider: "github" | "ldap";
  /** GitHub's numeric account id, or the LDAP entry's entryUUID / objectGUID, else its DN (case-insensitive). */
  externalId: string;
  login: string;
  name?: string;
  email?: string;
  /** Fields of the user item the provider keeps fresh (`github`, `ldap`). */
  fields: Partial<Pick<User, "github" | "ldap">>;
}

export interface SignInResult {
  user: User;
  /** A new account was made (audit `user.create`). */
  created: boolean;
}

/**
 * The user a successful sign-in is for: found by their identity and refreshed, or created (the
 * first one an administrator; later ones `suspended-new` when the setting says so). Whether they
 * may have a session is `refuseUnlessActive`'s to say, after the caller has recorded a new
 * account (a suspended new one exists for an administrator to activate).
 */
export async function userForSignIn(gyre: Gyre, identity: SignInIdentity): Promise<SignInResult> {
  const identityKey = Keys.identity(identity.provider, identity.externalId.toLowerCase());
  const now = new Date(gyre.now()).toISOString();
  const known = await getItem(gyre, identityKey, IdentitySchema, "sign-in identity");
  let user = known ? await readUser(gyre, known.userId) : undefined;
  let created = false;
  if (!user) {
    if (!LOGIN.test(identity.login)) throw badRequest(`Invalid login "${identity.login.slice(0, 80)}".`);
    const first = await claimFirstAdmin(gyre);
    const settings = await readSettings(gyre);
    const candidate = await createUser(gyre, {
      login: identity.login,
      name: identity.name,
      email: identity.email,
      admin: first,
      provider: identity.provider,
      state: !first && settings.suspend_new_users ? "suspended-new" : "active",
    });
    await tryUpdate(gyre, Keys.user(candidate.id), { set: { ...identity.fields, lastSeenAt: now } });
    if (!(await putNew(gyre, { ...identityKey, userId: candidate.id }))) {
      // Someone signed in as the same person at the same moment: theirs is the account.
      await deleteItem(gyre, Keys.user(candidate.id));
      return userForSignIn(gyre, identity);
    }
    user = { ...candidate, ...identity.fields, lastSeenAt: now };
    created = true;
  } else {
    const changes = {
      name: identity.name ?? user.name,
      ...(identity.email ? { email: identity.email } : {}),
      ...identity.fields,
      lastSeenAt: now,
    };
    await tryUpdate(gyre, Keys.user(user.id), { set: changes });
    user = { ...user, ...changes };
  }
  return { user, created };
}

/** A suspended user, or a new one waiting for activation, gets no session (403, saying which). */
export function refuseUnlessActive(user: User): void {
  if (user.state === "suspended")
    throw forbidden("Your account is suspended: ask an administrator to reactivate it.");
  if (user.state === "suspended-new")
    throw forbidden("Your account waits for an administrator to activate it.");
}

/**
 * Connects a GitHub account to a signed-in (LDAP) user, as the reference's Accounts page does.
 * One GitHub account belongs to one user: connecting one another user has is refused (409).
 */
export async function connectGithub(
  gyre: Gyre,
  user: User,
  github: NonNullable<User["github"]>,
): Promise<User> {
  const key = Keys.identity("github", String(github.id));
  const owner = await getItem(gyre, key, IdentitySchema, "sign-in identity");
  if (owner && owner.userId !== user.id)
    throw conflict(`GitHub account ${github.login} is connected to another Gyre user.`);
  // Taken with a conditional write: two users connecting one GitHub account at once get one.
  if (!owner && !(await putNew(gyre, { ...key, userId: user.id })))
    throw conflict(`GitHub account ${github.login} was just connected to another Gyre user.`);
  if (user.github && user.github.id !== github.id)
    await deleteItem(gyre, Keys.identity("github", String(user.github.id)));
  await tryUpdate(gyre, Keys.user(user.id), { set: { github } });
  return { ...user, github };
}
