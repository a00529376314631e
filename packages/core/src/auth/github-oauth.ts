/**
 * Signing in with GitHub or GitHub Enterprise Server, the protocol part (no table access): an
 * OAuth app's authorization-code flow with PKCE (RFC 7636, S256), then who the user is, which
 * organizations they belong to, and what they may do in a repository, read with the user's token.
 *
 * - `authorizationUrl`: where the browser is sent (`<web>/login/oauth/authorize`);
 * - `exchangeCode`: the code GitHub redirected back with, for the user's token
 *   (`<web>/login/oauth/access_token`);
 * - `githubIdentity`, `orgMembership`, `repositoryPermission`: REST calls with that token, through
 *   the GitHub client (client.ts: proxies, the private CA, bounded timeouts and retries).
 *
 * The token and the client secret are only ever sent, never said: the token goes in the
 * Authorization header alone, the secret in the exchange's body alone, and no error message
 * carries either (GitHub's failures are described by method, path, status and GitHub's words).
 */
import { createHash, randomBytes } from "node:crypto";
import { badRequest, GyreError, unauthorized } from "../error.ts";
import type { ClientOptions, GithubClient } from "../github/client.ts";
import { describeGithubError } from "../github/errors.ts";

export interface GithubOAuthConfig {
  /** API base: https://api.github.com or https://HOST/api/v3 (GitHub Enterprise Server). */
  api_url: string;
  /** Web base for /login/oauth/*: https://github.com, or https://HOST for GHE; `githubWebUrl(api_url)` when not given. */
  web_url?: string;
  client_id: string;
  client_secret: string;
  /** PEM of a private CA for GHE, trusted besides the system's (as a project's `ca_pem`). */
  ca?: string;
}

/**
 * The scopes asked for: those of CircleCI's GitHub OAuth app, `repo` and `user:email`, and
 * `read:org`, which Gyre needs besides.
 *
 * CircleCI's documentation ("GitHub OAuth app integration overview", Permissions overview,
 * circleci.com/docs/github-integration) lists what the app does rather than naming scopes: read a
 * user's email address (`user:email`); list the user's repositories, public and private, and add
 * deploy keys and service hooks (all `repo`, which it says is the only scope that lists private
 * repositories: GitHub has no read-only one); add an SSH key to the user's account (asked for
 * separately, only when a user key is made). Its authorize URL asks for `repo,user:email`.
 * `admin:repo_hook` is not needed: `repo` already grants repository webhooks.
 *
 * `read:org` is Gyre's own: `GET /user/orgs` answers 403 to an OAuth token with neither `user`
 * nor `read:org` (GitHub REST reference, "List organizations for the authenticated user"), and
 * `GET /user/memberships/orgs/{org}` is how a sign-in is checked against an organization.
 */
export const GITHUB_OAUTH_SCOPES: readonly string[] = Object.freeze(["repo", "user:email", "read:org"]);

const trimSlashes = (url: string) => url.replace(/\/+$/, "");

function parseUrl(url: string, what: string): URL {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new Error("not http(s)");
    return parsed;
  } catch {
    throw badRequest(`Invalid GitHub ${what} "${url}": expected an http(s):// URL.`);
  }
}

/**
 * The web base of an API base: https://api.github.com → https://github.com;
 * https://HOST/api/v3 → https://HOST (GitHub Enterprise Server); https://api.SUB.ghe.com →
 * https://SUB.ghe.com (GitHub Enterprise Cloud with data residency); anything else → its origin.
 */
export function githubWebUrl(apiUrl: string): string {
  const url = parseUrl(apiUrl, "API URL");
  const path = trimSlashes(url.pathname);
  if (url.hostname === "api.github.com") return "https://github.com";
  const residency = /^api\.([^.]+\.ghe\.com)$/i.exec(url.hostname);
  if (residency) return `${url.protocol}//${residency[1]}${url.port ? `:${url.port}` : ""}`;
  if (/\/api\/v3$/i.test(path)) return `${url.origin}${path.replace(/\/api\/v3$/i, "")}`;
  return url.origin;
}

const webUrlOf = (config: GithubOAuthConfig) =>
  trimSlashes(config.web_url ? parseUrl(config.web_url, "web URL").href : githubWebUrl(config.api_url));

const base64url = (bytes: Buffer) => bytes.toString("base64url");
const s256 = (verifier: string) => base64url(createHash("sha256").update(verifier, "ascii").digest());

/** A PKCE pair (RFC 7636): a 43-character verifier (32 random bytes) and its S256 challenge. */
export function newPkce(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: s256(verifier) };
}

/** RFC 7636 §4.1/§4.2: 43 to 128 unreserved characters (a challenge is 43). */
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * Where to send the browser: GitHub's authorize page for this app, asking for
 * `GITHUB_OAUTH_SCOPES`, with the caller's `state` (checked when GitHub redirects back) and the
 * PKCE challenge (S256). `allow_signup=false`: a CI server's sign-in is no place to make accounts.
 */
