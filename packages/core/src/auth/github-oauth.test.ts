import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { type ClientOptions, dispatcherFor } from "../github/client.ts";
import { DEFAULT_OAUTH_APP, type GithubStandIn, startGithubStandIn } from "../github/stand-in.ts";
import { selfSignedCertificate } from "../test-tls.ts";
import {
  authorizationUrl,
  exchangeCode,
  GITHUB_OAUTH_SCOPES,
  type GithubOAuthConfig,
  githubIdentity,
  githubWebUrl,
  newPkce,
  orgMembership,
  repositoryPermission,
} from "./github-oauth.ts";

const REDIRECT = "https://gyre.example.com/auth/github/callback";
const options: ClientOptions = { env: {}, retryBaseMs: 10, timeoutMs: 5_000, log: () => {} };

/** What a rejected promise was, as a GyreError. */
async function refusal(promise: Promise<unknown>): Promise<GyreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GyreError);
  return error as GyreError;
}

describe("githubWebUrl", () => {
  it("maps api.github.com to https://github.com", () => {
    expect(githubWebUrl("https://api.github.com")).toBe("https://github.com");
    expect(githubWebUrl("https://api.github.com/")).toBe("https://github.com");
  });

  it("maps a GitHub Enterprise Server's https://HOST/api/v3 to https://HOST, keeping a port", () => {
    expect(githubWebUrl("https://ghe.example.com/api/v3")).toBe("https://ghe.example.com");
    expect(githubWebUrl("https://ghe.example.com/api/v3/")).toBe("https://ghe.example.com");
    expect(githubWebUrl("https://ghe.example.com:8443/api/v3")).toBe("https://ghe.example.com:8443");
  });

  it("maps a data-residency api.SUB.ghe.com to https://SUB.ghe.com", () => {
    expect(githubWebUrl("https://api.acme.ghe.com")).toBe("https://acme.ghe.com");
  });

  it("takes any other API URL's origin as the web base", () => {
    expect(githubWebUrl("http://127.0.0.1:4567")).toBe("http://127.0.0.1:4567");
  });

  it("refuses what is not an http(s) URL as bad_request", () => {
    expect(() => githubWebUrl("ghe.example.com")).toThrow(GyreError);
    expect(() => githubWebUrl("ftp://ghe.example.com/api/v3")).toThrow(/Invalid GitHub API URL/);
  });
});

describe("newPkce", () => {
  it("makes a fresh 43-character unreserved verifier and its S256 challenge (RFC 7636)", () => {
    const a = newPkce();
    const b = newPkce();
    expect(a.verifier).toMatch(/^[A-Za-z0-9\-._~]{43}$/);
    expect(a.challenge).toBe(createHash("sha256").update(a.verifier).digest("base64url"));
    expect(b.verifier).not.toBe(a.verifier);
  });
});

describe("GITHUB_OAUTH_SCOPES", () => {
  it("are CircleCI's repo and user:email, and read:org for organizations", () => {
    expect(GITHUB_OAUTH_SCOPES).toEqual(["repo", "user:email", "read:org"]);
    expect(Object.isFrozen(GITHUB_OAUTH_SCOPES)).toBe(true);
  });
});

const pair = selfSignedCertificate();
const modes = [
  { mode: "github.com (API and web at one origin, HTTP)", basePath: undefined, tls: undefined },
  {
    mode: "GitHub Enterprise Server (API under /api/v3, HTTPS behind a private CA)",
    basePath: "/api/v3",
    tls: pair,
  },
] as const;

