/**
 * People, tokens and the installation's settings, Gyre's own API (`gyre user`, `gyre token`,
 * `gyre settings`):
 *
 *   GET    /api/gyre/me/tokens                 the caller's tokens (never the tokens themselves)
 *   POST   /api/gyre/me/tokens                 {label, kind?: personal|operator} → 201 with the token, once
 *   DELETE /api/gyre/me/tokens/{id}            revoke (refused everywhere within a second)
 *
 *   GET    /api/gyre/users                     administrators: every user, state, role, last seen; seats
 *   GET    /api/gyre/users/{id}
 *   POST   /api/gyre/users/{id}/suspend        ends their sessions; their tokens are refused
 *   POST   /api/gyre/users/{id}/activate       reactivates a suspended user, admits a suspended new one
 *   PATCH  /api/gyre/users/{id}                {role: admin|normal}
 *   DELETE /api/gyre/users/{id}                the user and everything that is theirs
 *   GET    /api/gyre/users/{id}/tokens, DELETE /api/gyre/users/{id}/tokens/{token id}
 *
 *   GET    /api/gyre/settings                  administrators: the settings, secrets as ********
 *   PATCH  /api/gyre/settings                  a change (settings/index.ts `updateSettings`)
 *   POST   /api/gyre/settings/ldap/test        {username, password}: the LDAP test user action
 *
 * Every change is an audit record, naming the user or setting, never a token or a secret.
 */
import {
  deleteUser,
  endSessionsOf,
  forgetCredential,
  forgetUser,
  issueToken,
  listTokens,
  listUsers,
  personById,
  revokeToken,
  seatsOf,
  setUserRole,
  setUserState,
  shownState,
  type TokenInfo,
  tokenJson,
  type User,
  userAdminJson,
} from "@gyre/core/auth/index";
import { ldapTestUser } from "@gyre/core/auth/ldap";
import { badRequest, forbidden, notFound } from "@gyre/core/error";
import { z } from "@gyre/core/protocol/schema";
import { ldapConfig, readSettings, settingsJson, updateSettings } from "@gyre/core/settings/index";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import { auditRequest, type Env, jsonBody, parseBody } from "./context.ts";

const TokenBody = z
  .object({
    label: z.string().min(1).max(100),
    kind: z.enum(["personal", "operator"]).default("personal"),
  })
  .strict();
const RoleBody = z.object({ role: z.enum(["admin", "normal"]) }).strict();
const LdapTestBody = z
  .object({ username: z.string().min(1).max(256), password: z.string().max(1024) })
  .strict();
const TOKEN_ID = /^[0-9a-f-]{32,36}$/;

const aboutUser = (u: User) => ({ target: { id: u.id, type: "user", name: u.login } });

/** Revokes one of `tokens`, forgotten in this process at once, and records it. */
async function revoke(c: Context<Env>, tokens: TokenInfo[], owner: User) {
  const id = c.req.param("token") ?? "";
  if (!TOKEN_ID.test(id)) throw notFound(`Token ${id.slice(0, 64)} not found.`);
  const token = await revokeToken(c.get("gyre"), tokens, id);
  forgetCredential("token", token.hash);
  await auditRequest(c, {
    action: "user.token.revoke",
    ...aboutUser(owner),
    payload: { token_id: token.id, label: token.label, kind: token.kind },
  });
  return c.json({ message: `Token ${token.label} revoked.` });
}

