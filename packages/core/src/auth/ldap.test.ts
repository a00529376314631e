/**
 * LDAP sign-in against a real OpenLDAP (test/support/slapd.ts: one throwaway slapd for the
 * file, with ldap://, StartTLS and ldaps:// and a self-signed CA), and against TCP servers
 * that accept and never answer. Needs slapd and ldap-utils (CI installs them, see .ci/run).
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLAPD_MISSING, type Slapd, slapdAvailable, startSlapd } from "../../../../test/support/slapd.ts";
import { GyreError } from "../error.ts";
import { type LdapConfig, LdapConfigSchema, ldapLookup, ldapSignIn, ldapTestUser } from "./ldap.ts";

let slapd: Slapd;

beforeAll(async () => {
  if (!slapdAvailable()) throw new Error(SLAPD_MISSING);
  slapd = await startSlapd();
});

afterAll(async () => {
  await slapd?.stop();
});

type Security = LdapConfig["security"];

/** The settings for the test slapd, over `security`, with `overrides` on top. */
function config(security: Security = "plain", overrides: Record<string, unknown> = {}): LdapConfig {
  return LdapConfigSchema.parse({
    host: slapd.host,
    port: security === "ldaps" ? slapd.ldapsPort : slapd.port,
    security,
    ...(security === "plain" ? {} : { ca: slapd.ca }),
    search_user: slapd.adminDn,
    search_password: slapd.adminPassword,
    base_dn: slapd.baseDn,
    user_search_dn: "ou=users",
    ...overrides,
  });
}

/** The GyreError a promise rejects with (failing the test when it resolves or throws something else). */
async function gyreError(promise: Promise<unknown>): Promise<GyreError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GyreError);
  return error as GyreError;
}

const invalid = { code: "unauthorized", message: "Invalid username or password." };

let serial = 0;
/** A fresh user of its own for a test that changes the directory. */
async function newUser(groups: string[] = []) {
  const uid = `user${++serial}`;
  const password = `pw-${uid}-secret`;
  const dn = await slapd.addUser({ uid, password, cn: `User ${serial}` });
  for (const group of groups) await slapd.addToGroup(uid, group);
  return { uid, password, dn };
}

describe.each(["plain", "starttls", "ldaps"] as const)("over %s", (security) => {
  it("signs a user in with their DN, entryUUID, username, e-mail, name and groups", async () => {
    const ada = slapd.users.ada!;
    const identity = await ldapSignIn(config(security), "ada", ada.password);
    expect({ ...identity, groups: [...identity.groups].sort() }).toEqual({
      dn: ada.dn,
      username: "ada",
      uniqueId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      email: "ada@example.org",
      name: "Ada Lovelace",
      groups: [slapd.groupDn("admins"), slapd.groupDn("ci-users")],
    });
  });

  it("refuses a wrong password with the generic unauthorized error", async () => {
    expect(await gyreError(ldapSignIn(config(security), "ada", "wrong"))).toMatchObject(invalid);
  });

  it("looks a user up with the search account alone", async () => {
    expect(await ldapLookup(config(security), "grace")).toMatchObject({
      dn: slapd.users.grace!.dn,
      username: "grace",
      name: "Grace Hopper",
      groups: [slapd.groupDn("ci-users")],
    });
  });
});