for (const { mode, basePath, tls } of modes) {
  describe.skipIf(basePath && !tls)(`GitHub sign-in as ${mode}`, () => {
    let github: GithubStandIn;
    let config: GithubOAuthConfig;
    const ca = tls?.cert;

    /** The browser's part: ask the authorize URL, read where it redirects. */
    async function follow(url: string): Promise<URL> {
      const dispatcher = dispatcherFor(ca, {});
      try {
        const answer = await undiciFetch(url, { redirect: "manual", dispatcher });
        expect(answer.status).toBe(302);
        return new URL(answer.headers.get("location")!);
      } finally {
        await dispatcher.close();
      }
    }

    /** A signed-in user's code and the verifier it needs, as the redirect gives them. */
    async function signIn(login = "octo") {
      const pkce = newPkce();
      github.signInAs(login);
      const back = await follow(
        authorizationUrl(config, { state: "s-1", redirectUri: REDIRECT, codeChallenge: pkce.challenge }),
      );
      return { code: back.searchParams.get("code")!, verifier: pkce.verifier };
    }

    beforeAll(async () => {
      github = await startGithubStandIn({
        ...(basePath ? { basePath } : {}),
        ...(tls ? { tls } : {}),
        maxPerPage: 2,
      });
      config = {
        api_url: github.url,
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
        ...(ca ? { ca } : {}),
      };
      github.addUser({
        login: "octo",
        name: "Octo Cat",
        emails: [
          { email: "old@example.com", primary: false, verified: true },
          { email: "unverified@example.com", primary: false, verified: false },
          { email: "octo@example.com", primary: true, verified: true },
        ],
        publicEmail: "public@example.com",
        avatarUrl: "https://avatars.example.com/octo",
        orgs: {
          acme: "active",
          beta: "active",
          gamma: "active",
          delta: "active",
          epsilon: "active",
          zeta: "pending",
        },
        repos: { "acme/app": "admin", "acme/lib": "write", "acme/docs": "read" },
      });
      github.addUser({ login: "plain", publicEmail: "plain@example.com" });
      github.addUser({ login: "hidden" });
    });
    afterAll(async () => {
      await github?.close();
    });
    beforeEach(() => {
      github.requests.length = 0;
      github.signInAs(undefined);
    });

    it("sends the browser to the web base's /login/oauth/authorize with the app, redirect, scopes, state and an S256 challenge", () => {
      const { challenge } = newPkce();
      const url = new URL(
        authorizationUrl(config, { state: "st4te", redirectUri: REDIRECT, codeChallenge: challenge }),
      );
      expect(`${url.origin}${url.pathname}`).toBe(`${github.webUrl}/login/oauth/authorize`);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        client_id: DEFAULT_OAUTH_APP.clientId,
        redirect_uri: REDIRECT,
        scope: "repo user:email read:org",
        state: "st4te",
        code_challenge: challenge,
        code_challenge_method: "S256",
        allow_signup: "false",
      });
    });

    it("uses web_url when it is given instead of deriving it from api_url", () => {
      const { challenge } = newPkce();
      const url = authorizationUrl(
        { ...config, web_url: "https://login.example.com/" },
        { state: "s", redirectUri: REDIRECT, codeChallenge: challenge },
      );
      expect(url.startsWith("https://login.example.com/login/oauth/authorize?")).toBe(true);
    });

    it("refuses an authorize URL without a state or with a malformed challenge", () => {
      expect(() =>
        authorizationUrl(config, { state: "", redirectUri: REDIRECT, codeChallenge: newPkce().challenge }),
      ).toThrow(/state is required/);
      expect(() =>
        authorizationUrl(config, { state: "s", redirectUri: REDIRECT, codeChallenge: "short" }),
      ).toThrow(/code challenge/);
    });

    it("redirects back to the redirect_uri with a code and the same state for the signed-in user, the stand-in recording scopes and challenge", async () => {
      const { challenge } = newPkce();
      github.signInAs("octo");
      const back = await follow(
        authorizationUrl(config, { state: "xyz", redirectUri: REDIRECT, codeChallenge: challenge }),
      );
      expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
      expect(back.searchParams.get("state")).toBe("xyz");
      expect(back.searchParams.get("code")).toMatch(/^[0-9a-f]{20}$/);
      expect(github.authorizations.at(-1)).toMatchObject({
        clientId: DEFAULT_OAUTH_APP.clientId,
        redirectUri: REDIRECT,
        scope: "repo user:email read:org",
        state: "xyz",
        codeChallenge: challenge,
        codeChallengeMethod: "S256",
        allowSignup: "false",
        login: "octo",
        code: back.searchParams.get("code"),
      });
      expect(github.requests.at(-1)).toMatchObject({
        method: "GET",
        path: "/login/oauth/authorize",
        status: 302,
      });
    });

    it("redirects back with error=access_denied and the state, and no code, when nobody signs in", async () => {
      const back = await follow(
        authorizationUrl(config, {
          state: "nope",
          redirectUri: REDIRECT,
          codeChallenge: newPkce().challenge,
        }),
      );
      expect(back.searchParams.get("error")).toBe("access_denied");
      expect(back.searchParams.get("state")).toBe("nope");
      expect(back.searchParams.has("code")).toBe(false);
    });

    it("exchanges the code with the right verifier for a bearer token with the scopes granted, POSTing a form to the web base and asking for JSON", async () => {
      const { code, verifier } = await signIn();
      const token = await exchangeCode(
        config,
        { code, redirectUri: REDIRECT, codeVerifier: verifier },
        options,
      );
      expect(token.accessToken).toMatch(/^gho_[0-9a-f]{36}$/);
      expect(token.scopes).toEqual(["repo", "user:email", "read:org"]);
      const exchange = github.requests.find((r) => r.path === "/login/oauth/access_token")!;
      expect(exchange).toMatchObject({ method: "POST", status: 200 });
      expect(exchange.headers.accept).toBe("application/json");
      expect(exchange.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(exchange.headers.authorization).toBeUndefined();
      expect(exchange.body).toEqual({
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      });
      expect([...exchange.query.keys()]).toEqual([]);
    });

    it("refuses a wrong verifier as unauthorized with GitHub's description, and the code is spent after it", async () => {
      const { code, verifier } = await signIn();
      const wrong = await refusal(
        exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: newPkce().verifier }, options),
      );
      expect(wrong.code).toBe("unauthorized");
      expect(wrong.message).toBe(
        "GitHub refused the sign-in: The code_verifier does not match the code_challenge. (bad_verification_code). Sign in again.",
      );
      const after = await refusal(
        exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options),
      );
      expect(after.message).toMatch(/The code passed is incorrect or expired\. \(bad_verification_code\)/);
    });

    it("refuses a code used once already (bad_verification_code)", async () => {
      const { code, verifier } = await signIn();
      await exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options);
      const again = await refusal(
        exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options),
      );
      expect(again.code).toBe("unauthorized");
      expect(again.message).toContain("The code passed is incorrect or expired. (bad_verification_code)");
    });

    it("refuses an expired code (bad_verification_code)", async () => {
      const { code, verifier } = await signIn();
      github.expireCodes();
      const expired = await refusal(
        exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options),
      );
      expect(expired.message).toContain("incorrect or expired");
    });

    it("refuses a wrong client secret (incorrect_client_credentials) with a message naming neither the secret nor the code", async () => {
      const { code, verifier } = await signIn();
      const secret = "wrong-secret-value-123456";
      const error = await refusal(
        exchangeCode(
          { ...config, client_secret: secret },
          { code, redirectUri: REDIRECT, codeVerifier: verifier },
          options,
        ),
      );
      expect(error.code).toBe("unauthorized");
      expect(error.message).toBe(
        "GitHub refused the sign-in: The client_id and/or client_secret passed are incorrect. (incorrect_client_credentials). Sign in again.",
      );
      expect(JSON.stringify({ ...error, message: error.message })).not.toMatch(
        new RegExp(`${secret}|${code}|${verifier}`),
      );
      // The code was not spent by a caller that is not the app.
      await exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options);
    });

    it("refuses another redirect_uri than the authorize request's (redirect_uri_mismatch)", async () => {
      const { code, verifier } = await signIn();
      const error = await refusal(
        exchangeCode(
          config,
          { code, redirectUri: "https://evil.example.com/cb", codeVerifier: verifier },
          options,
        ),
      );
      expect(error.message).toContain("(redirect_uri_mismatch)");
    });

    it("follows the stand-in's new OAuth app credentials set with oauthApp", async () => {
      const { code, verifier } = await signIn();
      github.oauthApp({ clientId: "Ov23liOther", clientSecret: "other-secret-0123456789" });
      try {
        const stale = await refusal(
          exchangeCode(config, { code, redirectUri: REDIRECT, codeVerifier: verifier }, options),
        );
        expect(stale.message).toContain("incorrect_client_credentials");
        expect(github.oauthClient).toEqual({
          clientId: "Ov23liOther",
          clientSecret: "other-secret-0123456789",
        });
      } finally {
        github.oauthApp(DEFAULT_OAUTH_APP);
      }
    });

    it("reads the identity: /user's id, login, name and avatar, the primary verified email, and the active organizations across pages", async () => {
      const { code, verifier } = await signIn();
      const { accessToken } = await exchangeCode(
        config,
        { code, redirectUri: REDIRECT, codeVerifier: verifier },
        options,
      );
      github.requests.length = 0;
      const identity = await githubIdentity(config, accessToken, options);
      expect(identity).toEqual({
        id: github.users.get("octo")!.id,
        login: "octo",
        name: "Octo Cat",
        email: "octo@example.com",
        avatarUrl: "https://avatars.example.com/octo",
        orgs: ["acme", "beta", "gamma", "delta", "epsilon"],
      });
      const orgPages = github.requests.filter((r) => r.path === "/user/orgs");
      expect(orgPages.map((r) => r.query.get("page") ?? "1")).toEqual(["1", "2", "3"]);
      for (const r of github.requests) {
        expect(r.headers.authorization).toBe(`token ${accessToken}`);
        expect(r.query.toString()).not.toContain(accessToken);
      }
    });

    it("falls back to /user's public email without the user:email scope, and leaves email out when there is none", async () => {
      expect((await githubIdentity(config, github.tokenFor("plain", ["read:org"]), options)).email).toBe(
        "plain@example.com",
      );
      expect(github.requests.find((r) => r.path === "/user/emails")?.status).toBe(404);
      const hidden = await githubIdentity(config, github.tokenFor("hidden"), options);
      expect(hidden).toEqual({
        id: github.users.get("hidden")!.id,
        login: "hidden",
        avatarUrl: expect.any(String),
        orgs: [],
      });
    });

    it("says a token GitHub does not know is unauthorized, without the token in the message", async () => {
      const token = "gho_notAToken0123456789abcdef";
      const error = await refusal(githubIdentity(config, token, options));
      expect(error.code).toBe("unauthorized");
      expect(error.message).toMatch(/GET .*\/user: 401 Bad credentials/);
      expect(error.message).not.toContain(token);
    });

    it("says a token without read:org may not list organizations (forbidden)", async () => {
      const error = await refusal(
        githubIdentity(config, github.tokenFor("octo", ["repo", "user:email"]), options),
      );
      expect(error.code).toBe("forbidden");
      expect(error.message).toContain("403 You need at least read:org scope");
    });

    it("reads the organization membership as active, pending, or undefined for none, and after it changes", async () => {
      const token = github.tokenFor("octo");
      expect(await orgMembership(config, token, "acme", options)).toBe("active");
      expect(await orgMembership(config, token, "ZETA", options)).toBe("pending");
      expect(await orgMembership(config, token, "other", options)).toBeUndefined();
      github.setOrgMembership("octo", "other", "active");
      github.setOrgMembership("octo", "zeta", undefined);
      try {
        expect(await orgMembership(config, token, "other", options)).toBe("active");
        expect(await orgMembership(config, token, "zeta", options)).toBeUndefined();
      } finally {
        github.setOrgMembership("octo", "other", undefined);
        github.setOrgMembership("octo", "zeta", "pending");
      }
      expect(await orgMembership(config, token, "zeta", options)).toBe("pending");
      expect(github.requests.at(-1)).toMatchObject({ path: "/user/memberships/orgs/zeta", status: 200 });
    });

    it("answers organization memberships 403 (an org restricting OAuth apps) as undefined", async () => {
      github.answerNext({
        status: 403,
        path: /^\/user\/memberships\/orgs\//,
        body: { message: "OAuth App access restrictions" },
      });
      expect(await orgMembership(config, github.tokenFor("octo"), "acme", options)).toBeUndefined();
    });

    it("reads the repository permission as admin, write or read, undefined without access, and again after it changes", async () => {
      const token = github.tokenFor("octo");
      expect(await repositoryPermission(config, token, "acme/app", options)).toBe("admin");
      expect(await repositoryPermission(config, token, "acme/lib", options)).toBe("write");
      expect(await repositoryPermission(config, token, "Acme/Docs", options)).toBe("read");
      expect(await repositoryPermission(config, token, "acme/secret", options)).toBeUndefined();
      github.setRepoPermission("octo", "acme/docs", "write");
      github.setRepoPermission("octo", "acme/lib", undefined);
      try {
        expect(await repositoryPermission(config, token, "acme/docs", options)).toBe("write");
        expect(await repositoryPermission(config, token, "acme/lib", options)).toBeUndefined();
      } finally {
        github.setRepoPermission("octo", "acme/docs", "read");
        github.setRepoPermission("octo", "acme/lib", "write");
      }
    });

    it("counts maintain as write and triage as read", async () => {
      const token = github.tokenFor("octo");
      const permissions = { admin: false, maintain: false, push: false, triage: false, pull: false };
      github.answerNext(
        {
          status: 200,
          path: /^\/repos\/acme\/app$/,
          body: { permissions: { ...permissions, maintain: true, triage: true } },
        },
        {
          status: 200,
          path: /^\/repos\/acme\/app$/,
          body: { permissions: { ...permissions, triage: true } },
        },
        { status: 200, path: /^\/repos\/acme\/app$/, body: { permissions } },
      );
      expect(await repositoryPermission(config, token, "acme/app", options)).toBe("write");
      expect(await repositoryPermission(config, token, "acme/app", options)).toBe("read");
      expect(await repositoryPermission(config, token, "acme/app", options)).toBeUndefined();
    });

    it("refuses a repository name that is not owner/name as bad_request", async () => {
      const error = await refusal(repositoryPermission(config, github.tokenFor("octo"), "acme", options));
      expect(error.code).toBe("bad_request");
    });

    it("says GitHub answering 5xx to a repository read is unavailable", async () => {
      const failing = { status: 502, path: /^\/repos\/acme\/app$/, body: { message: "Server Error" } };
      github.answerNext(failing, failing, failing);
      const error = await refusal(repositoryPermission(config, github.tokenFor("octo"), "acme/app", options));
      expect(error.code).toBe("unavailable");
      expect(error.message).toContain("502 Server Error");
    });
  });
}

