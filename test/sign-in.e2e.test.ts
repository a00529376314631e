/**
 * Signing in over HTTP on the local runtime: GitHub OAuth against the GitHub stand-in on
 * 127.0.0.1 (authorize, access_token, /user, /user/orgs, memberships, repository permissions),
 * and LDAP against a real OpenLDAP (slapd, test/support/slapd.ts) in plain, StartTLS and LDAPS
 * with a self-signed CA. Sessions are cookies; changes made with one need the CSRF token.
 */
import { DEFAULT_OAUTH_APP, type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { updateSettings } from "@gyre/core/settings/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { type Slapd, startSlapd } from "./support/slapd.ts";
import { gitRepo, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let github: GithubStandIn;
let slapd: Slapd;

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(path.startsWith("http") ? path : `${runtime.url}${path}`, { headers, redirect: "manual" });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${runtime.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
/** `gyre_session=<value>` from a sign-in's Set-Cookie, as a browser sends it back. */
const sessionCookie = (res: Response) =>
  res.headers.getSetCookie().find((c) => c.startsWith("gyre_session="));
const cookieOf = (res: Response) => {
  const set = sessionCookie(res) ?? "";
  const m = /gyre_session=([^;]+)/.exec(set);
  return m ? `gyre_session=${m[1]}` : "";
};

beforeAll(async () => {
  [runtime, github, slapd] = await Promise.all([
    startLocalRuntime({ dataDir: tempDir("sign-in"), port: 0, agents: 0 }),
    startGithubStandIn(),
    startSlapd(),
  ]);
  const repo = gitRepo({ ".circleci/config.yml": "version: 2.1\njobs: {}\nworkflows: {}\n" });
  const added = await post(
    "/api/gyre/projects",
    { repo_url: repo.path, slug: "gh/acme/api", github: { api_url: github.url } },
    { "circle-token": runtime.adminToken },
  );
  expect(added.status).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
  await github?.close();
  await slapd?.stop();
});

/** Goes through the GitHub sign-in as the stand-in's signed-in user; the callback's answer. */
async function githubSignIn(start = "/api/gyre/auth/github?return_to=/pipelines", headers = {}) {
  const begin = await get(start, headers);
  expect(begin.status).toBe(302);
  const authorize = new URL(begin.headers.get("location")!);
  const granted = await get(authorize.href);
  expect(granted.status).toBe(302);
  const callback = new URL(granted.headers.get("location")!);
  // The browser sends back the state cookie the start set (and the session cookie, if any).
  const state = /gyre_oauth_state=([^;]+)/.exec(begin.headers.get("set-cookie") ?? "")![1];
  const cookies = [`gyre_oauth_state=${state}`, (headers as { cookie?: string }).cookie].filter(Boolean);
  const answer = await get(callback.pathname + callback.search, { cookie: cookies.join("; ") });
  return { authorize, callback, state, answer };
}

describe("GitHub sign-in", () => {
  beforeAll(async () => {
    await updateSettings(runtime.gyre, {
      github: {
        api_url: github.url,
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
      },
      default_project_permission: "none",
      required_orgs: [],
      ldap: null,
    });
    github.addUser({
      login: "octocat",
      id: 583231,
      name: "The Octocat",
      email: "octocat@example.com",
      orgs: { acme: "active" },
      repos: { "acme/api": "read" },
    });
  });

  it("sends the browser to GitHub with state, an S256 challenge and CircleCI's scopes, and back with a session cookie", async () => {
    github.signInAs("octocat");
    const { authorize, callback, state, answer } = await githubSignIn();
    expect(authorize.pathname).toBe("/login/oauth/authorize");
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      client_id: DEFAULT_OAUTH_APP.clientId,
      redirect_uri: `${runtime.url}/api/gyre/auth/github/callback`,
      scope: "repo user:email read:org",
      code_challenge_method: "S256",
    });
    expect(authorize.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toBe("/pipelines");
    expect(sessionCookie(answer)).toMatch(
      /^gyre_session=[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/,
    );

    const session = await get("/api/gyre/auth/session", { cookie: cookieOf(answer) });
    const body = (await session.json()) as { user: Record<string, unknown>; csrf_token: string };
    // The installation has its administrator (the local runtime's): signing in first makes nobody one.
    expect(body.user).toMatchObject({
      login: "octocat",
      name: "The Octocat",
      role: "normal",
      provider: "github",
    });
    // Someone else's callback URL, opened in a browser that did not start it: refused.
    const foreign = await get(callback.pathname + callback.search);
    expect(foreign.status).toBe(401);
    expect(((await foreign.json()) as { message: string }).message).toBe(
      "This sign-in was not started in this browser: sign in again.",
    );
    // The same callback again in the browser that started it: the state was used.
    const replay = await get(callback.pathname + callback.search, { cookie: `gyre_oauth_state=${state}` });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { message: string }).message).toBe(
      "This sign-in has expired or was already used: sign in again.",
    );
  });

  it("gives a normal user what GitHub grants on the repository, and asks for the CSRF token on changes made with the cookie", async () => {
    github.addUser({ login: "hubot", id: 1000, orgs: { acme: "active" }, repos: { "acme/api": "read" } });
    github.signInAs("hubot");
    const { answer } = await githubSignIn();
    const cookie = cookieOf(answer);
    const session = (await (await get("/api/gyre/auth/session", { cookie })).json()) as {
      user: { role: string };
      csrf_token: string;
    };
    expect(session.user.role).toBe("normal");
    expect((await get("/api/v2/project/gh/acme/api", { cookie })).status).toBe(200);
    const clear = (headers: Record<string, string>) =>
      fetch(`${runtime.url}/api/v1.1/project/gh/acme/api/build-cache`, { method: "DELETE", headers });
    expect((await clear({ cookie, "x-csrf-token": session.csrf_token })).status).toBe(403); // read → view
    // Write permission on GitHub, and a new sign-in (which asks GitHub again): allowed with the token.
    github.setRepoPermission("hubot", "acme/api", "write");
    const again = cookieOf((await githubSignIn()).answer);
    const csrf = (
      (await (await get("/api/gyre/auth/session", { cookie: again })).json()) as { csrf_token: string }
    ).csrf_token;
    const without = await clear({ cookie: again });
    expect(without.status).toBe(403);
    expect(((await without.json()) as { message: string }).message).toMatch(/without its CSRF token/);
    expect((await clear({ cookie: again, "x-csrf-token": csrf })).status).toBe(200);

    // Signing out ends the session.
    const out = await fetch(`${runtime.url}/api/gyre/auth/logout`, {
      method: "POST",
      headers: { cookie: again, "x-csrf-token": csrf },
    });
    expect(out.status).toBe(200);
    expect(sessionCookie(out)).toMatch(/^gyre_session=; Max-Age=0; Path=\//);
    expect((await get("/api/gyre/auth/session", { cookie: again })).status).toBe(401);
  });

  it("refuses someone outside the required organizations, making no account", async () => {
    await updateSettings(runtime.gyre, { required_orgs: ["acme"] });
    github.addUser({ login: "stranger", id: 2000, orgs: { elsewhere: "active", acme: "pending" } });
    github.signInAs("stranger");
    const { answer } = await githubSignIn();
    expect(answer.status).toBe(403);
    expect(((await answer.json()) as { message: string }).message).toBe(
      "Only members of acme may use this installation: ask an owner to add you to one.",
    );
    expect(sessionCookie(answer)).toBeUndefined();
    const users = (await (await get("/api/gyre/users", { "circle-token": runtime.adminToken })).json()) as {
      items: { login: string }[];
    };
    expect(users.items.map((u) => u.login)).not.toContain("stranger");
    await updateSettings(runtime.gyre, { required_orgs: [] });
  });
});

describe("LDAP sign-in", () => {
  const ldapSettings = (security: "plain" | "starttls" | "ldaps") => ({
    host: "127.0.0.1",
    port: security === "ldaps" ? slapd.ldapsPort : slapd.port,
    security,
    ca: slapd.ca,
    search_user: slapd.adminDn,
    search_password: slapd.adminPassword,
    base_dn: slapd.baseDn,
    user_search_dn: "ou=users",
    required_group: slapd.groupDn("ci-users"),
  });
  const signIn = (username: string, password: string) => post("/api/gyre/auth/ldap", { username, password });

  for (const security of ["plain", "starttls", "ldaps"] as const)
    it(`signs a user of the required group in over ${security}, and refuses wrong, empty and injected credentials`, async () => {
      await updateSettings(runtime.gyre, { ldap: ldapSettings(security) });
      const ok = await signIn("ada", slapd.users.ada!.password);
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { user: Record<string, unknown> }).user).toMatchObject({
        login: "ada",
        name: "Ada Lovelace",
        provider: "ldap",
      });
      expect(cookieOf(ok)).toMatch(/^gyre_session=/);
      for (const [username, password] of [
        ["ada", "wrong"],
        ["ada", ""],
        ["*", slapd.users.ada!.password],
        [")(uid=*", slapd.users.ada!.password],
        ["ada)(|(uid=*", slapd.users.ada!.password],
      ] as const) {
        const refused = await signIn(username, password);
        expect({ username, status: refused.status, body: await refused.json() }).toEqual({
          username,
          status: 401,
          body: { message: "Invalid username or password." },
        });
      }
      const outsider = await signIn("mallory", slapd.users.mallory!.password);
      expect(outsider.status).toBe(403);
      // What a cross-site form can post (text/plain that parses as JSON) signs no one in.
      const form = await fetch(`${runtime.url}/api/gyre/auth/ldap`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ username: "ada", password: slapd.users.ada!.password }),
      });
      expect({ status: form.status, body: await form.json(), cookie: sessionCookie(form) }).toEqual({
        status: 400,
        body: { message: "Send the sign-in as JSON, with Content-Type: application/json." },
        cookie: undefined,
      });
    });

  it("stops a user's session and tokens once LDAP no longer has them, and refuses them at sign-in", async () => {
    await updateSettings(runtime.gyre, { ldap: ldapSettings("plain"), ldap_recheck_seconds: 0 });
    await slapd.addUser({ uid: "leaver", password: "leaving-soon", cn: "Lee Leaver" });
    await slapd.addToGroup("leaver", "ci-users");
    const signedIn = await signIn("leaver", "leaving-soon");
    expect(signedIn.status).toBe(200);
    const cookie = cookieOf(signedIn);
    const { csrf_token } = (await signedIn.json()) as { csrf_token: string };
    const made = await fetch(`${runtime.url}/api/gyre/me/tokens`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf_token, "content-type": "application/json" },
      body: JSON.stringify({ label: "laptop" }),
    });
    expect(made.status).toBe(201);
    const { token } = (await made.json()) as { token: string };
    expect((await get("/api/v2/me", { "circle-token": token })).status).toBe(200);

    await slapd.deleteUser("leaver");
    await new Promise((r) => setTimeout(r, 1100)); // past what this process remembers of a credential
    // The next request finds them gone: refused, and their tokens and sessions are removed.
    const refused = await get("/api/v2/me", { "circle-token": token });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toBe(
      "Your LDAP account is no longer allowed to use Gyre: ask an administrator.",
    );
    expect((await get("/api/v2/me", { cookie })).status).toBe(401);
    const users = (await (await get("/api/gyre/users", { "circle-token": runtime.adminToken })).json()) as {
      items: { id: string; login: string }[];
    };
    const leaver = users.items.find((u) => u.login === "leaver")!;
    const tokens = await get(`/api/gyre/users/${leaver.id}/tokens`, { "circle-token": runtime.adminToken });
    expect(((await tokens.json()) as { items: unknown[] }).items).toEqual([]);
    // Someone else given the name later is another person: not this account.
    // (The group still lists the DN: a directory that reuses it reuses the membership too.)
    await slapd.addUser({ uid: "leaver", password: "new-person", cn: "Other Person" });
    const newcomer = await signIn("leaver", "new-person");
    expect(newcomer.status).toBe(200);
    const newUser = ((await newcomer.json()) as { user: { id: string } }).user;
    expect(newUser.id).not.toBe(leaver.id);
    await slapd.deleteUser("leaver");
    expect((await signIn("leaver", "leaving-soon")).status).toBe(401);
    await updateSettings(runtime.gyre, { ldap_recheck_seconds: 300 });
  });

  it("lets an LDAP user connect a GitHub account, and offers no GitHub sign-in in LDAP-only mode", async () => {
    await updateSettings(runtime.gyre, { ldap: ldapSettings("plain") });
    const methods = (await (await get("/api/gyre/auth/methods")).json()) as Record<string, boolean>;
    expect(methods).toEqual({ github: false, ldap: true, github_connect: true, token: true });
    expect((await get("/api/gyre/auth/github")).status).toBe(400);

    const signedIn = await signIn("grace", slapd.users.grace!.password);
    const cookie = cookieOf(signedIn);
    github.addUser({ login: "ghopper", id: 3000, orgs: { acme: "active" }, repos: { "acme/api": "write" } });
    github.signInAs("ghopper");
    const { answer } = await githubSignIn("/api/gyre/auth/github?connect=true&return_to=/account", {
      cookie,
    });
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toBe("/account");
    // Her permission on the project now comes from GitHub (write), not the default (none).
    expect((await get("/api/v2/project/gh/acme/api", { cookie })).status).toBe(200);
    const users = (await (await get("/api/gyre/users", { "circle-token": runtime.adminToken })).json()) as {
      items: { login: string; github_login: string | null; provider: string }[];
    };
    expect(users.items.find((u) => u.login === "grace")).toMatchObject({
      github_login: "ghopper",
      provider: "ldap",
    });
  });
});