describe("the user's failures: one generic refusal", () => {
  it("refuses an empty password before any network call (an empty bind is anonymous, and succeeds)", async () => {
    // Nothing listens on port 1: a connection attempt would be "unavailable", not "unauthorized".
    const nowhere = config("plain", { port: 1 });
    expect(await gyreError(ldapSignIn(nowhere, "ada", ""))).toMatchObject(invalid);
    expect(await gyreError(ldapSignIn(config(), "ada", ""))).toMatchObject(invalid);
    const report = await ldapTestUser(nowhere, "ada", "");
    expect(report).toEqual({
      ok: false,
      steps: [{ step: "input", ok: false, detail: "The password is empty." }],
    });
  });

  it("refuses an unknown user, and the test-user report says no entry matched", async () => {
    expect(await gyreError(ldapSignIn(config(), "nobody", "whatever"))).toMatchObject(invalid);
    expect(await ldapLookup(config(), "nobody")).toBeUndefined();
    const report = await ldapTestUser(config(), "nobody", "whatever");
    expect(report.ok).toBe(false);
    expect(report.steps.at(-1)).toEqual({
      step: "exactly one match",
      ok: false,
      detail: `No entry has uid=nobody under ${slapd.usersDn}.`,
    });
  });

  it.each([
    "*",
    ")(uid=*",
    "ada)(|(uid=*",
    "*)(uid=*))(|(uid=*",
    "ada*",
    "a*a",
    "\\2a",
    "ada\\",
    "(uid=ada)",
  ])("matches the username %j literally: no entry, refused even with a real password", async (username) => {
    expect(await gyreError(ldapSignIn(config(), username, slapd.users.ada!.password))).toMatchObject(invalid);
    expect(await ldapLookup(config(), username)).toBeUndefined();
    const report = await ldapTestUser(config(), username, slapd.users.ada!.password);
    // The search ran and found nothing (not several: the filter was not widened).
    expect(report.steps.find((s) => s.step === "search user")).toMatchObject({
      ok: true,
      detail: /: no entry$/,
    });
    expect(report.steps.at(-1)).toMatchObject({
      step: "exactly one match",
      ok: false,
      detail: /^No entry has/,
    });
  });

  it.each([
    ["a NUL", "ada\u0000"],
    ["a newline", "ada\n"],
    ["more than 256 characters", "a".repeat(257)],
    ["nothing", ""],
  ])("refuses a username of %s before any network call", async (_, username) => {
    const nowhere = config("plain", { port: 1 });
    expect(await gyreError(ldapSignIn(nowhere, username, "x"))).toMatchObject(invalid);
    expect(await ldapLookup(nowhere, username)).toBeUndefined();
    expect((await ldapTestUser(nowhere, username, "x")).steps).toEqual([
      { step: "input", ok: false, detail: expect.stringMatching(/^The username /) },
    ]);
  });

  it("accepts a username of 256 characters as a username (and finds no one)", async () => {
    const report = await ldapTestUser(config(), "a".repeat(256), "x");
    expect(report.steps.at(-1)).toMatchObject({ step: "exactly one match", ok: false });
  });

  it("refuses a username two entries share, even with the right password", async () => {
    await slapd.addUser({ uid: "twin", password: "twin-one" });
    await slapd.addUser({ uid: "twin", password: "twin-two", dn: `cn=twin-two,${slapd.usersDn}` });
    expect(await gyreError(ldapSignIn(config(), "twin", "twin-one"))).toMatchObject(invalid);
    expect(await gyreError(ldapSignIn(config(), "twin", "twin-two"))).toMatchObject(invalid);
    expect(await ldapLookup(config(), "twin")).toBeUndefined();
    const report = await ldapTestUser(config(), "twin", "twin-one");
    expect(report.steps.at(-1)).toMatchObject({
      step: "exactly one match",
      ok: false,
      detail: expect.stringMatching(/^More than one entry has uid=twin under ou=users,dc=example,dc=org \(/),
    });
  });

  it("refuses a user whose entry was deleted, in sign-in and in lookup", async () => {
    const user = await newUser(["ci-users"]);
    expect(await ldapSignIn(config(), user.uid, user.password)).toMatchObject({ dn: user.dn });
    expect(await ldapLookup(config(), user.uid)).toMatchObject({ dn: user.dn });
    // The group still lists the DN (no referential integrity here): the entry itself decides.
    await slapd.deleteUser(user.uid);
    const required = config("plain", { required_group: slapd.groupDn("ci-users") });
    expect(await gyreError(ldapSignIn(required, user.uid, user.password))).toMatchObject(invalid);
    expect(await ldapLookup(required, user.uid)).toBeUndefined();
    expect(await ldapLookup(config(), user.uid)).toBeUndefined();
  });

  it("never puts the password in an error or a report", async () => {
    const password = "hunter2-very-secret";
    const errors = [
      await gyreError(ldapSignIn(config(), "ada", password)),
      await gyreError(ldapSignIn(config("plain", { search_password: password }), "ada", password)),
    ];
    const reports = [
      await ldapTestUser(config(), "ada", password),
      await ldapTestUser(config("plain", { search_password: password }), "ada", password),
    ];
    const said = JSON.stringify([errors.map((e) => [e.message, e.details]), reports]);
    expect(said).not.toContain(password);
  });
});

describe("the required group", () => {
  const required = () => config("starttls", { required_group: slapd.groupDn("ci-users") });

  it("signs in a member of the required group", async () => {
    expect(await ldapSignIn(required(), "ada", slapd.users.ada!.password)).toMatchObject({ username: "ada" });
  });

  it("refuses a user outside it with forbidden, once the password is proven right", async () => {
    const mallory = slapd.users.mallory!;
    expect(await gyreError(ldapSignIn(required(), "mallory", mallory.password))).toMatchObject({
      code: "forbidden",
      message: expect.stringContaining("not in the group allowed to sign in"),
    });
    // A wrong password is refused as such: the group says nothing to whoever does not know it.
    expect(await gyreError(ldapSignIn(required(), "mallory", "guess"))).toMatchObject(invalid);
    expect(await ldapLookup(required(), "mallory")).toBeUndefined();
    // Without a required group, mallory may sign in (in no group).
    expect(await ldapSignIn(config(), "mallory", mallory.password)).toMatchObject({ groups: [] });
  });

  it("drops a user removed from the group: lookup undefined, sign-in refused", async () => {
    const user = await newUser(["ci-users"]);
    expect(await ldapLookup(required(), user.uid)).toMatchObject({ groups: [slapd.groupDn("ci-users")] });
    await slapd.removeFromGroup(user.uid, "ci-users");
    expect(await ldapLookup(required(), user.uid)).toBeUndefined();
    expect(await gyreError(ldapSignIn(required(), user.uid, user.password))).toMatchObject({
      code: "forbidden",
    });
  });

  it("says a required group that does not exist is the settings' problem (unavailable)", async () => {
    const missing = config("plain", { required_group: `cn=nope,${slapd.groupsDn}` });
    expect(await gyreError(ldapSignIn(missing, "ada", slapd.users.ada!.password))).toMatchObject({
      code: "unavailable",
      message: `The required group cn=nope,${slapd.groupsDn} does not exist on the LDAP server at 127.0.0.1:${slapd.port}; check the required group in the settings.`,
    });
    await expect(ldapLookup(missing, "ada")).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("the settings", () => {
  it("defaults the attributes by flavor", () => {
    const base = {
      host: "ldap.example.org",
      port: 636,
      security: "ldaps",
      search_user: "cn=x,dc=a",
      search_password: "p",
      base_dn: "dc=a",
      user_search_dn: "ou=u",
    };
    expect(LdapConfigSchema.parse(base)).toMatchObject({
      flavor: "openldap",
      username_attribute: "uid",
      group_membership_attribute: "uniqueMember",
      group_object_class: "groupOfUniqueNames",
      email_attribute: "mail",
      name_attribute: "cn",
      connect_timeout_ms: 5000,
      timeout_ms: 5000,
    });
    expect(LdapConfigSchema.parse({ ...base, flavor: "active_directory" })).toMatchObject({
      username_attribute: "sAMAccountName",
      group_membership_attribute: "member",
      group_object_class: "group",
    });
    expect(LdapConfigSchema.safeParse({ ...base, host: "ldap://ldap.example.org" }).success).toBe(false);
    expect(LdapConfigSchema.safeParse({ ...base, username_attribute: "uid)(x" }).success).toBe(false);
  });

  it("takes a user search DN that is already full, in any case", async () => {
    const full = config("plain", { user_search_dn: "OU=users, DC=example, DC=org" });
    expect(await ldapSignIn(full, "grace", slapd.users.grace!.password)).toMatchObject({ username: "grace" });
  });

  it("verifies the certificate against a host name as well as an IP address", async () => {
    const byName = config("ldaps", { host: "localhost" });
    expect(await ldapSignIn(byName, "ada", slapd.users.ada!.password)).toMatchObject({ username: "ada" });
  });

  it.each(["ldaps", "starttls"] as const)(
    "refuses the server's certificate over %s with a CA that did not sign it",
    async (security) => {
      const error = await gyreError(ldapSignIn(config(security, { ca: slapd.wrongCa }), "ada", "x"));
      expect(error.code).toBe("unavailable");
      expect(error.message).toMatch(
        /^(The LDAP server at 127\.0\.0\.1:\d+ presented a certificate that could not be verified \(.+\); check that the CA certificate in the settings is the one that signed the server's certificate\.)$/,
      );
    },
  );

  it("refuses a self-signed CA's certificate when no CA is configured, saying to set one", async () => {
    const error = await gyreError(ldapSignIn(config("ldaps", { ca: undefined }), "ada", "x"));
    expect(error).toMatchObject({
      code: "unavailable",
      message: expect.stringContaining("set the CA certificate in the settings"),
    });
  });

  it("says a wrong search password is the operator's problem (unavailable), not the user's", async () => {
    const wrong = config("plain", { search_password: "not-the-admin-password" });
    expect(await gyreError(ldapSignIn(wrong, "ada", slapd.users.ada!.password))).toMatchObject({
      code: "unavailable",
      message: `The LDAP search account was refused by 127.0.0.1:${slapd.port} (invalid credentials for ${slapd.adminDn}); check the search user and password in the settings.`,
    });
    await expect(ldapLookup(wrong, "ada")).rejects.toMatchObject({ code: "unavailable" });
  });

  it("says nothing listens on a closed port (unavailable)", async () => {
    const closed = config("plain", { port: 1 });
    expect(await gyreError(ldapSignIn(closed, "ada", "x"))).toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(
        /^Could not connect to the LDAP server at 127\.0\.0\.1:1: the connection was refused/,
      ),
    });
  });
});

describe("a server that accepts connections and never answers", () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentPort = 0;

  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
      // Reads (and ignores) what comes, so that it sees the client's end of the connection.
      socket.resume();
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  const hanging = (security: Security) =>
    config(security, { port: silentPort, connect_timeout_ms: 300, timeout_ms: 300 });

  it.each([
    ["plain", "did not answer the search account's bind within 300 ms."],
    ["starttls", "did not answer StartTLS within 300 ms."],
    ["ldaps", "accepted the connection but did not complete the TLS handshake within 300 ms"],
  ] as const)(
    "times out over %s with unavailable, naming the server and the step",
    async (security, said) => {
      const error = await gyreError(ldapSignIn(hanging(security), "ada", "x"));
      expect(error.code).toBe("unavailable");
      expect(error.message).toContain(`The LDAP server at 127.0.0.1:${silentPort} `);
      expect(error.message).toContain(said);
      await expect(ldapLookup(hanging(security), "ada")).rejects.toMatchObject({ code: "unavailable" });
    },
  );

  it("closes the connections it opened", async () => {
    await gyreError(ldapSignIn(hanging("plain"), "ada", "x"));
    // The server side sees the close shortly after the client gave up.
    for (let i = 0; i < 50 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(sockets.size).toBe(0);
  });
});

describe("ldapTestUser", () => {
  it("reports every step of a good user over StartTLS", async () => {
    const report = await ldapTestUser(
      config("starttls", { required_group: slapd.groupDn("ci-users") }),
      "ada",
      slapd.users.ada!.password,
    );
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual([
      "input",
      "connect",
      "starttls",
      "bind search user",
      "search user",
      "exactly one match",
      "bind as user",
      "group membership",
    ]);
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(report.steps.find((s) => s.step === "bind search user")!.detail).toBe(`bound as ${slapd.adminDn}`);
    expect(report.steps.find((s) => s.step === "exactly one match")!.detail).toBe(slapd.users.ada!.dn);
    expect(report.steps.find((s) => s.step === "group membership")!.detail).toContain(
      `listed in the required group ${slapd.groupDn("ci-users")}`,
    );
  });

  it("stops at the first failure and says it precisely: a wrong password", async () => {
    const report = await ldapTestUser(config("ldaps"), "ada", "wrong");
    expect(report.ok).toBe(false);
    expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
      ["input", true],
      ["connect", true],
      ["bind search user", true],
      ["search user", true],
      ["exactly one match", true],
      ["bind as user", false],
    ]);
    expect(report.steps.find((s) => s.step === "connect")!.detail).toMatch(
      /over TLS \(TLSv1\.[23], certificate verified\)/,
    );
    expect(report.steps.at(-1)!.detail).toBe(
      `The LDAP server refused the password for ${slapd.users.ada!.dn}.`,
    );
  });

  it("reports a user outside the required group at the group step", async () => {
    const report = await ldapTestUser(
      config("plain", { required_group: slapd.groupDn("ci-users") }),
      "mallory",
      slapd.users.mallory!.password,
    );
    expect(report.steps.at(-1)).toEqual({
      step: "group membership",
      ok: false,
      detail: `${slapd.users.mallory!.dn} is not listed in ${slapd.groupDn("ci-users")}'s uniqueMember.`,
    });
    expect(report.steps.find((s) => s.step === "bind as user")!.ok).toBe(true);
  });

  it("reports a refused search account at its step, without throwing", async () => {
    const report = await ldapTestUser(config("plain", { search_password: "nope" }), "ada", "x");
    expect(report.ok).toBe(false);
    expect(report.steps.at(-1)).toMatchObject({
      step: "bind search user",
      ok: false,
      detail: expect.stringContaining("The LDAP search account was refused"),
    });
  });

  it("reports an unreachable server at the connect step, without throwing", async () => {
    const report = await ldapTestUser(config("plain", { port: 1 }), "ada", "x");
    expect(report.steps.map((s) => [s.step, s.ok])).toEqual([
      ["input", true],
      ["connect", false],
    ]);
  });
});
