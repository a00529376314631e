/**
 * The user-management procedures end to end through the CLI, as docs/operations.md ("Users,
 * tokens and settings") has an operator follow them: one local runtime (no builders) and one
 * real OpenLDAP (test/support/slapd.ts). The operator runs `gyre ...` (the CLI's `main`, with
 * GYRE_URL and the local administrator's GYRE_TOKEN); people sign in with LDAP over HTTP as the
 * browser does (session cookie, X-CSRF-Token). Each step checks what the person sees at once,
 * and the last reads the audit records every change left. `gyre admin bootstrap` runs against
 * the runtime's own table with no API at all, as it runs after `sst deploy`.
 *
 * The tests run in order and build on each other (who signed in first, who is suspended).
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { main } from "../packages/cli/src/main.ts";
import { SYSTEM_ACTOR } from "../packages/core/src/audit/index.ts";
import { createToken } from "../packages/core/src/auth/tokens.ts";
import { createUser } from "../packages/core/src/auth/users.ts";
import { queryRaw } from "../packages/core/src/store/index.ts";
import { plainLdapSettings, type Slapd, startSlapd } from "./support/slapd.ts";
import { gitRepo, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let slapd: Slapd;
let dir: string;
let adminId: string;
const startedAt = Date.now();
const SLUG = "gh/acme/api";

/** Sets environment variables for the length of `fn`, then puts back what was there. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const put = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  put(vars);
  try {
    return await fn();
  } finally {
    put(saved);
  }
}

/** Runs `gyre <args>` against the runtime as its administrator: the exit code and what it printed. */
async function gyre(...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void out.push(String(line)));
  try {
    const code = await withEnv({ GYRE_URL: runtime.url, GYRE_TOKEN: runtime.adminToken }, () => main(args));
    return { code, out };
  } finally {
    log.mockRestore();
  }
}

/** Runs `gyre <args>` expecting it to fail as the binary would (`gyre: <message>`, exit 1): the message. */
async function gyreFails(...args: string[]): Promise<string> {
  const error = await gyre(...args).then(
    (result) => {
      throw new Error(`gyre ${args.join(" ")} did not fail: ${JSON.stringify(result)}`);
    },
    (e: unknown) => e as Error,
  );
  return error.message;
}

const request = (
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
) =>
  fetch(`${runtime.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

/** `GET /api/v2/me` with a token or a cookie: its status and message or login. */
async function me(headers: Record<string, string>) {
  const res = await request("/api/v2/me", { headers });
  const body = (await res.json()) as { login?: string; message?: string };
  return { status: res.status, ...(body.login ? { login: body.login } : { message: body.message }) };
}

interface SignedIn {
  status: number;
  cookie: string;
  csrf: string;
  body: { user?: { id: string; login: string; role: string; provider: string }; message?: string };
}

/** Signs in with LDAP as the sign-in page does: the session cookie and the CSRF token it answers. */
async function ldapSignIn(username: string, password: string): Promise<SignedIn> {
  const res = await request("/api/gyre/auth/ldap", { method: "POST", body: { username, password } });
  const body = (await res.json()) as SignedIn["body"] & { csrf_token?: string };
  const cookie = /gyre_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "");
  return {
    status: res.status,
    cookie: cookie ? `gyre_session=${cookie[1]}` : "",
    csrf: body.csrf_token ?? "",
    body,
  };
}

/** A personal token made in the browser: with the session cookie and its X-CSRF-Token. */
async function tokenFromSession(session: SignedIn, label: string): Promise<string> {
  const res = await request("/api/gyre/me/tokens", {
    method: "POST",
    headers: { cookie: session.cookie, "x-csrf-token": session.csrf },
    body: { label },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

const password = (uid: string) => slapd.users[uid]!.password;

type AuditRecord = {
  action: string;
  actor: { id: string; type: string; name?: string };
  target: { id: string; type: string; name?: string };
  payload: Record<string, unknown>;
};

/** Every audit record since the file started (records are kept by the hour, `AUDIT#<yyyy-mm-ddThh>`). */
async function auditRecords(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let hour = Math.floor(startedAt / 3600_000); hour <= Math.floor(Date.now() / 3600_000); hour++) {
    const partition = `AUDIT#${new Date(hour * 3600_000).toISOString().slice(0, 13)}`;
    for await (const item of queryRaw(runtime.gyre, { partition })) out.push(item.record as AuditRecord);
  }
  return out;
}

beforeAll(async () => {
  dir = tempDir("accounts");
  [runtime, slapd] = await Promise.all([
    startLocalRuntime({ dataDir: join(dir, "data"), port: 0, agents: 0 }),
    startSlapd(),
  ]);
  adminId = (
    (await (await request("/api/v2/me", { headers: { "circle-token": runtime.adminToken } })).json()) as {
      id: string;
    }
  ).id;
  // One user the first tests do not know about, for "suspend new users".
  await slapd.addUser({ uid: "linus", password: "penguin-1991", cn: "Linus Newcomer" });
  await slapd.addToGroup("linus", "ci-users");
});

