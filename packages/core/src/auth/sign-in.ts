/**
 * Signing in: with GitHub (OAuth authorization code flow with `state` and PKCE), with LDAP
 * (search then bind, ldap.ts), or with a token (the local runtime's printed one, for the UI).
 * Each ends in a user (users.ts `userForSignIn`) for whom the HTTP layer makes a session.
 *
 * A GitHub sign-in under way is one item, by the SHA-256 of its `state`, holding the PKCE
 * verifier and where to go after; it is good for OAUTH_STATE_SECONDS and once (the callback
 * deletes it before using it, so a replayed callback finds nothing).
 *
 * In LDAP-only mode (the `ldap` setting) users sign in with LDAP only; GitHub then only
 * connects an account to a signed-in user, as the reference's Accounts page does.
 */
import { randomBytes } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, forbidden, GyreError, notFound, unauthorized } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { encryptSecret } from "../secret/index.ts";
import { githubAuth, ldapConfig, readSettings } from "../settings/index.ts";
import { deleteItem, getItem, putItem } from "../store/index.ts";
import { Keys } from "../table.ts";
import { authorizationUrl, exchangeCode, githubIdentity, newPkce, orgMembership } from "./github-oauth.ts";
import { ldapEntryId, ldapSignIn } from "./ldap.ts";
import { forgetPermissions } from "./permission.ts";
import { hashToken } from "./tokens.ts";
import {
  connectGithub,
  githubTokenAad,
  readUser,
  type SignInResult,
  type User,
  userForSignIn,
} from "./users.ts";

export const OAUTH_STATE_SECONDS = 600;

const StateSchema = z.object({
  verifier: z.string(),
  returnTo: z.string(),
  redirectUri: z.string(),
  /** Set when a signed-in user connects their GitHub account: who, and from which session. */
  connectUserId: z.string().optional(),
  connectSession: z.string().optional(),
  expiresAt: z.number(),
});

/**
 * Where a sign-in may send the browser after: a path on Gyre itself, never another site. Only
 * printable ASCII is taken (a browser drops tabs and newlines from a URL, so `/\t/evil.example`
 * would be `//evil.example`), and never `//` or a backslash (which browsers read as `/`).
 */
export function safeReturnTo(value: string | undefined): string {
  if (!value || value.length > 1000 || !/^\/(?![/\\])[\x21-\x7e]*$/.test(value) || value.includes("\\"))
    return "/";
  return value;
}

/** Which ways to sign in this installation offers (for the sign-in page). */
export async function signInMethods(gyre: Gyre) {
  const settings = await readSettings(gyre);
  return {
    github: settings.github !== null && settings.ldap === null,
    ldap: settings.ldap !== null,
    /** After an LDAP sign-in, a GitHub account can be connected. */
    github_connect: settings.github !== null,
    token: true,
  };
}

/** Starts a GitHub sign-in (or, with `connectUser`, connecting GitHub): the URL to send the browser to. */
export async function startGithubSignIn(
  gyre: Gyre,
  input: {
    redirectUri: string;
    returnTo?: string;
    /** Connecting GitHub to this user, signed in with this session (its hash): the callback must come with it. */
    connect?: { user: User; sessionHash: string };
  },
): Promise<string> {
  const config = await githubAuth(gyre);
  if (!config)
    throw notFound("GitHub sign-in is not set up: an administrator sets `github` in the settings.");
  if (!input.connect && (await readSettings(gyre)).ldap)
    throw badRequest("This installation signs users in with LDAP: sign in with LDAP, then connect GitHub.");
  const state = randomBytes(24).toString("base64url");
  const pkce = newPkce();
  await putItem(gyre, {
    ...Keys.oauthState(hashToken(state)),
    verifier: pkce.verifier,
    returnTo: safeReturnTo(input.returnTo),
    redirectUri: input.redirectUri,
    ...(input.connect
      ? { connectUserId: input.connect.user.id, connectSession: input.connect.sessionHash }
      : {}),
    expiresAt: Math.floor(gyre.now() / 1000) + OAUTH_STATE_SECONDS,
  });
  return authorizationUrl(config, { state, redirectUri: input.redirectUri, codeChallenge: pkce.challenge });
}

export interface GithubSignIn extends SignInResult {
  returnTo: string;
  /** The GitHub account was connected to an already signed-in user. */
  connected: boolean;
}