describe("the GitHub stand-in's users and tokens", () => {
  let github: GithubStandIn;
  beforeAll(async () => {
    github = await startGithubStandIn({ basePath: "/api/v3" });
    github.addUser({ login: "octo", repos: { "acme/app": "read" } });
  });
  afterAll(async () => {
    await github?.close();
  });
  const get = (path: string, authorization?: string) =>
    fetch(`${github.webUrl}${path}`, authorization ? { headers: { authorization } } : {});

  it("accepts a user token as `token X` and as `Bearer X`", async () => {
    const token = github.tokenFor("octo");
    expect((await get("/api/v3/user", `token ${token}`)).status).toBe(200);
    expect((await get("/api/v3/user", `Bearer ${token}`)).status).toBe(200);
    expect((await (await get("/api/v3/user", `Bearer ${token}`)).json()) as object).toMatchObject({
      login: "octo",
    });
  });

  it("answers /user 401 without a token, with an unknown one, and with a revoked one", async () => {
    const token = github.tokenFor("octo");
    expect(await (await get("/api/v3/user")).json()).toMatchObject({ message: "Requires authentication" });
    expect((await get("/api/v3/user", "token ghp_projectToken")).status).toBe(401);
    github.revokeTokens("octo");
    expect((await get("/api/v3/user", `token ${token}`)).status).toBe(401);
  });

  it("serves the API only under the base path and the OAuth pages only outside it", async () => {
    const token = github.tokenFor("octo");
    expect((await get("/user", `token ${token}`)).status).toBe(404);
    expect(
      (await fetch(`${github.url}/login/oauth/authorize?client_id=${DEFAULT_OAUTH_APP.clientId}`)).status,
    ).toBe(404);
  });

  it("answers GET /repos/{owner}/{repo} 404 to a project token, and its sub-resources whatever the token", async () => {
    expect((await get("/api/v3/repos/acme/app", "token ghp_projectToken")).status).toBe(404);
    github.branches.set("acme/app", new Map([["main", "a".repeat(40)]]));
    const branches = await get("/api/v3/repos/acme/app/branches", `token ${github.tokenFor("octo")}`);
    expect(await branches.json()).toEqual([expect.objectContaining({ name: "main" })]);
    expect((await get("/api/v3/repos/acme/app", `token ${github.tokenFor("octo")}`)).status).toBe(200);
  });

  it("answers the code exchange form-encoded when JSON is not asked for", async () => {
    const { challenge, verifier } = newPkce();
    github.signInAs("octo");
    const authorize = await fetch(
      `${github.webUrl}/login/oauth/authorize?${new URLSearchParams({
        client_id: DEFAULT_OAUTH_APP.clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: "S256",
      })}`,
      { redirect: "manual" },
    );
    const code = new URL(authorize.headers.get("location")!).searchParams.get("code")!;
    const answer = await fetch(`${github.webUrl}/login/oauth/access_token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
        code,
        code_verifier: verifier,
      }),
    });
    const form = new URLSearchParams(await answer.text());
    expect(form.get("access_token")).toMatch(/^gho_/);
    expect(form.get("token_type")).toBe("bearer");
    expect(form.get("scope")).toBe("");
  });

  it("redirects with error=invalid_request for a challenge method other than S256", async () => {
    github.signInAs("octo");
    const authorize = await fetch(
      `${github.webUrl}/login/oauth/authorize?${new URLSearchParams({
        client_id: DEFAULT_OAUTH_APP.clientId,
        redirect_uri: REDIRECT,
        state: "s",
        code_challenge: newPkce().challenge,
        code_challenge_method: "plain",
      })}`,
      { redirect: "manual" },
    );
    const back = new URL(authorize.headers.get("location")!);
    expect(back.searchParams.get("error")).toBe("invalid_request");
    expect(back.searchParams.has("code")).toBe(false);
  });

  it("throws on a user it does not have", () => {
    expect(() => github.signInAs("ghost")).toThrow(/no user "ghost"/);
    expect(() => github.setRepoPermission("ghost", "a/b", "read")).toThrow(/no user/);
  });
});

describe("GitHub not answering the code exchange", () => {
  it("is unavailable, within the request's time limit", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const error = await refusal(
        exchangeCode(
          { api_url: url, client_id: "id", client_secret: "s3cret-value-xyz" },
          { code: "c0de-value-xyz", redirectUri: REDIRECT, codeVerifier: newPkce().verifier },
          { ...options, timeoutMs: 200 },
        ),
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(error.code).toBe("unavailable");
      expect(error.message).toBe(
        `GitHub could not be reached to finish signing in (POST ${url}/login/oauth/access_token): no answer in time`,
      );
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("is unavailable when nothing listens, or when the answer is not GitHub's JSON", async () => {
    const closed = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>a login page</html>");
    });
    await new Promise<void>((ok) => closed.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    const input = { code: "c", redirectUri: REDIRECT, codeVerifier: newPkce().verifier };
    const config = { api_url: url, client_id: "id", client_secret: "secret" };
    const html = await refusal(exchangeCode(config, input, options));
    expect(html.message).toContain("the answer was not JSON");
    closed.closeAllConnections();
    await new Promise<void>((ok) => closed.close(() => ok()));
    const refused = await refusal(exchangeCode(config, input, options));
    expect(refused.code).toBe("unavailable");
    expect(refused.message).toContain("ECONNREFUSED");
  });
});
