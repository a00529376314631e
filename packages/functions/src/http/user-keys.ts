/**
 * The caller's SSH public keys (`core/src/ssh/user-keys.ts`): what an SSH rerun lets them log
 * in with. Listed, added (201; 409 if already there) and removed by SHA-256 fingerprint.
 */
import {
  AddUserKeyBody,
  addUserKey,
  deleteUserKey,
  listUserKeys,
  userKeyJson,
} from "@gyre/core/ssh/user-keys";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseBody } from "./context.ts";

export function userKeyRoutes() {
  const app = new Hono<Env>();
  app.use(allow.user());

  app.get("/", async (c) =>
    c.json({ items: (await listUserKeys(c.get("gyre"), c.get("user").id)).map(userKeyJson) }),
  );

  app.post("/", async (c) => {
    const body = await parseBody(c, AddUserKeyBody);
    return c.json(userKeyJson(await addUserKey(c.get("gyre"), c.get("user").id, body)), 201);
  });

  app.delete("/:fingerprint", async (c) => {
    await deleteUserKey(c.get("gyre"), c.get("user").id, c.req.param("fingerprint"));
    return c.json({ message: "SSH key removed." });
  });

  return app;
}
