/**
 * Users, tokens, sessions, settings and project permissions against an in-memory table (and,
 * for GitHub permissions, the GitHub stand-in on 127.0.0.1): only digests are stored, what a
 * credential resolves to is remembered for at most AUTH_CACHE_MS, suspended users are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { type GithubStandIn, startGithubStandIn } from "../github/stand-in.ts";
import { createProject } from "../project/index.ts";
import { z } from "../protocol/schema.ts";
import { SECRET_SET, settingsJson, updateSettings } from "../settings/index.ts";
import { getItem, queryPage } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Index, Keys } from "../table.ts";
import {
  AUTH_CACHE_MS,
  authenticate,
  createSession,
  createToken,
  createUser,
  endSession,
  issueToken,
  listTokens,
  refuseUnlessActive,
  revokeToken,
  setUserState,
  userForSignIn,
} from "./index.ts";
import { projectPermission } from "./permission.ts";

let table: TestTable;
let github: GithubStandIn;
beforeAll(async () => {
  table = await memoryTable();
  github = await startGithubStandIn();
});
afterAll(async () => {
  await table.close();
  await github.close();
});

const codeOf = (e: unknown) => (e instanceof GyreError ? e.code : String(e));
const later = (ms: number) => table.setNow(table.gyre.now() + ms);

describe("users and tokens", () => {
  it("stores a user and its token's digest, and authenticates the token", async () => {
    const { gyre } = table;
    const user = await createUser(gyre, { login: "ada", builder: true });
    expect(user).toMatchObject({ login: "ada", name: "ada", admin: false, builder: true, state: "active" });
    const stored = await getItem(gyre, Keys.user(user.id), z.record(z.string(), z.unknown()), "user");
    expect(stored).toMatchObject({ ...user, gsi1pk: Index.users(), gsi1sk: "ada" });

    const token = await createToken(gyre, user.id, "laptop");
    const { items } = await queryPage(gyre, { index: "gsi1", partition: Index.tokensOf(user.id) });
    expect(items).toEqual([expect.objectContaining({ userId: user.id, label: "laptop", kind: "personal" })]);
    expect(JSON.stringify(items)).not.toContain(token);

    expect((await authenticate(gyre, { token })).user.id).toBe(user.id);
    expect(codeOf(await authenticate(gyre, { token: "gyre_not-a-token" }).catch((e) => e))).toBe(
      "unauthorized",
    );
    expect(codeOf(await authenticate(gyre, {}).catch((e) => e))).toBe("unauthorized");
  });

  it("refuses a login that is not a plain name", async () => {
    await expect(createUser(table.gyre, { login: "no spaces" })).rejects.toThrow(GyreError);
  });

  it("refuses a revoked token in another process once AUTH_CACHE_MS has passed, and records when it was last used", async () => {
    const { gyre } = table;
    const user = await createUser(gyre, { login: "grace" });
    const { token, info } = await issueToken(gyre, user.id, "ci");
    expect((await authenticate(gyre, { token })).token?.id).toBe(info.id);
    const [listed] = await listTokens(gyre, user.id);
    expect(listed).toMatchObject({
      id: info.id,
      label: "ci",
      kind: "personal",
      lastUsedAt: new Date(gyre.now()).toISOString(),
    });
    // A revoke elsewhere (the table changes, this process remembers): refused after the cache's time.
    await revokeToken(gyre, await listTokens(gyre, user.id), info.id);
    later(AUTH_CACHE_MS + 1);
    expect(codeOf(await authenticate(gyre, { token }).catch((e) => e))).toBe("unauthorized");
  });

  it("refuses a suspended user's tokens and sessions, and takes them again once reactivated", async () => {
    const { gyre } = table;
    const admin = await createUser(gyre, { login: "root", admin: true });
    const user = await createUser(gyre, { login: "linus" });
    const token = await createToken(gyre, user.id, "t");
    const { cookie } = await createSession(gyre, user.id, 1);
    await setUserState(gyre, user.id, "suspended", admin);
    later(AUTH_CACHE_MS + 1);
    expect(codeOf(await authenticate(gyre, { token }).catch((e) => e))).toBe("forbidden");
    expect(codeOf(await authenticate(gyre, { session: cookie }).catch((e) => e))).toBe("forbidden");
    await setUserState(gyre, user.id, "active", admin);
    later(AUTH_CACHE_MS + 1);
    expect((await authenticate(gyre, { token })).user.state).toBe("active");
    await expect(setUserState(gyre, admin.id, "suspended", admin)).rejects.toThrow("cannot suspend yourself");
  });

  it("ends a session when it expires or is ended", async () => {
    const { gyre } = table;
    const user = await createUser(gyre, { login: "barbara" });
    const { cookie, session } = await createSession(gyre, user.id, 1);
    expect((await authenticate(gyre, { session: cookie })).session?.csrfToken).toBe(session.csrfToken);
    later(3600 * 1000 + 1);
    expect(codeOf(await authenticate(gyre, { session: cookie }).catch((e) => e))).toBe("unauthorized");
    const second = await createSession(gyre, user.id, 1);
    await endSession(gyre, second.session.hash);
    later(AUTH_CACHE_MS + 1);
    expect(codeOf(await authenticate(gyre, { session: second.cookie }).catch((e) => e))).toBe("unauthorized");
  });
});

describe("sign-in accounts", () => {
  it("makes the first person to sign in an administrator, and later ones suspended-new when the setting says so", async () => {
    const { gyre } = table;
    const first = await userForSignIn(gyre, {
      provider: "ldap",
      externalId: "Margaret",
      login: "margaret",
      fields: {},
    });
    expect(first).toMatchObject({ created: true, user: { admin: true, state: "active", provider: "ldap" } });
    // The same person again (their id is case-insensitive): the same account.
    const again = await userForSignIn(gyre, {
      provider: "ldap",
      externalId: "margaret",
      login: "margaret",
      fields: {},
    });
    expect(again).toMatchObject({ created: false, user: { id: first.user.id } });

    await updateSettings(gyre, { suspend_new_users: true });
    const waiting = await userForSignIn(gyre, {
      provider: "ldap",
      externalId: "ken",
      login: "ken",
      fields: {},
    });
    expect(waiting).toMatchObject({ created: true, user: { admin: false, state: "suspended-new" } });
    expect(() => refuseUnlessActive(waiting.user)).toThrow(
      "Your account waits for an administrator to activate it.",
    );
    await updateSettings(gyre, { suspend_new_users: false });
  });
});

describe("settings", () => {
  it("seals secrets, shows them as ******** and keeps one a change leaves out or sends back masked", async () => {
    const { gyre } = table;
    const change = await updateSettings(gyre, {
      github: { api_url: github.url, client_id: "app", client_secret: "s3cret-value" },
    });
    expect(settingsJson(change.settings)).toMatchObject({
      github: { client_id: "app", client_secret: SECRET_SET },
    });
    const raw = await getItem(gyre, Keys.settings(), z.record(z.string(), z.unknown()), "settings");
    expect(JSON.stringify(raw)).not.toContain("s3cret-value");
    expect(JSON.stringify(change.after)).not.toContain("s3cret-value");
    const kept = await updateSettings(gyre, { github: { client_id: "app2", client_secret: SECRET_SET } });
    expect(kept.settings.github?.client_secret).toBe(change.settings.github?.client_secret);
    expect(kept.before).toEqual({ github: expect.objectContaining({ client_id: "app" }) });
    expect(kept.after).toEqual({ github: expect.objectContaining({ client_id: "app2" }) });
  });

  it("never sends a kept secret to a new host: changing where it goes needs the secret again", async () => {
    const { gyre } = table;
    await expect(
      updateSettings(gyre, { github: { api_url: "https://evil.example/api/v3" } }),
    ).rejects.toThrow(
      "github.client_secret must be given again with a new api_url: the stored one is not sent elsewhere.",
    );
    const moved = await updateSettings(gyre, {
      github: { api_url: "https://ghe.example/api/v3", client_secret: "new-secret" },
    });
    expect(moved.settings.github?.api_url).toBe("https://ghe.example/api/v3");
  });

  it("refuses unknown settings and bad values with the field named, changing nothing", async () => {
    const { gyre } = table;
    await expect(updateSettings(gyre, { suspend_new_users: "yes" })).rejects.toThrow(
      "Invalid settings: suspend_new_users: Invalid input: expected boolean, received string",
    );
    await expect(updateSettings(gyre, { nonsense: 1 })).rejects.toThrow("Unknown setting: nonsense.");
  });
});

describe("project permissions", () => {
  const project = { slug: "gh/acme/api", vcsType: "github", org: "acme", name: "api" };
  const local = { slug: "local/acme/tool", vcsType: "local", org: "acme", name: "tool" };

  it("gives a project token its own project at its scope, and nothing elsewhere", async () => {
    const { gyre } = table;
    const owner = await createUser(gyre, { login: "owner", admin: true });
    const { token } = await issueToken(gyre, owner.id, "badge", {
      project: { slug: project.slug, scope: "status" },
    });
    const principal = await authenticate(gyre, { token });
    expect(await projectPermission(gyre, principal, project)).toBe("status");
    expect(await projectPermission(gyre, principal, local)).toBe("none");
  });

  it("follows the user's permission on the repository as GitHub says it, remembered for permission_cache_seconds", async () => {
    const { gyre } = table;
    const user = await createUser(gyre, { login: "octo", provider: "github" });
    github.addUser({ login: "octo", id: 4242, repos: { "acme/api": "write" } });
    const githubToken = github.tokenFor("octo");
    const { encryptSecret } = await import("../secret/index.ts");
    const { tryUpdate } = await import("../store/index.ts");
    const { githubTokenAad } = await import("./users.ts");
    await tryUpdate(gyre, Keys.user(user.id), {
      set: {
        github: {
          id: 4242,
          login: "octo",
          token: await encryptSecret(gyre.keys, githubToken, githubTokenAad(user.id)),
          orgs: [],
          connectedAt: new Date(gyre.now()).toISOString(),
        },
      },
    });
    await updateSettings(gyre, {
      permission_cache_seconds: 60,
      default_project_permission: "none",
      github: { api_url: github.url, client_id: "app", client_secret: "s3cret-value" },
    });
    await createProject(gyre, {
      repoUrl: "/srv/git/api",
      slug: project.slug,
      github: { apiUrl: github.url },
    });
    // The same repository name on another GitHub: not the sign-in's to answer for.
    await createProject(gyre, {
      repoUrl: "/srv/git/elsewhere",
      slug: "gh/acme/elsewhere",
      github: { apiUrl: "https://ghe.example/api/v3" },
    });
    github.setRepoPermission("octo", "acme/elsewhere", "admin");
    later(AUTH_CACHE_MS + 1);
    const principal = await authenticate(gyre, { token: await createToken(gyre, user.id, "t") });
    expect(await projectPermission(gyre, principal, project)).toBe("write");
    // Not a GitHub project, or one on another GitHub host: the installation's default.
    expect(await projectPermission(gyre, principal, local)).toBe("none");
    const elsewhere = { slug: "gh/acme/elsewhere", vcsType: "github", org: "acme", name: "elsewhere" };
    expect(await projectPermission(gyre, principal, elsewhere)).toBe("none");
    github.setRepoPermission("octo", "acme/api", "read");
    expect(await projectPermission(gyre, principal, project)).toBe("write");
    later(61_000);
    expect(await projectPermission(gyre, principal, project)).toBe("view");
    github.setRepoPermission("octo", "acme/api", undefined);
    later(61_000);
    expect(await projectPermission(gyre, principal, project)).toBe("none");
  });
});

describe("where a sign-in returns to", () => {
  it("is a path on Gyre itself: another site, a tab-hidden //, a backslash or a space sends to /", async () => {
    const { safeReturnTo } = await import("./sign-in.ts");
    expect(safeReturnTo("/pipelines?x=1#y")).toBe("/pipelines?x=1#y");
    for (const bad of [
      undefined,
      "",
      "https://evil.example",
      "//evil.example",
      "/\t/evil.example",
      "/\\evil",
      "/a b",
      "/\n/x",
      "pipelines",
    ])
      expect(safeReturnTo(bad)).toBe("/");
  });
});
