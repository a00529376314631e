/**
 * A GitHub stand-in for tests: a local HTTP(S) server that answers the REST calls Gyre makes
 * (commit statuses, repository hooks and deploy keys, branches) as GitHub does, keeps what was
 * created, and records every request, so a test reads what Gyre sent. Answers can be scripted
 * ahead (`answerNext`: a rate limit, a 502), matched by method and path. Never the internet.
 *
 * It is also GitHub's OAuth app sign-in, on the same server: the web paths (never under
 * `basePath`) `GET /login/oauth/authorize`, which, there being no browser, redirects at once to
 * the `redirect_uri` with a code for the user a test signed in (`signInAs`), or with
 * `error=access_denied` when none is; and `POST /login/oauth/access_token`, which checks the
 * app's credentials (`oauthApp`), the code (single use, expiring), the redirect URI and the PKCE
 * verifier (S256) as GitHub does, answering 200 with `{error, error_description, error_uri}`
 * when it refuses. The user's token then reads `GET /user`, `/user/emails`, `/user/orgs`
 * (Link-paginated), `/user/memberships/orgs/{org}` and `GET /repos/{owner}/{repo}` with the
 * user's `permissions`, from the users a test added (`addUser`). Tokens are accepted as
 * `token X` and `Bearer X`. Project tokens (any other token) are not users: the repository
 * sub-resources above answer whatever the token, as before, and `GET /repos/{owner}/{repo}`
 * and `/user*` are for user tokens only (404 and 401 otherwise).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /**
   * The path below the API's base (`/repos/o/r/statuses/<sha>`), without the query; a web path
   * (`/login/oauth/authorize`) as it is.
   */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** What the stand-in answered. */
  status: number;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Only for requests of this method and whose path matches (default: any). */
  method?: string;
  path?: RegExp;
}

export interface StandInOptions {
  /** `/api/v3` for a GitHub Enterprise Server (default: none, as api.github.com). */
  basePath?: string;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** The OAuth app's credentials (default: `DEFAULT_OAUTH_APP`); `oauthApp()` changes them. */
  oauthApp?: OAuthApp;
  /** The most items a page holds, whatever `per_page` asks (GitHub: 100). */
  maxPerPage?: number;
  /** How long an authorization code can be exchanged (GitHub: 10 minutes). */
  codeTtlMs?: number;
}

export interface OAuthApp {
  clientId: string;
  clientSecret: string;
}

export const DEFAULT_OAUTH_APP: Readonly<OAuthApp> = Object.freeze({
  clientId: "Ov23liStandIn0000000",
  clientSecret: "stand-in-oauth-client-secret-0123456789ab",
});

/** The scopes `tokenFor` grants unless told: those Gyre's sign-in asks for. */
const DEFAULT_USER_SCOPES = ["repo", "user:email", "read:org"];

export type RepoPermissionLevel = "admin" | "write" | "read";
export type OrgMembershipState = "active" | "pending";

export interface StandInUserInput {
  login: string;
  /** Default: the next of 5001, 5002, … */
  id?: number;
  name?: string;
  /** The primary verified address (`/user/emails`); not on `/user` unless `publicEmail`. */
  email?: string;
  /** `/user/emails` as it is, instead of `email`'s one address. */
  emails?: { email: string; primary: boolean; verified: boolean; visibility?: "public" | "private" | null }[];
  /** `/user`'s `email` (the address the user made public; default null). */
  publicEmail?: string;
  avatarUrl?: string;
  /** Organizations by login: the membership's state, or state and role (default role "member"). */
  orgs?: Record<string, OrgMembershipState | { state: OrgMembershipState; role: "admin" | "member" }>;
  /** What the user may do in repositories, by `owner/name`. */
  repos?: Record<string, RepoPermissionLevel>;
}

export interface StandInUser {
  login: string;
  id: number;
  name?: string;
  emails: { email: string; primary: boolean; verified: boolean; visibility: "public" | "private" | null }[];
  publicEmail?: string;
  avatarUrl?: string;
  /** By organization login. */
  orgs: Map<string, { state: OrgMembershipState; role: "admin" | "member" }>;
  /** By `owner/name` in lower case (GitHub's names are case-insensitive). */
  repos: Map<string, RepoPermissionLevel>;
}

/** An authorize request the stand-in answered, as it came. */
export interface OAuthAuthorization {
  clientId: string;
  redirectUri: string;
  /** The `scope` parameter as sent (space- or comma-separated). */
  scope: string;
  state?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  allowSignup?: string;
  /** Who was signed in (undefined: the redirect said access_denied). */
  login?: string;
  /** The code handed out, if any. */
  code?: string;
}

