/**
 * Who is refused where, one table: each kind of caller against one route of each rule, over
 * HTTP on the local runtime, with project permissions from the GitHub stand-in on 127.0.0.1
 * (each user's permission on acme/api as GitHub says it; `default_project_permission: none`, so
 * a project GitHub grants nothing on is invisible).
 */
import { issueToken, listTokens, revokeToken, setUserState } from "@gyre/core/auth/index";
import { createUser, githubTokenAad, type User } from "@gyre/core/auth/users";
import { type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { encryptSecret } from "@gyre/core/secret/index";
import { updateSettings } from "@gyre/core/settings/index";
import { tryUpdate } from "@gyre/core/store/index";
import { Keys } from "@gyre/core/table";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { gitRepo, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let github: GithubStandIn;
const tokens: Record<string, string> = {};

/** A person with a GitHub account whose permission on acme/api is `level` (none: no access). */
async function githubPerson(login: string, id: number, level: "read" | "write" | "admin" | undefined) {
  const gyre = runtime.gyre;
  github.addUser({ login, id, repos: level ? { "acme/api": level } : {} });
  const user = await createUser(gyre, { login, provider: "github" });
  const sealed = await encryptSecret(gyre.keys, github.tokenFor(login), githubTokenAad(user.id));
  await tryUpdate(gyre, Keys.user(user.id), {
    set: { github: { id, login, token: sealed, orgs: [], connectedAt: new Date().toISOString() } },
  });
  return user;
}
const tokenOf = async (user: User, label = "t") => (await issueToken(runtime.gyre, user.id, label)).token;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("authz"), port: 0, agents: 0 });
  github = await startGithubStandIn();
  const gyre = runtime.gyre;
  await updateSettings(gyre, {
    github: { api_url: github.url, client_id: "gyre-app", client_secret: "app-secret" },
    default_project_permission: "none",
  });
  const repo = gitRepo({ ".circleci/config.yml": "version: 2.1\njobs: {}\nworkflows: {}\n" });
  for (const slug of ["gh/acme/api", "gh/acme/web"]) {
    const res = await fetch(`${runtime.url}/api/gyre/projects`, {
      method: "POST",
      headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
      // Its repository is on the GitHub users sign in with (the stand-in).
      body: JSON.stringify({ repo_url: repo.path, slug, github: { api_url: github.url } }),
    });
    expect(res.status).toBe(201);
  }
  tokens.admin = runtime.adminToken;
  tokens.reader = await tokenOf(await githubPerson("reader", 101, "read"));
  tokens.writer = await tokenOf(await githubPerson("writer", 102, "write"));
  tokens.maintainer = await tokenOf(await githubPerson("maintainer", 103, "admin"));
  tokens.outsider = await tokenOf(await githubPerson("outsider", 104, undefined));
  const suspended = await githubPerson("suspended", 105, "admin");
  tokens.suspended = await tokenOf(suspended);
  const admin = (await createUser(gyre, { login: "root", admin: true })) as User;
  await setUserState(gyre, suspended.id, "suspended", admin);
  const revokedOwner = await githubPerson("revoked", 106, "admin");
  tokens.revoked = await tokenOf(revokedOwner);
  const [revoked] = await listTokens(gyre, revokedOwner.id);
  await revokeToken(gyre, [revoked!], revoked!.id);
  for (const scope of ["status", "view-builds", "all"] as const)
    tokens[`project:${scope}`] = (
      await issueToken(gyre, admin.id, scope, { project: { slug: "gh/acme/api", scope } })
    ).token;
  tokens.operator = (await issueToken(gyre, admin.id, "nomad", { kind: "operator" })).token;
  tokens.builder = (
    await import("node:fs").then((fs) => fs.readFileSync(`${runtime.dataDir}/builder-token`, "utf8"))
  ).trim();
  tokens.anonymous = "";
});

afterAll(async () => {
  await runtime?.stop();
  await github?.close();
});