export function userRoutes() {
  const app = new Hono<Env>();

  // --- the caller's tokens
  app.get("/me/tokens", allow.user(), async (c) =>
    c.json({ items: (await listTokens(c.get("gyre"), c.get("user").id)).map(tokenJson) }),
  );
  app.post("/me/tokens", allow.user(), async (c) => {
    const body = await parseBody(c, TokenBody);
    const user = c.get("user");
    if (body.kind === "operator" && !user.admin)
      throw forbidden("Only an administrator may make operator tokens.");
    const { token, info } = await issueToken(c.get("gyre"), user.id, body.label, { kind: body.kind });
    await auditRequest(c, {
      action: "user.token.create",
      ...aboutUser(user),
      payload: { token_id: info.id, label: info.label, kind: info.kind },
    });
    return c.json({ ...tokenJson(info), token }, 201);
  });
  app.delete("/me/tokens/:token", allow.user(), async (c) => {
    const user = c.get("user");
    return revoke(c, await listTokens(c.get("gyre"), user.id), user);
  });

  // --- users, for administrators
  const USER = "/users/:id";
  app.get("/users", allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const users = await listUsers(gyre);
    const counts: Record<string, number> = { active: 0, inactive: 0, suspended: 0, "suspended-new": 0 };
    for (const u of users) counts[shownState(gyre, u)]!++;
    return c.json({ items: users.map((u) => userAdminJson(gyre, u)), seats: seatsOf(users), counts });
  });
  app.get(USER, allow.admin(), async (c) =>
    c.json(userAdminJson(c.get("gyre"), await personById(c.get("gyre"), c.req.param("id")))),
  );
  const stateChange = (state: "active" | "suspended") => async (c: Context<Env>) => {
    const gyre = c.get("gyre");
    await parseBody(c, z.object({}).strict());
    const before = await personById(gyre, c.req.param("id") ?? "");
    const user = await setUserState(gyre, before.id, state, c.get("user"));
    if (state === "suspended") await endSessionsOf(gyre, user.id);
    forgetUser(user.id);
    if (before.state !== user.state)
      await auditRequest(c, {
        action: state === "suspended" ? "user.suspend" : "user.activate",
        ...aboutUser(user),
        payload: { before: before.state, after: user.state },
      });
    return c.json(userAdminJson(gyre, user));
  };
  app.post(`${USER}/suspend`, allow.admin(), stateChange("suspended"));
  app.post(`${USER}/activate`, allow.admin(), stateChange("active"));
  app.patch(USER, allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const { role } = await parseBody(c, RoleBody);
    const before = await personById(gyre, c.req.param("id"));
    const user = await setUserRole(gyre, before.id, role, c.get("user"));
    forgetUser(user.id);
    if (before.admin !== user.admin)
      await auditRequest(c, {
        action: "user.role.update",
        ...aboutUser(user),
        payload: { before: before.admin ? "admin" : "normal", after: role },
      });
    return c.json(userAdminJson(gyre, user));
  });
  app.delete(USER, allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const user = await personById(gyre, c.req.param("id"));
    const removed = await deleteUser(gyre, user.id, c.get("user"));
    forgetUser(user.id);
    await auditRequest(c, { action: "user.delete", ...aboutUser(user), payload: { removed } });
    return c.json({ message: `User ${user.login} deleted.`, removed });
  });
  app.get(`${USER}/tokens`, allow.admin(), async (c) => {
    const user = await personById(c.get("gyre"), c.req.param("id"));
    return c.json({ items: (await listTokens(c.get("gyre"), user.id)).map(tokenJson) });
  });
  app.delete(`${USER}/tokens/:token`, allow.admin(), async (c) => {
    const user = await personById(c.get("gyre"), c.req.param("id") ?? "");
    return revoke(c, await listTokens(c.get("gyre"), user.id), user);
  });

  // --- the installation's settings
  app.get("/settings", allow.admin(), async (c) => c.json(settingsJson(await readSettings(c.get("gyre")))));
  app.patch("/settings", allow.admin(), async (c) => {
    const patch = await jsonBody(c);
    if (Object.keys(patch).length === 0) throw badRequest("Give at least one setting to change.");
    const change = await updateSettings(c.get("gyre"), patch);
    if (Object.keys(change.after).length > 0 || Object.keys(change.before).length > 0)
      await auditRequest(c, {
        action: "settings.update",
        target: { id: "settings", type: "settings", name: "installation" },
        payload: { before: change.before, after: change.after },
      });
    return c.json(settingsJson(change.settings));
  });
  app.post("/settings/ldap/test", allow.admin(), async (c) => {
    const body = await parseBody(c, LdapTestBody);
    const config = await ldapConfig(c.get("gyre"));
    if (!config) throw badRequest("LDAP is not set up: set `ldap` in the settings first.");
    return c.json(await ldapTestUser(config, body.username, body.password));
  });

  return app;
}
