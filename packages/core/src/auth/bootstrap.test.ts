/**
 * `bootstrapAdmin` against an in-memory table: the first administrator and their token, the
 * refusals (an active administrator exists, the login is taken), and the audit records.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SYSTEM_ACTOR } from "../audit/index.ts";
import { GyreError } from "../error.ts";
import { queryRaw } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { bootstrapAdmin } from "./bootstrap.ts";
import { authenticate, createUser, listTokens, listUsers } from "./index.ts";

let table: TestTable;
beforeEach(async () => {
  table = await memoryTable();
});
afterEach(async () => {
  await table.close();
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a refusal");
    },
    (error: unknown) => {
      if (!(error instanceof GyreError)) throw error;
      return { code: error.code, message: error.message };
    },
  );

async function auditRecords() {
  const partition = `AUDIT#${new Date(table.gyre.now()).toISOString().slice(0, 13)}`;
  const out: Record<string, unknown>[] = [];
  for await (const item of queryRaw(table.gyre, { partition }))
    out.push(item.record as Record<string, unknown>);
  return out;
}

describe("bootstrapAdmin", () => {
  it("makes a local administrator named admin and a personal token labelled bootstrap that authenticates as them", async () => {
    const { user, token } = await bootstrapAdmin(table.gyre);
    expect(user).toMatchObject({
      login: "admin",
      name: "admin",
      admin: true,
      provider: "local",
      state: "active",
    });
    expect(token).toMatch(/^gyre_[0-9a-f]{48}$/);
    expect((await authenticate(table.gyre, { token })).user).toMatchObject({ id: user.id, admin: true });
    expect(await listTokens(table.gyre, user.id)).toEqual([
      expect.objectContaining({ label: "bootstrap", kind: "personal", userId: user.id }),
    ]);
    expect((await listUsers(table.gyre)).map((u) => u.login)).toEqual(["admin"]);
  });

  it("takes the login and name it is given", async () => {
    const { user } = await bootstrapAdmin(table.gyre, { login: "ops", name: "Operations" });
    expect(user).toMatchObject({ login: "ops", name: "Operations", admin: true });
  });

  it("writes user.create and user.token.create records by the system, without the token", async () => {
    const { user, token } = await bootstrapAdmin(table.gyre, { login: "root" });
    const records = await auditRecords();
    const target = { id: user.id, type: "user", name: "root" };
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: "user.create",
          actor: SYSTEM_ACTOR,
          target,
          payload: { provider: "local", via: "gyre admin bootstrap" },
          success: true,
        }),
        expect.objectContaining({
          action: "user.token.create",
          actor: SYSTEM_ACTOR,
          target,
          payload: expect.objectContaining({ label: "bootstrap", kind: "personal" }),
        }),
      ]),
    );
    expect(JSON.stringify(records)).not.toContain(token);
  });

  it("refuses while an active administrator exists, naming them, and makes nothing", async () => {
    await createUser(table.gyre, { login: "ada", admin: true, provider: "ldap" });
    const refused = await refusal(bootstrapAdmin(table.gyre));
    expect(refused.code).toBe("conflict");
    expect(refused.message).toMatch(/active administrator exists already \(ada\).*--force/);
    expect((await listUsers(table.gyre)).map((u) => u.login)).toEqual(["ada"]);
    expect(await auditRecords()).toEqual([]);
  });

  it("with force, adds another administrator although one is active", async () => {
    await createUser(table.gyre, { login: "ada", admin: true });
    const { user, token } = await bootstrapAdmin(table.gyre, { login: "rescue", force: true });
    expect(user).toMatchObject({ login: "rescue", admin: true });
    expect((await authenticate(table.gyre, { token })).user.id).toBe(user.id);
    expect((await listUsers(table.gyre)).map((u) => u.login).sort()).toEqual(["ada", "rescue"]);
  });

  it("does not count suspended administrators, normal users or builders as an active administrator", async () => {
    await createUser(table.gyre, { login: "old-admin", admin: true, state: "suspended" });
    await createUser(table.gyre, { login: "someone-else", admin: true, state: "suspended" });
    await createUser(table.gyre, { login: "grace" });
    await createUser(table.gyre, { login: "builder", builder: true, admin: true });
    const { user } = await bootstrapAdmin(table.gyre);
    expect(user).toMatchObject({ login: "admin", admin: true });
  });

  it("refuses a login another user has, even with force", async () => {
    await createUser(table.gyre, { login: "admin", admin: true });
    const refused = await refusal(bootstrapAdmin(table.gyre, { force: true }));
    expect(refused).toEqual({
      code: "conflict",
      message: "A user with login admin exists already: choose another with --login.",
    });
  });

  it("refuses a login Gyre cannot use", async () => {
    expect((await refusal(bootstrapAdmin(table.gyre, { login: "no spaces" }))).code).toBe("bad_request");
    expect(await listUsers(table.gyre)).toEqual([]);
  });
});