interface Hook {
  id: number;
  repo: string;
  name: string;
  active: boolean;
  events: string[];
  config: Record<string, unknown>;
}

interface DeployKey {
  id: number;
  repo: string;
  key: string;
  title: string;
  read_only: boolean;
}

export interface GithubStandIn {
  /** The API's base URL, as a project's `api_url` (`http://127.0.0.1:<port>[/api/v3]`). */
  url: string;
  requests: RecordedRequest[];
  /** Branch heads by repository (`owner/name` → branch → sha), for `GET .../branches`. */
  branches: Map<string, Map<string, string>>;
  hooks: Hook[];
  keys: DeployKey[];
  /** The commit statuses posted, oldest first. */
  statuses(): {
    repo: string;
    sha: string;
    state: string;
    context: string;
    description?: string;
    target_url?: string;
  }[];
  answerNext(...answers: ScriptedAnswer[]): void;
  /** The web base (`http://127.0.0.1:<port>`), where `/login/oauth/*` is, in either mode. */
  webUrl: string;
  /** The OAuth app's credentials, as they are now. */
  readonly oauthClient: Readonly<OAuthApp>;
  /** Changes the OAuth app's credentials (codes handed out before are for the old ones). */
  oauthApp(app: OAuthApp): void;
  /** The authorize requests answered, oldest first. */
  authorizations: OAuthAuthorization[];
  /** The users added, by login in lower case. */
  users: Map<string, StandInUser>;
  /** Adds (or replaces) a user. */
  addUser(user: StandInUserInput): StandInUser;
  /** Sets what a user may do in a repository (`owner/name`); undefined: no access (404). */
  setRepoPermission(login: string, fullName: string, level: RepoPermissionLevel | undefined): void;
  /** Sets a user's membership of an organization; undefined: not a member (404). */
  setOrgMembership(login: string, org: string, state: OrgMembershipState | undefined): void;
  /** Who the authorize page signs in from now on; undefined: nobody (the user says no). */
  signInAs(login: string | undefined): void;
  /** A user token as the sign-in would give (default scopes: repo, user:email, read:org). */
  tokenFor(login: string, scopes?: string[]): string;
  /** Revokes the user tokens of one user (all users when none is named). */
  revokeTokens(login?: string): void;
  /** Makes every code handed out so far expired. */
  expireCodes(): void;
  close(): Promise<void>;
}

const sha256url = (text: string) => createHash("sha256").update(text, "ascii").digest("base64url");

const PERMISSIONS: Record<RepoPermissionLevel, Record<string, boolean>> = {
  admin: { admin: true, maintain: true, push: true, triage: true, pull: true },
  write: { admin: false, maintain: false, push: true, triage: true, pull: true },
  read: { admin: false, maintain: false, push: false, triage: false, pull: true },
};

const TOKEN_ERRORS_URI =
  "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";