afterAll(async () => {
  await runtime?.stop();
  await slapd?.stop();
});

describe("The user-management procedures end to end through the CLI", () => {
  it("gyre settings set ldap=@file.json sets up LDAP sign-in, and settings show the search password only as ********", async () => {
    const file = join(dir, "ldap.json");
    writeFileSync(
      file,
      JSON.stringify(plainLdapSettings(slapd, { required_group: slapd.groupDn("ci-users") })),
    );
    const set = await gyre("settings", "set", `ldap=@${file}`);
    expect(set.code).toBe(0);
    expect(set.out[0]).toBe("Set ldap; now:");
    expect(set.out).toContain(`  ldap.host="${slapd.host}"`);
    expect(set.out).toContain('  ldap.search_password="********"');

    // One field of the section, a number parsed as JSON; the password stays as it was.
    expect((await gyre("settings", "set", "ldap.timeout_ms=4000", "ldap_recheck_seconds=300")).code).toBe(0);
    expect((await gyre("settings", "get", "ldap.timeout_ms")).out).toEqual(["4000"]);
    expect((await gyre("settings", "get", "ldap.host")).out).toEqual([slapd.host]);
    const all = await gyre("settings", "get");
    expect(all.out).toEqual(
      expect.arrayContaining([
        "suspend_new_users=false",
        "required_orgs=[]",
        'ldap.search_password="********"',
        `ldap.port=${slapd.port}`,
        "github=null",
      ]),
    );
    const asJson = JSON.parse((await gyre("settings", "get", "--json")).out.join("\n"));
    expect(asJson.ldap).toMatchObject({ host: slapd.host, search_password: "********", timeout_ms: 4000 });
    expect(JSON.stringify([all.out, asJson])).not.toContain(slapd.adminPassword);

    expect(await gyreFails("settings", "get", "no_such_setting")).toMatch(
      /^There is no setting no_such_setting/,
    );
    expect(await gyreFails("settings", "set", "suspend_new_users")).toMatch(/is not <name>=<value>/);
  });

  it("each line gyre settings get prints is a name=value gyre settings set takes: set back, they change nothing (the password stays)", async () => {
    const before = await gyre("settings", "get");
    expect(before.out.every((line) => /^[a-z_]+(\.[a-z_]+)?=\S/.test(line))).toBe(true);
    const set = await gyre("settings", "set", ...before.out);
    expect(set.code).toBe(0);
    expect((await gyre("settings", "get")).out).toEqual(before.out);
    const test = await withEnv({ GYRE_LDAP_TEST_PASSWORD: password("ada") }, () =>
      gyre("settings", "ldap-test", "ada"),
    );
    expect(test.code).toBe(0); // the search account's password is still the one set
  });

  it("a list setting takes the reference's comma-separated form too (trimmed, empties dropped), or JSON", async () => {
    expect((await gyre("settings", "set", "required_orgs=acme,foo")).out).toEqual([
      "Set required_orgs; now:",
      '  required_orgs=["acme","foo"]',
    ]);
    expect((await gyre("settings", "set", "required_orgs= acme , ,acme-contractors,")).out[1]).toBe(
      '  required_orgs=["acme","acme-contractors"]',
    );
    expect((await gyre("settings", "set", "required_orgs=solo")).out[1]).toBe('  required_orgs=["solo"]');
    expect((await gyre("settings", "set", 'required_orgs=["a","b"]')).out[1]).toBe(
      '  required_orgs=["a","b"]',
    );
    expect((await gyre("settings", "set", "required_orgs=")).out[1]).toBe("  required_orgs=[]");
    // Not a list: a string stays a string.
    expect(await gyreFails("settings", "set", "session_hours=a,b")).toMatch(/session_hours/);
  });

  it("gyre settings set ldap=@file.json merges the file into the section; section.field=null removes a field; ldap=null then ldap=@file replaces it", async () => {
    const partial = join(dir, "ldap-timeouts.json");
    writeFileSync(partial, JSON.stringify({ connect_timeout_ms: 3000 }));
    expect((await gyre("settings", "set", `ldap=@${partial}`)).code).toBe(0);
    const get = async (name: string) => (await gyre("settings", "get", name)).out;
    expect(await get("ldap.connect_timeout_ms")).toEqual(["3000"]);
    expect(await get("ldap.host")).toEqual([slapd.host]); // kept
    expect(await get("ldap.timeout_ms")).toEqual(["4000"]); // kept

    expect((await gyre("settings", "set", "ldap.required_group=null")).code).toBe(0);
    expect(await get("ldap.required_group")).toEqual(["null"]);
    expect((await gyre("settings", "set", `ldap.required_group=${slapd.groupDn("ci-users")}`)).code).toBe(0);
    expect(await get("ldap.required_group")).toEqual([slapd.groupDn("ci-users")]);
  });

  it("gyre settings ldap-test passes each step with ✓ for a member of the required group (password from GYRE_LDAP_TEST_PASSWORD)", async () => {
    const test = await withEnv({ GYRE_LDAP_TEST_PASSWORD: password("ada") }, () =>
      gyre("settings", "ldap-test", "ada"),
    );
    expect(test.code).toBe(0);
    expect(test.out.length).toBeGreaterThan(2);
    expect(test.out.slice(0, -1).every((line) => line.startsWith("✓ "))).toBe(true);
    expect(test.out.at(-1)).toBe("ada can sign in with these LDAP settings.");
  });

  it("gyre settings ldap-test marks the failing step ✗ and exits 1: a user outside the required group, a wrong password read from stdin", async () => {
    const outsider = await withEnv({ GYRE_LDAP_TEST_PASSWORD: password("mallory") }, () =>
      gyre("settings", "ldap-test", "mallory"),
    );
    expect(outsider.code).toBe(1);
    const failed = outsider.out.filter((line) => line.startsWith("✗ "));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/ci-users/);
    expect(outsider.out.at(-1)).toBe(
      "mallory cannot sign in with these LDAP settings: see the step marked ✗.",
    );

    const stdin = Object.getOwnPropertyDescriptor(process, "stdin")!;
    Object.defineProperty(process, "stdin", {
      value: Readable.from(["not-her-password\n"]),
      configurable: true,
    });
    try {
      const wrong = await withEnv({ GYRE_LDAP_TEST_PASSWORD: undefined }, () =>
        gyre("settings", "ldap-test", "ada"),
      );
      expect(wrong.code).toBe(1);
      expect(wrong.out.some((line) => line.startsWith("✗ "))).toBe(true);
    } finally {
      Object.defineProperty(process, "stdin", stdin);
    }
  });

  let ada: SignedIn;
  let grace: SignedIn;
  let graceToken: string;

  it("people who sign in with LDAP are normal users (the local runtime has its administrator, so the first signer is not made one); gyre user list shows them with role, state, provider and the seats in use", async () => {
    ada = await ldapSignIn("ada", password("ada"));
    expect(ada.status).toBe(200);
    expect(ada.body.user).toMatchObject({ login: "ada", role: "normal", provider: "ldap" });
    grace = await ldapSignIn("grace", password("grace"));
    expect(grace.status).toBe(200);
    expect(grace.body.user).toMatchObject({ login: "grace", role: "normal", provider: "ldap" });
    expect(grace.cookie).toMatch(/^gyre_session=./);
    expect(grace.csrf).not.toBe("");

    const list = await gyre("user", "list");
    expect(list.code).toBe(0);
    const [header, ...rows] = list.out;
    expect(header).toMatch(/^LOGIN +NAME +ROLE +STATE +PROVIDER +LAST SEEN$/);
    const row = (login: string) => rows.find((r) => r.startsWith(`${login} `))?.split(/ {2,}/);
    expect(row("admin")?.slice(0, 5)).toEqual(["admin", "Administrator", "admin", "active", "local"]);
    expect(row("ada")?.slice(0, 5)).toEqual(["ada", "Ada Lovelace", "normal", "active", "ldap"]);
    expect(row("grace")?.slice(0, 5)).toEqual(["grace", "Grace Hopper", "normal", "active", "ldap"]);
    expect(row("grace")?.[5]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(list.out.at(-1)).toBe("3 seats in use");
    // --json: the API's answer as it is, not just its items.
    const listJson = JSON.parse((await gyre("user", "list", "--json")).out.join("\n"));
    expect(listJson).toMatchObject({ seats: 3, counts: { active: 3, suspended: 0 } });
    expect(listJson.items.map((u: { login: string }) => u.login).sort()).toEqual(["ada", "admin", "grace"]);

    const show = await gyre("user", "show", "grace");
    expect(show.out).toEqual(
      expect.arrayContaining([
        "Login     = grace",
        "Role      = normal",
        "State     = active",
        "Provider  = ldap",
        `LDAP DN   = ${slapd.userDn("grace")}`,
        "Email     = grace@example.org",
      ]),
    );
    const byId = JSON.parse((await gyre("user", "show", grace.body.user!.id, "--json")).out.join("\n"));
    expect(byId).toMatchObject({ id: grace.body.user!.id, login: "grace", role: "normal" });
  });

  it("a personal token is made with the session cookie and its X-CSRF-Token; the same POST with the cookie alone is refused 403", async () => {
    const withoutCsrf = await request("/api/gyre/me/tokens", {
      method: "POST",
      headers: { cookie: grace.cookie },
      body: { label: "laptop" },
    });
    expect(withoutCsrf.status).toBe(403);
    expect(((await withoutCsrf.json()) as { message: string }).message).toMatch(/without its CSRF token/);
    graceToken = await tokenFromSession(grace, "laptop");
    expect(await me({ "circle-token": graceToken })).toEqual({ status: 200, login: "grace" });
    expect(await me({ cookie: grace.cookie })).toEqual({ status: 200, login: "grace" });
  });

  it("gyre user suspend refuses the user's token (403) and ends their session at once, and their LDAP sign-in is refused 403; gyre user activate lets them in again", async () => {
    const suspended = await gyre("user", "suspend", "grace");
    expect(suspended.out).toEqual(["Suspended grace: their sessions are ended and their tokens refused."]);
    expect(await me({ "circle-token": graceToken })).toEqual({
      status: 403,
      message: "This account is suspended: ask an administrator to reactivate it.",
    });
    // Suspending ends the sessions (http/users.ts): the cookie names none any more.
    expect(await me({ cookie: grace.cookie })).toEqual({
      status: 401,
      message: "Your session has ended: sign in again.",
    });
    const refused = await ldapSignIn("grace", password("grace"));
    expect(refused).toMatchObject({
      status: 403,
      cookie: "",
      body: { message: "Your account is suspended: ask an administrator to reactivate it." },
    });
    // Filtered, the list has no seats footer (seats count every user, not the ones shown).
    const listed = await gyre("user", "list", "--state", "suspended");
    expect(listed.out.slice(1).map((r) => r.split(/ {2,}/)[0])).toEqual(["grace"]);
    expect((await gyre("user", "list")).out.at(-1)).toBe("2 seats in use");
    const suspendedJson = JSON.parse(
      (await gyre("user", "list", "--state", "suspended", "--json")).out.join("\n"),
    );
    expect(suspendedJson).toMatchObject({ seats: 2, counts: { suspended: 1 } });
    expect(suspendedJson.items.map((u: { login: string }) => u.login)).toEqual(["grace"]);
    expect((await gyre("user", "suspend", "grace")).out).toEqual([
      "grace is suspended already: nothing changed.",
    ]);

    expect((await gyre("user", "activate", "grace")).out).toEqual(["Activated grace (was suspended)."]);
    expect(await me({ "circle-token": graceToken })).toEqual({ status: 200, login: "grace" });
    grace = await ldapSignIn("grace", password("grace"));
    expect(grace.status).toBe(200);
    expect(await me({ cookie: grace.cookie })).toEqual({ status: 200, login: "grace" });
  });

  let linus: SignedIn;

  it("with suspend_new_users=true a new LDAP user's sign-in is refused 403 until gyre user activate admits them; gyre user list --state suspended-new shows them", async () => {
    const set = await gyre("settings", "set", "suspend_new_users=true");
    expect(set.out).toEqual(["Set suspend_new_users; now:", "  suspend_new_users=true"]);
    const waiting = await ldapSignIn("linus", "penguin-1991");
    expect(waiting).toMatchObject({
      status: 403,
      cookie: "",
      body: { message: "Your account waits for an administrator to activate it." },
    });
    const listed = await gyre("user", "list", "--state", "suspended-new");
    expect(listed.out.slice(1).map((r) => r.split(/ {2,}/).slice(0, 5))).toEqual([
      ["linus", "Linus Newcomer", "normal", "suspended-new", "ldap"],
    ]);
    expect((await gyre("user", "list", "--state", "inactive")).out).toEqual(["No user is inactive."]);
    expect((await gyre("user", "list")).out.at(-1)).toBe("3 seats in use");
    expect(await gyreFails("user", "list", "--state", "gone")).toMatch(/^--state takes active, inactive/);

    expect((await gyre("user", "activate", "linus")).out).toEqual(["Activated linus (was suspended-new)."]);
    linus = await ldapSignIn("linus", "penguin-1991");
    expect(linus.status).toBe(200);
    expect(linus.body.user).toMatchObject({ login: "linus", role: "normal" });
    expect((await gyre("user", "list")).out.at(-1)).toBe("4 seats in use");
    expect((await gyre("settings", "set", "suspend_new_users=false")).code).toBe(0);
  });

  it("gyre user role makes a normal user an administrator and back, and what their session may do follows at once", async () => {
    const users = (cookie: string) =>
      request("/api/gyre/users", { headers: { cookie } }).then((r) => r.status);
    expect(await users(linus.cookie)).toBe(403);
    expect((await gyre("user", "role", "linus", "admin")).out).toEqual(["linus is now an administrator."]);
    expect(await users(linus.cookie)).toBe(200);
    expect((await gyre("user", "role", "linus", "admin")).out).toEqual([
      "linus is an administrator already: nothing changed.",
    ]);
    expect((await gyre("user", "role", "linus", "normal")).out).toEqual(["linus is now a normal user."]);
    expect(await users(linus.cookie)).toBe(403);
    // Not a role, or none: an error that says which roles there are.
    expect(await gyreFails("user", "role", "linus", "superuser")).toBe(
      'The role must be admin or normal, not "superuser": gyre user role linus admin|normal.',
    );
    expect(await gyreFails("user", "role", "linus")).toBe(
      "gyre user role linus needs a role: the role must be admin or normal.",
    );
  });

  let revokedId: string;

  it("gyre token create prints a token once, gyre token list lists it without its value, and gyre token revoke refuses it (401) right away", async () => {
    const created = await gyre("token", "create", "ci-bot");
    expect(created.code).toBe(0);
    expect(created.out[0]).toMatch(/^Created personal token "ci-bot" \(id [0-9a-f-]{36}\):$/);
    const token = created.out[1]!;
    expect(token).toMatch(/^gyre_[0-9a-f]{48}$/);
    expect(created.out[2]).toBe("It will not be shown again: copy it now.");
    expect(await me({ "circle-token": token })).toEqual({ status: 200, login: "admin" });

    const listed = await gyre("token", "list");
    expect(listed.out[0]).toMatch(/^ID +LABEL +KIND +CREATED +LAST USED$/);
    const row = listed.out.find((r) => r.includes("ci-bot"))!.split(/ {2,}/);
    expect(row.slice(1, 3)).toEqual(["ci-bot", "personal"]);
    expect(row[4]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/); // used a moment ago
    expect(listed.out.some((r) => r.includes("local admin"))).toBe(true);
    expect(listed.out.join("\n")).not.toContain(token);
    revokedId = row[0]!;

    const operator = await gyre("token", "create", "metrics", "--operator", "--json");
    const op = JSON.parse(operator.out.join("\n")) as { kind: string; token: string };
    expect(op.kind).toBe("operator");
    expect((await request("/v1/nodes", { headers: { "circle-token": op.token } })).status).toBe(200);
    expect((await me({ "circle-token": op.token })).status).toBe(403);

    expect((await gyre("token", "revoke", revokedId)).out).toEqual(["Token ci-bot revoked."]);
    expect(await me({ "circle-token": token })).toEqual({ status: 401, message: "Invalid token provided." });
    // --json: the API's answer as it is, {items: [...]}.
    const after = JSON.parse((await gyre("token", "list", "--json")).out.join("\n")) as {
      items: { label: string }[];
    };
    expect(after.items.map((t) => t.label)).toEqual(["local admin", "metrics"]);
    expect(await gyreFails("token", "revoke", revokedId)).toBe(
      `Token ${revokedId} not found: list your tokens with gyre token list.`,
    );
  });

  it("gyre project token create/list/delete manage a project's v1.1 tokens: a status token reads the badge, and is refused (401) once deleted", async () => {
    const repo = gitRepo({ ".circleci/config.yml": "version: 2.1\njobs: {}\nworkflows: {}\n" });
    expect((await gyre("project", "add", repo.path, "--slug", SLUG)).out[0]).toMatch(
      /^Added project gh\/acme\/api/,
    );

    expect(await gyreFails("project", "token", "create", SLUG, "badge")).toMatch(
      /^A project token needs --scope status\|view-builds\|all/,
    );
    expect(await gyreFails("project", "token", "create", SLUG, "badge", "--scope", "read")).toMatch(
      /^--scope "read" is not one of status, view-builds, all \(status: /,
    );
    const created = await gyre("project", "token", "create", SLUG, "badge", "--scope", "status");
    expect(created.out[0]).toMatch(
      /^Created project token "badge" for gh\/acme\/api \(scope status, id [0-9a-f-]{36}\):$/,
    );
    const token = created.out[1]!;
    expect(created.out[2]).toBe("It will not be shown again: copy it now.");
    const badge = () => request(`/${SLUG}.svg`, { headers: { "circle-token": token } }).then((r) => r.status);
    expect(await badge()).toBe(200);
    expect(
      (await request(`/api/v2/project/${SLUG}/pipeline`, { headers: { "circle-token": token } })).status,
    ).toBe(403);

    const listed = await gyre("project", "token", "list", SLUG);
    expect(listed.out[0]).toMatch(/^ID +LABEL +SCOPE +CREATED +LAST USED$/);
    expect(listed.out).toHaveLength(2);
    const [id, label, scope] = listed.out[1]!.split(/ {2,}/);
    expect([label, scope]).toEqual(["badge", "status"]);
    expect(listed.out.join("\n")).not.toContain(token);

    expect((await gyre("project", "token", "delete", SLUG, id!)).out).toEqual([
      `Deleted token ${id} of ${SLUG}: it is refused from now on.`,
    ]);
    expect(await badge()).toBe(401);
    expect((await gyre("project", "token", "list", SLUG)).out).toEqual([
      `${SLUG} has no tokens: make one with gyre project token create ${SLUG} "<label>" --scope status.`,
    ]);
  });

  it("gyre user delete refuses without --yes; with it the user is gone and their token is refused (401)", async () => {
    expect(await gyreFails("user", "delete", "grace")).toMatch(/run again with --yes to delete them/);
    expect(await me({ "circle-token": graceToken })).toEqual({ status: 200, login: "grace" });

    const deleted = await gyre("user", "delete", "grace", "--yes");
    expect(deleted.out).toHaveLength(1);
    expect(deleted.out[0]).toMatch(/^User grace deleted\. Removed with them: .*1 token/);
    expect(await me({ "circle-token": graceToken })).toEqual({
      status: 401,
      message: "Invalid token provided.",
    });
    expect(await me({ cookie: grace.cookie })).toMatchObject({ status: 401 });
    expect(await gyreFails("user", "show", "grace")).toBe(
      'No user has the login or id "grace": gyre user list shows every user.',
    );
    // Signing in again makes a new account (LDAP still has her).
    const back = await ldapSignIn("grace", password("grace"));
    expect(back.status).toBe(200);
    expect(back.body.user!.id).not.toBe(grace.body.user!.id);
    grace = back;
  });

  it("a login two users share is refused as ambiguous, naming their ids; either is then named by id", async () => {
    // An LDAP user whose uid is the local administrator's login.
    await slapd.addUser({ uid: "admin", password: "same-login", cn: "LDAP Admin" });
    await slapd.addToGroup("admin", "ci-users");
    const other = await ldapSignIn("admin", "same-login");
    expect(other.status).toBe(200);
    const message = await gyreFails("user", "show", "admin");
    expect(message).toMatch(/^2 users have the login "admin": name one by id \(/);
    expect(message).toContain(`${adminId}, local`);
    expect(message).toContain(`${other.body.user!.id}, ldap`);
    const shown = await gyre("user", "show", other.body.user!.id);
    expect(shown.out).toContain("Provider  = ldap");
  });

  let rescue: { id: string; token: string };

  it("gyre admin bootstrap, run against the local DynamoDB stand-in with SST_RESOURCE_* links and AWS_ENDPOINT_URL_DYNAMODB (no API): refused while an administrator is active, --force makes one whose token works on GET /api/v2/me", async () => {
    const { resources } = runtime.gyre;
    const links = {
      SST_RESOURCE_Table: JSON.stringify({ name: resources.tableName }),
      SST_RESOURCE_Bucket: JSON.stringify({ name: resources.bucketName }),
      SST_RESOURCE_DataKey: JSON.stringify({ id: "alias/gyre-test-data" }),
      SST_RESOURCE_Settings: JSON.stringify({ apiUrl: runtime.url, stage: "test" }),
      AWS_ENDPOINT_URL_DYNAMODB: resources.endpoints!.dynamodb,
      AWS_REGION: resources.region,
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
    };
    const before = Object.fromEntries(Object.keys(links).map((k) => [k, process.env[k]]));
    // Without the stage's links it says how to run it.
    const unlinked = await withEnv({ SST_RESOURCE_Table: undefined }, () => gyreFails("admin", "bootstrap"));
    expect(unlinked).toMatch(
      /SST_RESOURCE_Table is not set: .*npx sst shell --stage <stage> -- npx gyre admin bootstrap/,
    );

    // The API's address is unreachable while it runs: it talks to the table only.
    const bootstrap = (...args: string[]) =>
      withEnv({ ...links, GYRE_URL: "http://127.0.0.1:9", GYRE_TOKEN: "none" }, async () => {
        const out: string[] = [];
        const log = vi
          .spyOn(console, "log")
          .mockImplementation((line: unknown) => void out.push(String(line)));
        try {
          return { code: await main(["admin", "bootstrap", ...args]), out };
        } finally {
          log.mockRestore();
        }
      });
    const refusedBy = (promise: Promise<unknown>) =>
      promise.then(
        () => "",
        (e: Error) => e.message,
      );
    expect(await refusedBy(bootstrap())).toMatch(
      /^An active administrator exists already \(.*\badmin\b.*\): use their token, or run again with --force/,
    );
    expect(await refusedBy(bootstrap("--force"))).toBe(
      "A user with login admin exists already: choose another with --login.",
    );

    const made = await bootstrap("--force", "--login", "rescue", "--name", "Rescue Admin");
    expect(made.code).toBe(0);
    expect(made.out[0]).toMatch(/^Created administrator rescue \(id [0-9a-f-]{36}, table gyre\)\.$/);
    const token = made.out[2]!;
    expect(token).toMatch(/^gyre_[0-9a-f]{48}$/);
    expect(made.out[3]).toBe("It will not be shown again: keep it in a password manager.");
    expect(made.out[4]).toBe(`Use it:  export GYRE_URL=${runtime.url} GYRE_TOKEN=<the token>`);

    const res = await request("/api/v2/me", { headers: { "circle-token": token } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: string; login: string; name: string };
    expect(body).toMatchObject({ login: "rescue", name: "Rescue Admin" });
    rescue = { id: body.id, token };
    const shown = await gyre("user", "show", body.id);
    expect(shown.out).toEqual(expect.arrayContaining(["Role      = admin", "Provider  = local"]));
    // An administrator: the administrators' list answers them.
    expect((await request("/api/gyre/users", { headers: { "circle-token": token } })).status).toBe(200);
    // Every variable it ran with is back as it was.
    expect(Object.fromEntries(Object.keys(links).map((k) => [k, process.env[k]]))).toEqual(before);
  });

  it("each procedure left its audit record naming the action, the actor and the target, never a secret", async () => {
    const records = await auditRecords();
    const admin = { id: adminId, type: "user", name: "admin" };
    const user = (signedIn: SignedIn) => ({
      id: signedIn.body.user!.id,
      type: "user",
      name: signedIn.body.user!.login,
    });
    const find = (action: string, targetName: string) =>
      records.filter((r) => r.action === action && r.target.name === targetName);

    const settings = records.filter((r) => r.action === "settings.update");
    expect(settings.length).toBeGreaterThanOrEqual(4);
    expect(settings[0]).toMatchObject({
      actor: admin,
      target: { id: "settings", type: "settings", name: "installation" },
      payload: {
        before: { ldap: null },
        after: { ldap: expect.objectContaining({ search_password: "******** (changed)" }) },
      },
    });
    expect(
      settings.some((r) => (r.payload.after as Record<string, unknown>).suspend_new_users === true),
    ).toBe(true);

    expect(find("user.create", "ada")[0]).toMatchObject({
      actor: user(ada),
      target: user(ada),
      payload: { provider: "ldap" },
    });
    expect(find("user.logged_in", "ada")[0]).toMatchObject({ payload: { method: "ldap" } });
    const graceIds = new Set(records.filter((r) => r.target.name === "grace").map((r) => r.target.id));
    expect(graceIds.size).toBe(2); // the deleted account and the new one

    const suspend = find("user.suspend", "grace");
    expect(suspend).toHaveLength(1);
    expect(suspend[0]).toMatchObject({ actor: admin, payload: { before: "active", after: "suspended" } });
    expect(find("user.activate", "grace")[0]).toMatchObject({
      actor: admin,
      payload: { before: "suspended", after: "active" },
    });
    expect(find("user.activate", "linus")[0]).toMatchObject({
      actor: admin,
      payload: { before: "suspended-new", after: "active" },
    });
    expect(
      find("user.role.update", "linus").map((r) => [r.actor.id, r.payload.before, r.payload.after]),
    ).toEqual([
      [adminId, "normal", "admin"],
      [adminId, "admin", "normal"],
    ]);
    const laptop = find("user.token.create", "grace").find((r) => r.payload.label === "laptop")!;
    expect(laptop.actor).toMatchObject({ type: "user", name: "grace" });
    expect(find("user.token.revoke", "admin")[0]).toMatchObject({
      actor: admin,
      payload: { token_id: revokedId, label: "ci-bot", kind: "personal" },
    });
    expect(records.find((r) => r.action === "project.token.create")).toMatchObject({
      actor: admin,
      payload: { label: "badge", scope: "status" },
    });
    expect(records.find((r) => r.action === "project.token.delete")).toMatchObject({ actor: admin });
    expect(find("user.delete", "grace")[0]).toMatchObject({
      actor: admin,
      payload: { removed: expect.any(Object) },
    });

    expect(find("user.create", "rescue")).toEqual([
      expect.objectContaining({
        actor: SYSTEM_ACTOR,
        target: { id: rescue.id, type: "user", name: "rescue" },
        payload: { provider: "local", via: "gyre admin bootstrap" },
      }),
    ]);
    expect(find("user.token.create", "rescue")[0]).toMatchObject({
      actor: SYSTEM_ACTOR,
      payload: { label: "bootstrap" },
    });

    const text = JSON.stringify(records);
    for (const secret of [
      slapd.adminPassword,
      password("ada"),
      password("grace"),
      "penguin-1991",
      graceToken,
      rescue.token,
    ])
      expect(text).not.toContain(secret);
  });

  // Known gap, reported, not fixed here: an account made `suspended-new` by a refused sign-in
  // (core/src/auth/users.ts userForSignIn throws after creating it) never reaches http/auth.ts
  // signIn(), which alone writes `user.create`; and once activated, its sign-in is not `created`.
  // When that is fixed, this test fails: make it a plain `it`.
  it("an account made suspended-new by a refused LDAP sign-in has its user.create record", async () => {
    const records = await auditRecords();
    expect(records.filter((r) => r.action === "user.create" && r.target.name === "linus")).toEqual([
      expect.objectContaining({ target: expect.objectContaining({ id: linus.body.user!.id }) }),
    ]);
  });
});

const CLI = join(import.meta.dirname, "..", "packages", "cli", "src", "main.ts");

/**
 * `gyre start` as a real process on `dataDir`: what it printed once it is serving ("Press
 * Ctrl-C to stop."), then, after `whileUp(url)`, SIGINT; its exit code and all it printed.
 */
async function gyreStart(
  dataDir: string,
  args: string[],
  whileUp: (url: string, out: string) => Promise<void>,
): Promise<{ code: number | null; out: string; err: string }> {
  let out = "";
  let err = "";
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CLI, "start", "--port", "0", "--data-dir", dataDir, "--agents", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const exit = new Promise<number | null>((ok) => child.on("exit", ok));
  let exited = false;
  void exit.then(() => (exited = true));
  try {
    await waitFor("gyre start to serve", async () => {
      if (exited) throw new Error(`gyre start exited: ${out}${err}`);
      return out.includes("Press Ctrl-C to stop.") || undefined;
    });
    await whileUp(/^Gyre is running at (\S+)$/m.exec(out)![1]!, out);
  } finally {
    child.kill("SIGINT");
  }
  return { code: await exit, out, err };
}

describe("gyre start with an admin token that no longer works", () => {
  it("says the token is not valid (never prints it as the admin token), skips the demo, and keeps serving: its user suspended (403), then the token revoked (401)", async () => {
    const dataDir = join(dir, "start");
    const tokenFile = join(dataDir, "admin-token");
    // A first start made the admin and its token; another administrator suspends the admin.
    const first = await startLocalRuntime({ dataDir, port: 0, agents: 0 });
    const other = await createUser(first.gyre, { login: "other", name: "Other Admin", admin: true });
    const otherToken = await createToken(first.gyre, other.id, "other");
    const asOther = { "circle-token": otherToken, "content-type": "application/json" };
    const local = (await (
      await fetch(`${first.url}/api/v2/me`, { headers: { "circle-token": first.adminToken } })
    ).json()) as { id: string };
    await first.stop();

    const suspend = (url: string, action: "suspend" | "activate") =>
      fetch(`${url}/api/gyre/users/${local.id}/${action}`, { method: "POST", headers: asOther, body: "{}" });
    const meAsOther = (url: string) =>
      fetch(`${url}/api/v2/me`, { headers: { "circle-token": otherToken } }).then((r) => r.json());

    // The token works at this start; while it is up, its user is suspended.
    const valid = await gyreStart(dataDir, ["--no-demo"], async (url) => {
      expect((await suspend(url, "suspend")).status).toBe(200);
    });
    expect(valid.code).toBe(0);
    expect(valid.out).toContain(`Admin API token: ${first.adminToken} (also in ${tokenFile})\n`);

    const suspended = await gyreStart(dataDir, [], async (url, out) => {
      expect(out).not.toContain(first.adminToken);
      // Serving: the other administrator's token works, and the admin is let back in to revoke its token.
      expect(await meAsOther(url)).toMatchObject({ login: "other" });
      expect((await suspend(url, "activate")).status).toBe(200);
      const { items } = (await (
        await fetch(`${url}/api/gyre/users/${local.id}/tokens`, { headers: asOther })
      ).json()) as { items: { id: string }[] };
      for (const t of items)
        expect(
          (
            await fetch(`${url}/api/gyre/users/${local.id}/tokens/${t.id}`, {
              method: "DELETE",
              headers: asOther,
            })
          ).status,
        ).toBe(200);
    });
    const lines = (out: string) => out.trimEnd().split("\n");
    expect(suspended.code).toBe(0);
    expect(lines(suspended.out)).toEqual([
      expect.stringMatching(/^Gyre is running at http:\/\/127\.0\.0\.1:\d+$/),
      `Data directory: ${dataDir}`,
      `Admin API token: not valid (This account is suspended: ask an administrator to reactivate it.): the admin token in ${tokenFile} no longer works (revoked, or its user suspended or deleted), so the demo was skipped. Use your own token with GYRE_TOKEN.`,
      expect.stringMatching(/^For the CLI in another shell: {2}export GYRE_URL=/),
      "Press Ctrl-C to stop.",
      "Stopping Gyre...",
    ]);
    expect(suspended.err).not.toMatch(/ECONNREFUSED|\n\s+at /);

    const revoked = await gyreStart(dataDir, ["--no-demo"], async (url) => {
      expect(await meAsOther(url)).toMatchObject({ login: "other" });
    });
    expect(revoked.code).toBe(0);
    expect(lines(revoked.out)[2]).toBe(
      `Admin API token: not valid (Invalid token provided.): the admin token in ${tokenFile} no longer works (revoked, or its user suspended or deleted). Use your own token with GYRE_TOKEN.`,
    );
    expect(revoked.out).not.toContain("Demo");
  });
});