export function authorizationUrl(
  config: GithubOAuthConfig,
  input: { state: string; redirectUri: string; codeChallenge: string },
): string {
  if (!input.state) throw badRequest("An OAuth state is required.");
  if (!PKCE_VALUE.test(input.codeChallenge)) throw badRequest("Invalid PKCE code challenge.");
  parseUrl(input.redirectUri, "redirect URI");
  const query = new URLSearchParams({
    client_id: config.client_id,
    redirect_uri: input.redirectUri,
    scope: GITHUB_OAUTH_SCOPES.join(" "),
    state: input.state,
    code_challenge: input.codeChallenge,
    code_challenge_method: "S256",
    allow_signup: "false",
  });
  return `${webUrlOf(config)}/login/oauth/authorize?${query}`;
}

/** `text` with each secret replaced, should GitHub ever echo one back. */
function scrub(text: string, secrets: string[]): string {
  let said = text;
  for (const secret of secrets) if (secret.length >= 4) said = said.split(secret).join("[redacted]");
  return said.slice(0, 500);
}

/**
 * The user's token for the code GitHub redirected back with: `POST <web>/login/oauth/access_token`
 * (form-encoded, `Accept: application/json`) with the app's credentials, the code, the redirect
 * URI it was given for and the PKCE verifier. GitHub answers a refused exchange (a bad, used or
 * expired code, a wrong verifier, wrong app credentials, another redirect URI) with 200 and
 * `{error, error_description}`: that is `unauthorized` with GitHub's description. GitHub not
 * answering, or answering something else, is `unavailable`. Not retried: a code is good once.
 */
export async function exchangeCode(
  config: GithubOAuthConfig,
  input: { code: string; redirectUri: string; codeVerifier: string },
  options: ClientOptions = {},
): Promise<{ accessToken: string; scopes: string[] }> {
  if (!input.code) throw unauthorized("GitHub sent no authorization code: sign in again.");
  if (!PKCE_VALUE.test(input.codeVerifier)) throw badRequest("Invalid PKCE code verifier.");
  const web = webUrlOf(config);
  const secrets = [config.client_secret, input.code, input.codeVerifier];
  const { dispatcherFor } = await import("../github/client.ts");
  const { fetch } = await import("undici");
  const dispatcher = dispatcherFor(config.ca, options.env ?? process.env);
  const endpoint = `${web}/login/oauth/access_token`;
  const failed = (why: string) =>
    new GyreError(
      "unavailable",
      scrub(`GitHub could not be reached to finish signing in (POST ${endpoint}): ${why}`, secrets),
    );
  let status: number;
  let text: string;
  try {
    const response = await fetch(endpoint, {
      method: "POST",
      dispatcher,
      redirect: "error",
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      headers: {
        accept: "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "gyre",
      },
      body: new URLSearchParams({
        client_id: config.client_id,
        client_secret: config.client_secret,
        code: input.code,
        redirect_uri: input.redirectUri,
        code_verifier: input.codeVerifier,
      }).toString(),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const why =
      e.name === "TimeoutError" || e.name === "AbortError"
        ? "no answer in time"
        : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(error));
    throw failed(why);
  } finally {
    dispatcher.close().catch(() => {});
  }
  if (status !== 200) throw failed(`answered ${status}`);
  let answer: { access_token?: unknown; token_type?: unknown; scope?: unknown; error?: unknown } & Record<
    string,
    unknown
  >;
  try {
    answer = JSON.parse(text);
  } catch {
    throw failed("the answer was not JSON (is the web URL GitHub's?)");
  }
  if (!answer || typeof answer !== "object") throw failed("the answer was not a JSON object");
  if (typeof answer.error === "string") {
    const description =
      typeof answer.error_description === "string" ? answer.error_description : "no reason given";
    throw unauthorized(
      scrub(`GitHub refused the sign-in: ${description} (${answer.error}). Sign in again.`, secrets),
    );
  }
  if (typeof answer.access_token !== "string" || !answer.access_token)
    throw failed("the answer had no access token");
  if (typeof answer.token_type === "string" && answer.token_type.toLowerCase() !== "bearer")
    throw failed(`unexpected token type "${answer.token_type}"`);
  const scopes = typeof answer.scope === "string" ? answer.scope.split(/[\s,]+/).filter(Boolean) : [];
  return { accessToken: answer.access_token, scopes };
}

export interface GithubIdentity {
  id: number;
  login: string;
  name?: string;
  /** The primary verified address from /user/emails, else /user's (public) one. */
  email?: string;
  avatarUrl?: string;
  /** Logins of the organizations /user/orgs lists (all pages). */
  orgs: string[];
}

async function clientFor(config: GithubOAuthConfig, accessToken: string, options: ClientOptions) {
  if (!accessToken) throw unauthorized("No GitHub token: sign in again.");
  const { githubClient } = await import("../github/client.ts");
  return githubClient(
    { apiUrl: trimSlashes(config.api_url), token: accessToken, ...(config.ca ? { caPem: config.ca } : {}) },
    options,
  );
}

const statusOf = (error: unknown) => (error as { status?: number }).status;

/** A 403 that is GitHub's rate limit (the client waited what it could), not a refusal. */
const rateLimited = (error: unknown) => {
  const headers = (error as { response?: { headers?: Record<string, string | undefined> } }).response
    ?.headers;
  return headers?.["x-ratelimit-remaining"] === "0" || headers?.["retry-after"] !== undefined;
};

/** A failed API call as Gyre's error: 401 is the token's (sign in again), 5xx or none GitHub's. */
function apiFailure(doing: string, error: unknown, accessToken: string): GyreError {
  const status = statusOf(error);
  const said = scrub(describeGithubError(error), [accessToken]);
  if (status === 401)
    return unauthorized(`GitHub refused the sign-in token ${doing}: ${said}. Sign in again.`);
  if ((status === 403 && !rateLimited(error)) || status === 404)
    return new GyreError("forbidden", `GitHub refused ${doing}: ${said}`);
  return new GyreError("unavailable", `GitHub could not be reached ${doing}: ${said}`);
}

async function call<T>(doing: string, accessToken: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof GyreError) throw error;
    throw apiFailure(doing, error, accessToken);
  }
}

