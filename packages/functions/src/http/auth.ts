/**
 * Signing in and out (core/src/auth/sign-in.ts), under `/api/gyre/auth`:
 *
 *   GET  /methods              which ways to sign in this installation offers
 *   GET  /github               → 302 to GitHub's authorize page (`?return_to=/path`; `?connect=true`
 *                               with a session connects GitHub to the signed-in user)
 *   GET  /github/callback      GitHub's redirect back: signs in, sets the session cookie, → return_to
 *   POST /ldap                 {username, password}: signs in with LDAP, sets the session cookie
 *   POST /token                {token}: a personal token's user gets a session (the UI, locally)
 *   GET  /session              the signed-in user and the session's CSRF token
 *   POST /logout               ends the session, clears the cookie
 *
 * Each sign-in is an audit record (`user.logged_in`, and `user.create` for a new account); a
 * sign-out `user.logged_out`. A refused sign-in says why (wrong credentials: 401; suspended,
 * awaiting activation, outside the required organizations or group: 403) and makes no session.
 */
import {
  authenticate,
  createSession,
  endSession,
  forgetCredential,
  forgetUser,
  readSession,
  refuseUnlessActive,
  SESSION_COOKIE,
  type User,
  userJson,
} from "@gyre/core/auth/index";
import {
  finishGithubSignIn,
  OAUTH_STATE_SECONDS,
  signInMethods,
  signInWithLdap,
  startGithubSignIn,
} from "@gyre/core/auth/sign-in";
import { badRequest, unauthorized } from "@gyre/core/error";
import { z } from "@gyre/core/protocol/schema";
import { readSettings } from "@gyre/core/settings/index";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { allow, principalOf } from "./access.ts";
import { baseUrl } from "./api-v2.ts";
import { auditRequest, type Env, parseBody, parseQuery } from "./context.ts";

/** The state of the GitHub sign-in this browser started. */
const STATE_COOKIE = "gyre_oauth_state";

const LdapBody = z.object({ username: z.string().min(1).max(256), password: z.string().max(1024) }).strict();
const TokenBody = z.object({ token: z.string().min(1).max(200) }).strict();
const StartQuery = z.object({
  return_to: z.string().max(1000).optional(),
  connect: z.enum(["true", "false"]).optional(),
});
const CallbackQuery = z.object({
  code: z.string().max(500).optional(),
  state: z.string().max(500).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(1000).optional(),
});

/** Whether the browser reached Gyre over TLS (directly, or through API Gateway / a proxy that says so). */
const overTls = (c: Context<Env>) =>
  new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";

const userAnswer = (user: User, csrfToken: string, expiresAt: number) => ({
  user: { ...userJson(user), role: user.admin ? "admin" : "normal", provider: user.provider },
  csrf_token: csrfToken,
  expires_at: new Date(expiresAt * 1000).toISOString(),
});

/**
 * A sign-in's JSON body, sent as JSON: a cross-site form can post text/plain that parses as JSON
 * but cannot set this content type without the preflight Gyre does not answer, so another site
 * cannot sign a visitor's browser in as someone else (login CSRF).
 */
function signInBody<S extends z.ZodType>(c: Context<Env>, schema: S) {
  if (!/^application\/json\s*(;|$)/i.test(c.req.header("content-type") ?? ""))
    throw badRequest("Send the sign-in as JSON, with Content-Type: application/json.");
  return parseBody(c, schema);
}

/** Makes the session, sets its cookie, and records the sign-in. */
async function signIn(c: Context<Env>, user: User, created: boolean, method: string, viaToken?: string) {
  const gyre = c.get("gyre");
  c.set("user", user);
  const target = { id: user.id, type: "user", name: user.login };
  // A new account is recorded even when it must wait for an administrator (suspended-new).
  if (created) await auditRequest(c, { action: "user.create", target, payload: { provider: user.provider } });
  refuseUnlessActive(user);
  const { session_hours } = await readSettings(gyre);
  const { cookie, session } = await createSession(gyre, user.id, session_hours, viaToken);
  setCookie(c, SESSION_COOKIE, cookie, {
    httpOnly: true,
    secure: overTls(c),
    sameSite: "Lax",
    path: "/",
    maxAge: session_hours * 3600,
  });
  await auditRequest(c, { action: "user.logged_in", target, payload: { method } });
  return userAnswer(user, session.csrfToken, session.expiresAt);
}

