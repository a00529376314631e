/**
 * The caller's SSH public keys (`core/src/ssh/user-keys.ts`): what an SSH rerun lets them log
 * in with. Listed, added (201; 409 if already there) and removed by SHA-256 fingerprint. Adding
 * and removing are audit records (`user.ssh_key.create`, `user.ssh_key.delete`: the key's
 * fingerprint and title), since these keys decide who reaches a job's secrets over SSH.
 */
import type { User } from "@gyre/core/auth/index";
import {
  AddUserKeyBody,
  addUserKey,
  deleteUserKey,
  listUserKeys,
  type UserSshKey,
  userKeyJson,
} from "@gyre/core/ssh/user-keys";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import { auditRequest, type Env, parseBody } from "./context.ts";

const auditKey = (
  c: Context<Env>,
  action: "user.ssh_key.create" | "user.ssh_key.delete",
  user: User,
  key: Pick<UserSshKey, "fingerprint" | "title">,
) =>
  auditRequest(c, {
    action,
    target: { id: user.id, type: "user", name: user.login },
    payload: { fingerprint: key.fingerprint, title: key.title },
  });

export function userKeyRoutes() {
  const app = new Hono<Env>();
  app.use(allow.user());

  app.get("/", async (c) =>
    c.json({ items: (await listUserKeys(c.get("gyre"), c.get("user").id)).map(userKeyJson) }),
  );

  app.post("/", async (c) => {
    const body = await parseBody(c, AddUserKeyBody);
    const user = c.get("user");
    const key = await addUserKey(c.get("gyre"), user.id, body);
    await auditKey(c, "user.ssh_key.create", user, key);
    return c.json(userKeyJson(key), 201);
  });

  app.delete("/:fingerprint", async (c) => {
    const user = c.get("user");
    const fingerprint = c.req.param("fingerprint");
    // Read first for its title (the record names the key as the list showed it).
    const title = (await listUserKeys(c.get("gyre"), user.id)).find(
      (k) => k.fingerprint === fingerprint,
    )?.title;
    await deleteUserKey(c.get("gyre"), user.id, fingerprint);
    await auditKey(c, "user.ssh_key.delete", user, { fingerprint, title: title ?? "" });
    return c.json({ message: "SSH key removed." });
  });

  return app;
}