const ROUTES = {
  "read acme/api (project:view)": ["GET", "/api/v2/project/gh/acme/api/pipeline"],
  "clear acme/api's caches (project:write)": ["DELETE", "/api/v1.1/project/gh/acme/api/build-cache"],
  "change acme/api's settings (project:admin)": [
    "PATCH",
    "/api/v2/project/gh/acme/api/settings",
    { advanced: { autocancel_builds: false } },
  ],
  "acme/api's badge (project:status)": ["GET", "/gh/acme/api.svg"],
  "read acme/web (another project)": ["GET", "/api/v2/project/gh/acme/web"],
  "who am I (user)": ["GET", "/api/v2/me"],
  "list users (admin)": ["GET", "/api/gyre/users"],
  "Nomad's nodes (operator)": ["GET", "/v1/nodes"],
  "the builders' queues (builder)": ["GET", "/agent/v1/queues"],
} as const;

// The status each caller gets on each route, in ROUTES' order.
const EXPECTED: Record<string, number[]> = {
  admin: [200, 200, 200, 200, 200, 200, 200, 200, 403],
  maintainer: [200, 200, 200, 200, 404, 200, 403, 403, 403],
  writer: [200, 200, 403, 200, 404, 200, 403, 403, 403],
  reader: [200, 403, 403, 200, 404, 200, 403, 403, 403],
  outsider: [404, 404, 404, 404, 404, 200, 403, 403, 403],
  suspended: [403, 403, 403, 403, 403, 403, 403, 403, 403],
  revoked: [401, 401, 401, 401, 401, 401, 401, 401, 401],
  "project:status": [403, 403, 403, 200, 404, 403, 403, 403, 403],
  "project:view-builds": [200, 403, 403, 200, 404, 403, 403, 403, 403],
  "project:all": [200, 200, 403, 200, 404, 403, 403, 403, 403],
  operator: [403, 403, 403, 403, 403, 403, 403, 200, 403],
  builder: [403, 403, 403, 403, 403, 403, 403, 403, 200],
  anonymous: [401, 401, 401, 401, 401, 401, 401, 401, 401],
};

describe("authorization", () => {
  it("answers each kind of caller on each kind of route as its rule says", async () => {
    const got: Record<string, number[]> = {};
    for (const caller of Object.keys(EXPECTED)) {
      got[caller] = [];
      for (const [method, path, body] of Object.values(ROUTES) as readonly (readonly [
        string,
        string,
        unknown?,
      ])[]) {
        const res = await fetch(`${runtime.url}${path}`, {
          method,
          headers: {
            ...(tokens[caller] ? { "circle-token": tokens[caller]! } : {}),
            ...(body ? { "content-type": "application/json" } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
        await res.arrayBuffer();
        got[caller]!.push(res.status);
      }
    }
    expect(got).toEqual(EXPECTED);
  });

  it("says why: 404 as for a missing project to who may not see it, 403 naming the level needed to who may", async () => {
    const call = async (token: string, method: string, path: string) => {
      const res = await fetch(`${runtime.url}${path}`, { method, headers: { "circle-token": token } });
      return { status: res.status, body: (await res.json()) as { message: string } };
    };
    expect(await call(tokens.outsider!, "GET", "/api/v2/project/gh/acme/api/pipeline")).toEqual({
      status: 404,
      body: { message: "Project gh/acme/api not found." },
    });
    expect(await call(tokens.reader!, "DELETE", "/api/v1.1/project/gh/acme/api/build-cache")).toEqual({
      status: 403,
      body: { message: "You need write permission on gh/acme/api to do this (you have view)." },
    });
    expect(await call(tokens["project:status"]!, "GET", "/api/v2/project/gh/acme/api/pipeline")).toEqual({
      status: 403,
      body: { message: "This project token's scope (status) does not allow this: it needs view access." },
    });
    expect((await call(tokens.suspended!, "GET", "/api/v2/me")).body.message).toBe(
      "This account is suspended: ask an administrator to reactivate it.",
    );
  });

  it("lists only the projects a caller may view", async () => {
    const list = async (token: string) => {
      const res = await fetch(`${runtime.url}/api/gyre/projects`, { headers: { "circle-token": token } });
      return ((await res.json()) as { items: { slug: string }[] }).items.map((p) => p.slug);
    };
    expect(await list(tokens.admin!)).toEqual(["gh/acme/api", "gh/acme/web"]);
    expect(await list(tokens.reader!)).toEqual(["gh/acme/api"]);
    expect(await list(tokens.outsider!)).toEqual([]);
  });
});