export function authRoutes() {
  const app = new Hono<Env>();
  const callbackUrl = (c: Context<Env>) =>
    `${c.get("gyre").resources.apiUrl ?? baseUrl(c.req.url)}/api/gyre/auth/github/callback`;

  app.get("/methods", allow.anonymous("what the sign-in page offers: no data"), async (c) =>
    c.json(await signInMethods(c.get("gyre"))),
  );

  app.get("/github", allow.anonymous("starts a sign-in; connecting checks the session here"), async (c) => {
    const query = parseQuery(c, StartQuery);
    // Connecting takes the browser's session (never a token: a token in a link would let anyone
    // holding it attach their GitHub account to its owner).
    let connect: { user: User; sessionHash: string } | undefined;
    if (query.connect === "true") {
      const session = getCookie(c, SESSION_COOKIE);
      const principal = session ? await authenticate(c.get("gyre"), { session }) : undefined;
      if (!principal?.session) throw unauthorized("Sign in first: connecting GitHub needs your session.");
      connect = { user: principal.user, sessionHash: principal.session.hash };
    }
    const url = await startGithubSignIn(c.get("gyre"), {
      redirectUri: callbackUrl(c),
      returnTo: query.return_to,
      connect,
    });
    // The state also goes into this browser's cookie: a callback URL someone else started (to
    // sign this browser in as them) finds no cookie to match and is refused.
    setCookie(c, STATE_COOKIE, new URL(url).searchParams.get("state")!, {
      httpOnly: true,
      secure: overTls(c),
      sameSite: "Lax",
      path: "/api/gyre/auth/github",
      maxAge: OAUTH_STATE_SECONDS,
    });
    return c.redirect(url, 302);
  });

  app.get(
    "/github/callback",
    allow.anonymous("GitHub's redirect: its state and code are checked here"),
    async (c) => {
      const query = parseQuery(c, CallbackQuery);
      const started = getCookie(c, STATE_COOKIE);
      deleteCookie(c, STATE_COOKIE, { path: "/api/gyre/auth/github", secure: overTls(c) });
      if (!query.error && (!started || started !== query.state))
        throw unauthorized("This sign-in was not started in this browser: sign in again.");
      const cookie = getCookie(c, SESSION_COOKIE);
      const session = cookie ? await readSession(c.get("gyre"), cookie) : undefined;
      const result = await finishGithubSignIn(c.get("gyre"), query, session?.hash);
      if (result.connected) {
        forgetUser(result.user.id); // their sessions now carry a GitHub account
        c.set("user", result.user);
        await auditRequest(c, {
          action: "user.github.connect",
          target: { id: result.user.id, type: "user", name: result.user.login },
          payload: { github_login: result.user.github?.login },
        });
        return c.redirect(result.returnTo, 302);
      }
      await signIn(c, result.user, result.created, "github");
      return c.redirect(result.returnTo, 302);
    },
  );

  app.post("/ldap", allow.anonymous("the credentials are checked here, against LDAP"), async (c) => {
    const body = await signInBody(c, LdapBody);
    if (body.password === "") throw unauthorized("Invalid username or password.");
    const { user, created } = await signInWithLdap(c.get("gyre"), body.username, body.password);
    return c.json(await signIn(c, user, created, "ldap"));
  });

  app.post("/token", allow.anonymous("the token is checked here"), async (c) => {
    const body = await signInBody(c, TokenBody);
    const principal = await authenticate(c.get("gyre"), { token: body.token });
    if (principal.user.builder || (principal.token && principal.token.kind !== "personal"))
      throw badRequest("Only a person's personal token signs in.");
    return c.json(await signIn(c, principal.user, false, "token", principal.token?.hash));
  });

  app.get("/session", allow.user(), async (c) => {
    const principal = await principalOf(c);
    if (!principal.session) throw badRequest("This request carries a token, not a session cookie.");
    return c.json(userAnswer(principal.user, principal.session.csrfToken, principal.session.expiresAt));
  });

  app.post("/logout", allow.user(), async (c) => {
    const principal = await principalOf(c);
    if (!principal.session)
      throw badRequest("This request carries a token, not a session cookie: revoke the token instead.");
    await endSession(c.get("gyre"), principal.session.hash);
    forgetCredential("session", principal.session.hash);
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: overTls(c) });
    const user = principal.user;
    await auditRequest(c, {
      action: "user.logged_out",
      target: { id: user.id, type: "user", name: user.login },
    });
    return c.json({ message: "Signed out." });
  });

  return app;
}
