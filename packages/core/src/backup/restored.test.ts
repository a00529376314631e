/**
 * What a restore does to the installation it made (restored.ts), over the in-memory table: the
 * old installation's tokens, sessions and sign-ins under way are dropped (nothing else), the
 * restore is recorded, and with `keepTokens` the credentials stay and the record says so.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listAudit, parseListQuery } from "../audit/query.ts";
import { authenticate } from "../auth/index.ts";
import { createSession } from "../auth/sessions.ts";
import { issueToken } from "../auth/tokens.ts";
import { createUser, listUsers } from "../auth/users.ts";
import { authenticateNode, registerNode } from "../node/index.ts";
import { linkSigner } from "../secret/signed-link.ts";
import { putItem, queryRaw } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Keys } from "../table.ts";
import { finishRestore } from "./restored.ts";

let t: TestTable;
beforeEach(async () => {
  t = await memoryTable();
  t.setNow(Date.parse("2026-01-30T10:00:00.000Z"));
});
afterEach(async () => {
  await t.close();
});

/** An installation as a backup holds it: a user with every kind of token, a session, a sign-in under way. */
async function backedUp() {
  const gyre = t.gyre;
  const ada = await createUser(gyre, { login: "ada", admin: true });
  const personal = await issueToken(gyre, ada.id, "laptop");
  const operator = await issueToken(gyre, ada.id, "nomad", { kind: "operator" });
  const project = await issueToken(gyre, ada.id, "badge", {
    project: { slug: "gh/acme/api", scope: "status" },
  });
  const session = await createSession(gyre, ada.id, 8);
  await putItem(gyre, { ...Keys.oauthState("f".repeat(64)), provider: "github" });
  const node = await registerNode(gyre, { name: "builder-1" });
  await linkSigner(gyre, "output-url");
  return {
    ada,
    tokens: [personal.token, operator.token, project.token],
    cookie: session.cookie,
    node: node.credential,
  };
}

const restore = {
  installation: { id: "/srv/gyre", name: "local" },
  via: "gyre restore",
  backup: {},
  restored: {},
};

async function restoreRecords() {
  const page = await listAudit(t.gyre, parseListQuery({ action: "installation.restore" }));
  return page.items;
}

describe("finishRestore", () => {
  it("drops every token, session and sign-in under way, keeps the users, and records the restore", async () => {
    const old = await backedUp();
    for (const token of old.tokens) await expect(authenticate(t.gyre, { token })).resolves.toBeDefined();
    const dropped = await finishRestore(t.gyre, {
      ...restore,
      backup: { created_at: "2026-01-29T22:00:00.000Z" },
      restored: { items: 12, objects: 3, interrupted_jobs: 0 },
    });
    expect(dropped).toEqual({ tokens: 3, sessions: 1, signIns: 1, nodes: 1, signingKeys: 1 });
    // Past the authentication cache, none of them opens the installation.
    t.setNow(Date.parse("2026-01-30T10:00:05.000Z"));
    for (const token of old.tokens)
      await expect(authenticate(t.gyre, { token })).rejects.toMatchObject({ code: "unauthorized" });
    await expect(authenticate(t.gyre, { session: old.cookie })).rejects.toMatchObject({
      code: "unauthorized",
    });
    // The old builders' credential claims nothing here; the signing key of the old installation's
    // links is gone (the server, started after the restore, makes a new one at its first link).
    await expect(authenticateNode(t.gyre, old.node)).rejects.toBeDefined();
    const keys: unknown[] = [];
    for await (const item of queryRaw(t.gyre, { partition: Keys.signingKey("output-url").pk }))
      keys.push(item);
    expect(keys).toEqual([]);
    expect((await listUsers(t.gyre)).map((u) => u.login)).toEqual(["ada"]);
    const left: unknown[] = [];
    for await (const item of queryRaw(t.gyre, { partition: Keys.oauthState("f".repeat(64)).pk }))
      left.push(item);
    expect(left).toEqual([]);

    expect(await restoreRecords()).toEqual([
      expect.objectContaining({
        action: "installation.restore",
        actor: { id: "00000000-0000-0000-0000-000000000000", type: "system", name: "gyre" },
        target: { id: "/srv/gyre", type: "installation", name: "local" },
        success: true,
        payload: {
          via: "gyre restore",
          backup: { created_at: "2026-01-29T22:00:00.000Z" },
          items: 12,
          objects: 3,
          interrupted_jobs: 0,
          credentials: {
            kept: false,
            tokens_dropped: 3,
            sessions_dropped: 1,
            sign_ins_dropped: 1,
            nodes_dropped: 1,
            signing_keys_dropped: 1,
          },
        },
      }),
    ]);
    // Again (a resumed restore): nothing more to drop.
    expect(await finishRestore(t.gyre, restore)).toEqual({
      tokens: 0,
      sessions: 0,
      signIns: 0,
      nodes: 0,
      signingKeys: 0,
    });
  });

  it("with keepTokens leaves every credential working, and the record says they were kept", async () => {
    const old = await backedUp();
    expect(await finishRestore(t.gyre, { ...restore, keepTokens: true })).toBeUndefined();
    t.setNow(Date.parse("2026-01-30T10:00:05.000Z"));
    for (const token of old.tokens) await expect(authenticate(t.gyre, { token })).resolves.toBeDefined();
    await expect(authenticate(t.gyre, { session: old.cookie })).resolves.toBeDefined();
    expect((await restoreRecords())[0]?.payload).toMatchObject({ credentials: { kept: true } });
  });
});