/** The signed-in user: `GET /user`, `/user/emails` (when the token may read them), `/user/orgs`. */
export async function githubIdentity(
  config: GithubOAuthConfig,
  accessToken: string,
  options: ClientOptions = {},
): Promise<GithubIdentity> {
  const client: GithubClient = await clientFor(config, accessToken, options);
  const { data: user } = await call("reading the user (GET /user)", accessToken, () =>
    client.rest.users.getAuthenticated(),
  );
  let email: string | undefined;
  try {
    const emails = await client.paginate(client.rest.users.listEmailsForAuthenticatedUser, { per_page: 100 });
    email = emails.find((e) => e.primary && e.verified)?.email;
  } catch (error) {
    // Without user:email GitHub answers 404 (or 403): the public address is all there is.
    const status = statusOf(error);
    if (status !== 403 && status !== 404) throw apiFailure("reading the user's emails", error, accessToken);
  }
  email ??= user.email ?? undefined;
  const orgs = await call("listing the user's organizations (GET /user/orgs)", accessToken, () =>
    client.paginate(client.rest.orgs.listForAuthenticatedUser, { per_page: 100 }),
  );
  return {
    id: user.id,
    login: user.login,
    ...(user.name ? { name: user.name } : {}),
    ...(email ? { email } : {}),
    ...(user.avatar_url ? { avatarUrl: user.avatar_url } : {}),
    orgs: orgs.map((o) => o.login),
  };
}

/**
 * The user's membership of an organization (`GET /user/memberships/orgs/{org}`): "active",
 * "pending" (invited, not yet accepted), or undefined when they are not a member or the app may
 * not see it (404, 403: an organization that restricts OAuth apps).
 */
export async function orgMembership(
  config: GithubOAuthConfig,
  accessToken: string,
  org: string,
  options: ClientOptions = {},
): Promise<"active" | "pending" | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(org))
    throw badRequest(`Invalid GitHub organization "${org}".`);
  const client = await clientFor(config, accessToken, options);
  try {
    const { data } = await client.rest.orgs.getMembershipForAuthenticatedUser({ org });
    return data.state === "active" || data.state === "pending" ? data.state : undefined;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404 || (status === 403 && !rateLimited(error))) return undefined;
    throw apiFailure(`reading the membership of ${org}`, error, accessToken);
  }
}

/**
 * What the user may do in a repository (`GET /repos/{owner}/{repo}` with their token, its
 * `permissions`): "admin"; "write" (push or maintain); "read" (pull or triage); undefined when
 * GitHub does not show them the repository (404, or 403 short of a rate limit).
 */
export async function repositoryPermission(
  config: GithubOAuthConfig,
  accessToken: string,
  fullName: string,
  options: ClientOptions = {},
): Promise<"admin" | "write" | "read" | undefined> {
  const m = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,99})\/([A-Za-z0-9._-]{1,100})$/.exec(fullName);
  if (!m) throw badRequest(`Invalid GitHub repository "${fullName}": expected owner/name.`);
  const client = await clientFor(config, accessToken, options);
  try {
    const { data } = await client.rest.repos.get({ owner: m[1]!, repo: m[2]! });
    const p = data.permissions;
    if (!p) return "read";
    if (p.admin) return "admin";
    if (p.maintain || p.push) return "write";
    if (p.triage || p.pull) return "read";
    return undefined;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404 || (status === 403 && !rateLimited(error))) return undefined;
    throw apiFailure(`reading ${fullName}`, error, accessToken);
  }
}