export async function startGithubStandIn(options: StandInOptions = {}): Promise<GithubStandIn> {
  const base = options.basePath ?? "";
  const requests: RecordedRequest[] = [];
  const scripted: ScriptedAnswer[] = [];
  const branches = new Map<string, Map<string, string>>();
  const hooks: Hook[] = [];
  const keys: DeployKey[] = [];
  let nextId = 1000;
  const maxPerPage = options.maxPerPage ?? 100;
  const codeTtlMs = options.codeTtlMs ?? 10 * 60_000;
  const app: OAuthApp = { ...(options.oauthApp ?? DEFAULT_OAUTH_APP) };
  const authorizations: OAuthAuthorization[] = [];
  const users = new Map<string, StandInUser>();
  let nextUserId = 5001;
  const ids = new Map<string, number>();
  let signedIn: string | undefined;
  const codes = new Map<
    string,
    {
      login: string;
      clientId: string;
      redirectUri: string;
      challenge?: string;
      scopes: string[];
      expiresAt: number;
      used: boolean;
    }
  >();
  const tokens = new Map<string, { login: string; scopes: string[] }>();
  const random = (prefix: string, bytes: number) => `${prefix}${randomBytes(bytes).toString("hex")}`;
  const userNamed = (login: string) => {
    const user = users.get(login.toLowerCase());
    if (!user) throw new Error(`GitHub stand-in: no user "${login}" (addUser first).`);
    return user;
  };
  /** A stable id for an organization or repository name (GitHub's are case-insensitive). */
  const idOf = (name: string) => {
    const key = name.toLowerCase();
    if (!ids.has(key)) ids.set(key, 9001 + ids.size);
    return ids.get(key)!;
  };
  const orgId = (org: string) => idOf(`org:${org}`);

  /** One page of `all` as GitHub pages lists: per_page (at most maxPerPage), page, a Link header. */
  const paged = <T>(all: T[], url: URL, perPageDefault = 30) => {
    const perPage = Math.max(
      1,
      Math.min(maxPerPage, Number(url.searchParams.get("per_page") ?? perPageDefault)),
    );
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1));
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const at = (n: number) => {
      const next = new URL(url.href);
      next.searchParams.set("per_page", String(perPage));
      next.searchParams.set("page", String(n));
      return next.href;
    };
    const links = [
      ...(page < last ? [`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`] : []),
      ...(page > 1 ? [`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`] : []),
    ];
    return {
      items: all.slice((page - 1) * perPage, page * perPage),
      headers: links.length ? { link: links.join(", ") } : ({} as Record<string, string>),
    };
  };

  /** The user whose token the request carries (`token X` or `Bearer X`), if it is a user's. */
  const callerOf = (req: IncomingMessage) => {
    const m = /^(?:token|bearer)\s+(\S+)$/i.exec(String(req.headers.authorization ?? "").trim());
    const grant = m ? tokens.get(m[1]!) : undefined;
    const user = grant ? users.get(grant.login.toLowerCase()) : undefined;
    return { presented: Boolean(m), grant, user };
  };

  const publicUser = (user: StandInUser, origin: string) => ({
    login: user.login,
    id: user.id,
    node_id: Buffer.from(`04:User${user.id}`).toString("base64"),
    avatar_url: user.avatarUrl ?? `${origin}/avatars/u/${user.id}`,
    html_url: `${origin}/${user.login}`,
    type: "User",
    site_admin: false,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    if (/application\/x-www-form-urlencoded/i.test(String(req.headers["content-type"] ?? "")))
      body = Object.fromEntries(new URLSearchParams(text));
    else
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
    // The origin the client asked (for the links answered); "stand-in" when its Host is not one.
    const origin = `${options.tls ? "https" : "http"}://${req.headers.host ?? "stand-in"}`;
    const url = new URL(req.url ?? "/", URL.canParse(origin) ? origin : "http://stand-in");
    const method = req.method ?? "GET";
    const underBase = !base || url.pathname === base || url.pathname.startsWith(`${base}/`);
    const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : url.pathname;
    const sendRaw = (status: number, answer: string, headers: Record<string, string>) => {
      requests.push({ method, path, query: url.searchParams, headers: req.headers, body, status });
      res.writeHead(status, headers);
      res.end(answer);
    };
    const send = (status: number, answer?: unknown, headers: Record<string, string> = {}) =>
      sendRaw(status, answer === undefined ? "" : JSON.stringify(answer), {
        "content-type": "application/json; charset=utf-8",
        ...headers,
      });
    const at = scripted.findIndex(
      (a) => (!a.method || a.method === method) && (!a.path || a.path.test(path)),
    );
    if (at >= 0) {
      const [answer] = scripted.splice(at, 1);
      return send(answer!.status, answer!.body ?? {}, answer!.headers);
    }
    if (url.pathname === "/login/oauth/authorize" && method === "GET") return authorize(url, send);
    if (url.pathname === "/login/oauth/access_token" && method === "POST")
      return accessToken(req, url, body, send, sendRaw);
    if (underBase && method === "GET") {
      const answered = userRoute(req, url, path, send);
      if (answered) return;
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(statuses|hooks|keys|branches)(?:\/([^/]+))?$/.exec(path);
    if (!m) return send(404, { message: "Not Found" });
    const repo = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const [, , , kind, id] = m;
    const input = (body ?? {}) as Record<string, unknown>;
    if (kind === "statuses" && method === "POST" && id) {
      return send(201, { id: nextId++, url: `${url.origin}${url.pathname}`, ...input, sha: id, repo });
    }
    if (kind === "hooks") {
      if (method === "POST" && !id) {
        const config = (input.config ?? {}) as Record<string, unknown>;
        if (hooks.some((h) => h.repo === repo && h.config.url === config.url))
          return send(422, {
            message: "Validation Failed",
            errors: [{ resource: "Hook", code: "custom", message: "Hook already exists on this repository" }],
          });
        const hook: Hook = {
          id: nextId++,
          repo,
          name: String(input.name ?? "web"),
          active: input.active !== false,
          events: (input.events as string[]) ?? ["push"],
          config,
        };
        hooks.push(hook);
        return send(201, { ...hook, config: { ...config, secret: "********" } });
      }
      if (method === "GET" && !id)
        return send(
          200,
          hooks
            .filter((h) => h.repo === repo)
            .map((h) => ({ ...h, config: { ...h.config, secret: "********" } })),
        );
      const hook = hooks.find((h) => h.repo === repo && String(h.id) === id);
      if (!hook) return send(404, { message: "Not Found" });
      if (method === "PATCH") {
        Object.assign(hook, {
          ...(input.events ? { events: input.events } : {}),
          ...(input.config ? { config: input.config } : {}),
        });
        return send(200, { ...hook, config: { ...hook.config, secret: "********" } });
      }
      if (method === "DELETE") {
        hooks.splice(hooks.indexOf(hook), 1);
        return send(204);
      }
    }
    if (kind === "keys") {
      if (method === "POST" && !id) {
        const key = String(input.key ?? "");
        if (keys.some((k) => k.repo === repo && k.key === key))
          return send(422, {
            message: "Validation Failed",
            errors: [
              { resource: "PublicKey", code: "custom", field: "key", message: "key is already in use" },
            ],
          });
        const created: DeployKey = {
          id: nextId++,
          repo,
          key,
          title: String(input.title ?? ""),
          read_only: input.read_only !== false,
        };
        keys.push(created);
        return send(201, created);
      }
      if (method === "GET" && !id)
        return send(
          200,
          keys.filter((k) => k.repo === repo),
        );
      const key = keys.find((k) => k.repo === repo && String(k.id) === id);
      if (!key) return send(404, { message: "Not Found" });
      if (method === "DELETE") {
        keys.splice(keys.indexOf(key), 1);
        return send(204);
      }
    }
    if (kind === "branches" && method === "GET" && !id) {
      const all = [...(branches.get(repo) ?? new Map())].map(([name, sha]) => ({
        name,
        commit: { sha, url: `${url.origin}${base}/repos/${repo}/commits/${sha}` },
        protected: false,
      }));
      const { items, headers } = paged(all, url);
      return send(200, items, headers);
    }
    return send(404, { message: "Not Found" });
  };

  type Send = (status: number, answer?: unknown, headers?: Record<string, string>) => void;

  /** GitHub's authorize page, with the user already deciding: a redirect back at once. */
  const authorize = (url: URL, send: Send) => {
    const q = url.searchParams;
    const clientId = q.get("client_id") ?? "";
    const redirectUri = q.get("redirect_uri") ?? "";
    // An unknown app is GitHub's 404 page; there is no registered callback URL to fall back on.
    if (clientId !== app.clientId) return send(404, { message: "Not Found" });
    let back: URL;
    try {
      back = new URL(redirectUri);
    } catch {
      return send(400, {
        error: "redirect_uri_mismatch",
        error_description: "The redirect_uri MUST match the registered callback URL for this application.",
      });
    }
    const state = q.get("state") ?? undefined;
    const codeChallenge = q.get("code_challenge") ?? undefined;
    const codeChallengeMethod = q.get("code_challenge_method") ?? undefined;
    const authorization: OAuthAuthorization = {
      clientId,
      redirectUri,
      scope: q.get("scope") ?? "",
      ...(state !== undefined ? { state } : {}),
      ...(codeChallenge !== undefined ? { codeChallenge } : {}),
      ...(codeChallengeMethod !== undefined ? { codeChallengeMethod } : {}),
      ...(q.has("allow_signup") ? { allowSignup: q.get("allow_signup")! } : {}),
    };
    authorizations.push(authorization);
    const redirect = (params: Record<string, string>) => {
      for (const [k, v] of Object.entries(params)) back.searchParams.set(k, v);
      if (state !== undefined) back.searchParams.set("state", state);
      return send(302, undefined, { location: back.href });
    };
    if (codeChallenge !== undefined && (codeChallengeMethod ?? "plain") !== "S256")
      return redirect({
        error: "invalid_request",
        error_description: "Only the S256 code_challenge_method is supported.",
      });
    const user = signedIn ? users.get(signedIn.toLowerCase()) : undefined;
    if (!user)
      return redirect({
        error: "access_denied",
        error_description: "The user has denied your application access.",
        error_uri:
          "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
      });
    const code = random("", 10);
    codes.set(code, {
      login: user.login,
      clientId,
      redirectUri,
      ...(codeChallenge !== undefined ? { challenge: codeChallenge } : {}),
      scopes: (q.get("scope") ?? "").split(/[\s,]+/).filter(Boolean),
      expiresAt: Date.now() + codeTtlMs,
      used: false,
    });
    authorization.login = user.login;
    authorization.code = code;
    return redirect({ code });
  };

  /** The code for a token, refused as GitHub refuses: 200 with error, error_description, error_uri. */
  const accessToken = (
    req: IncomingMessage,
    url: URL,
    body: unknown,
    send: Send,
    sendRaw: (status: number, answer: string, headers: Record<string, string>) => void,
  ) => {
    const input: Record<string, string> = {
      ...Object.fromEntries(url.searchParams),
      ...(body && typeof body === "object" ? (body as Record<string, string>) : {}),
    };
    const json = /application\/json/i.test(String(req.headers.accept ?? ""));
    const answer = (fields: Record<string, string>) =>
      json
        ? send(200, fields)
        : sendRaw(200, new URLSearchParams(fields).toString(), {
            "content-type": "application/x-www-form-urlencoded; charset=utf-8",
          });
    const refuse = (error: string, description: string) =>
      answer({
        error,
        error_description: description,
        error_uri: `${TOKEN_ERRORS_URI}/#${error.replace(/_/g, "-")}`,
      });
    if (input.client_id !== app.clientId || input.client_secret !== app.clientSecret)
      return refuse(
        "incorrect_client_credentials",
        "The client_id and/or client_secret passed are incorrect.",
      );
    const grant = input.code ? codes.get(String(input.code)) : undefined;
    if (!grant || grant.used || grant.clientId !== input.client_id || grant.expiresAt <= Date.now())
      return refuse("bad_verification_code", "The code passed is incorrect or expired.");
    // Tried once, the code is spent, whether or not what came with it was right.
    grant.used = true;
    if (input.redirect_uri !== undefined && input.redirect_uri !== grant.redirectUri)
      return refuse(
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
      );
    if (grant.challenge !== undefined) {
      const verifier = String(input.code_verifier ?? "");
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) || sha256url(verifier) !== grant.challenge)
        return refuse("bad_verification_code", "The code_verifier does not match the code_challenge.");
    }
    const token = random("gho_", 18);
    tokens.set(token, { login: grant.login, scopes: grant.scopes });
    return answer({ access_token: token, token_type: "bearer", scope: grant.scopes.join(",") });
  };

  /** `/user*` and `GET /repos/{owner}/{repo}` for a user's token; false: not one of these paths. */
  const userRoute = (req: IncomingMessage, url: URL, path: string, send: Send): boolean => {
    const repo = /^\/repos\/([^/]+)\/([^/]+)$/.exec(path);
    const membership = /^\/user\/memberships\/orgs\/([^/]+)$/.exec(path);
    if (!repo && !membership && !["/user", "/user/emails", "/user/orgs"].includes(path)) return false;
    const { presented, grant, user } = callerOf(req);
    if (repo && !user) {
      // A project's (or no) token: the stand-in keeps no repositories but its users'.
      send(404, {
        message: "Not Found",
        documentation_url: "https://docs.github.com/rest/repos/repos#get-a-repository",
      });
      return true;
    }
    if (!grant || !user) {
      send(401, {
        message: presented ? "Bad credentials" : "Requires authentication",
        documentation_url: "https://docs.github.com/rest",
      });
      return true;
    }
    const origin = `${url.origin}`;
    const api = `${url.origin}${base}`;
    const scoped = { "x-oauth-scopes": grant.scopes.join(", ") };
    const has = (...any: string[]) => any.some((s) => grant.scopes.includes(s));
    if (path === "/user") {
      send(
        200,
        {
          ...publicUser(user, origin),
          url: `${api}/users/${user.login}`,
          name: user.name ?? null,
          email: user.publicEmail ?? null,
        },
        scoped,
      );
    } else if (path === "/user/emails") {
      if (!has("user", "user:email")) send(404, { message: "Not Found" }, scoped);
      else {
        const { items, headers } = paged(user.emails, url);
        send(200, items, { ...scoped, ...headers });
      }
    } else if (path === "/user/orgs") {
      if (!has("user", "read:org", "write:org", "admin:org"))
        send(
          403,
          { message: "You need at least read:org scope or user scope to list your organizations." },
          { ...scoped, "x-accepted-oauth-scopes": "admin:org, read:org, repo, user, write:org" },
        );
      else {
        const all = [...user.orgs]
          .filter(([, m]) => m.state === "active")
          .map(([login]) => ({ login, id: orgId(login), url: `${api}/orgs/${login}`, description: null }));
        const { items, headers } = paged(all, url);
        send(200, items, { ...scoped, ...headers });
      }
    } else if (membership) {
      const org = decodeURIComponent(membership[1]!);
      const found = [...user.orgs].find(([login]) => login.toLowerCase() === org.toLowerCase());
      if (!found) send(404, { message: "Not Found" }, scoped);
      else {
        const [login, m] = found;
        send(
          200,
          {
            url: `${api}/orgs/${login}/memberships/${user.login}`,
            state: m.state,
            role: m.role,
            organization_url: `${api}/orgs/${login}`,
            organization: { login, id: orgId(login), url: `${api}/orgs/${login}` },
            user: publicUser(user, origin),
          },
          scoped,
        );
      }
    } else if (repo) {
      const owner = decodeURIComponent(repo[1]!);
      const name = decodeURIComponent(repo[2]!);
      const level = user.repos.get(`${owner}/${name}`.toLowerCase());
      if (!level) send(404, { message: "Not Found" }, scoped);
      else
        send(
          200,
          {
            id: idOf(`repo:${owner}/${name}`),
            name,
            full_name: `${owner}/${name}`,
            private: true,
            owner: { login: owner, id: orgId(owner), type: "Organization" },
            html_url: `${origin}/${owner}/${name}`,
            url: `${api}/repos/${owner}/${name}`,
            default_branch: "main",
            permissions: PERMISSIONS[level],
          },
          scoped,
        );
    }
    return true;
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createHttpServer(listener);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  const addUser = (input: StandInUserInput): StandInUser => {
    const user: StandInUser = {
      login: input.login,
      id: input.id ?? nextUserId++,
      ...(input.name !== undefined ? { name: input.name } : {}),
      emails:
        input.emails?.map((e) => ({ ...e, visibility: e.visibility ?? null })) ??
        (input.email
          ? [{ email: input.email, primary: true, verified: true, visibility: "private" as const }]
          : []),
      ...(input.publicEmail !== undefined ? { publicEmail: input.publicEmail } : {}),
      ...(input.avatarUrl !== undefined ? { avatarUrl: input.avatarUrl } : {}),
      orgs: new Map(
        Object.entries(input.orgs ?? {}).map(([org, m]) => [
          org,
          typeof m === "string" ? { state: m, role: "member" as const } : m,
        ]),
      ),
      repos: new Map(Object.entries(input.repos ?? {}).map(([name, level]) => [name.toLowerCase(), level])),
    };
    users.set(user.login.toLowerCase(), user);
    return user;
  };
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}${base}`,
    webUrl: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    get oauthClient() {
      return { ...app };
    },
    oauthApp: (next) => {
      Object.assign(app, next);
    },
    authorizations,
    users,
    addUser,
    setRepoPermission: (login, fullName, level) => {
      const user = userNamed(login);
      if (level) user.repos.set(fullName.toLowerCase(), level);
      else user.repos.delete(fullName.toLowerCase());
    },
    setOrgMembership: (login, org, state) => {
      const user = userNamed(login);
      const known = [...user.orgs.keys()].find((o) => o.toLowerCase() === org.toLowerCase());
      const role = (known && user.orgs.get(known)?.role) || "member";
      if (known) user.orgs.delete(known);
      if (state) user.orgs.set(known ?? org, { state, role });
    },
    signInAs: (login) => {
      signedIn = login === undefined ? undefined : userNamed(login).login;
    },
    tokenFor: (login, scopes = DEFAULT_USER_SCOPES) => {
      const token = random("gho_", 18);
      tokens.set(token, { login: userNamed(login).login, scopes: [...scopes] });
      return token;
    },
    revokeTokens: (login) => {
      for (const [token, grant] of tokens)
        if (!login || grant.login.toLowerCase() === login.toLowerCase()) tokens.delete(token);
    },
    expireCodes: () => {
      for (const grant of codes.values()) grant.expiresAt = 0;
    },
    requests,
    branches,
    hooks,
    keys,
    statuses: () =>
      requests
        .filter((r) => r.method === "POST" && r.path.includes("/statuses/") && r.status === 201)
        .map((r) => {
          const [, , owner, name, , sha] = r.path.split("/");
          return { repo: `${owner}/${name}`, sha: sha!, ...(r.body as { state: string; context: string }) };
        }),
    answerNext: (...answers) => scripted.push(...answers),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}