/** GitHub's callback: checks the state, exchanges the code, and signs in or connects the user. */
export async function finishGithubSignIn(
  gyre: Gyre,
  input: { state?: string; code?: string; error?: string },
  /** The session the callback came with (its hash), if any: a connect must come with the one that started it. */
  sessionHash?: string,
): Promise<GithubSignIn> {
  if (input.error) throw unauthorized(`GitHub did not sign you in (${input.error.slice(0, 100)}).`);
  if (!input.state || !input.code) throw badRequest("The callback needs GitHub's code and state.");
  const key = Keys.oauthState(hashToken(input.state));
  const state = await getItem(gyre, key, StateSchema, "oauth state");
  // Single use: gone before the code is used, so a replayed callback finds nothing.
  if (
    !state ||
    !(await deleteItem(gyre, key, [{ path: "pk", exists: true }])) ||
    state.expiresAt * 1000 < gyre.now()
  )
    throw unauthorized("This sign-in has expired or was already used: sign in again.");
  const config = await githubAuth(gyre);
  if (!config) throw notFound("GitHub sign-in is not set up.");
  const { accessToken } = await exchangeCode(config, {
    code: input.code,
    redirectUri: state.redirectUri,
    codeVerifier: state.verifier,
  });
  const identity = await githubIdentity(config, accessToken);
  const settings = await readSettings(gyre);
  if (settings.required_orgs.length > 0) {
    const memberships = await Promise.all(
      settings.required_orgs.map((org) => orgMembership(config, accessToken, org).catch(() => undefined)),
    );
    if (!memberships.includes("active"))
      throw forbidden(
        `Only members of ${settings.required_orgs.join(", ")} may use this installation: ask an owner to add you to one.`,
      );
  }
  const now = new Date(gyre.now()).toISOString();
  const github = (userId: string) =>
    encryptSecret(gyre.keys, accessToken, githubTokenAad(userId)).then((token) => ({
      id: identity.id,
      login: identity.login,
      token,
      orgs: identity.orgs,
      connectedAt: now,
    }));
  if (state.connectUserId) {
    if (!sessionHash || sessionHash !== state.connectSession)
      throw unauthorized(
        "Connecting GitHub must finish in the session that started it: sign in and connect again.",
      );
    const user = await readUser(gyre, state.connectUserId);
    if (!user) throw unauthorized("Your session has ended: sign in again.");
    if (user.provider === "github" && user.github && user.github.id !== identity.id)
      throw badRequest("Your account signs in with GitHub: its GitHub account cannot be replaced.");
    const connected = await connectGithub(gyre, user, await github(user.id));
    await forgetPermissions(gyre, user.id);
    return { user: connected, created: false, connected: true, returnTo: state.returnTo };
  }
  // The token is sealed to the user's id, known only once the user is: signed in first, then sealed.
  const result = await userForSignIn(gyre, {
    provider: "github",
    externalId: String(identity.id),
    login: identity.login,
    name: identity.name,
    email: identity.email,
    fields: {},
  });
  const connected = await connectGithub(gyre, result.user, await github(result.user.id));
  await forgetPermissions(gyre, result.user.id);
  return {
    ...result,
    user: { ...connected, provider: result.user.provider },
    connected: false,
    returnTo: state.returnTo,
  };
}

/** An LDAP sign-in: the user LDAP says this is, refreshed (a user LDAP had dropped, back again). */
export async function signInWithLdap(gyre: Gyre, username: string, password: string): Promise<SignInResult> {
  const config = await ldapConfig(gyre);
  if (!config) throw notFound("LDAP sign-in is not set up: an administrator sets `ldap` in the settings.");
  const identity = await ldapSignIn(config, username, password);
  const now = new Date(gyre.now()).toISOString();
  // Keyed by the entry's own identity, not its username: someone given a departed user's
  // username later is another person, with another account.
  const id = ldapEntryId(identity);
  try {
    return await userForSignIn(gyre, {
      provider: "ldap",
      externalId: id,
      login: identity.username,
      name: identity.name,
      email: identity.email,
      fields: { ldap: { id, dn: identity.dn, username: identity.username, checkedAt: now } },
    });
  } catch (error) {
    if (error instanceof GyreError && error.code === "bad_request")
      throw badRequest(`LDAP user ${identity.username} has a name Gyre cannot use as a login.`);
    throw error;
  }
}
