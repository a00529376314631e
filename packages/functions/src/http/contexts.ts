/**
 * CircleCI API v2 contexts: paths, bodies and answers as in the published OpenAPI document.
 * Variable values go in and never come out; builders' tokens are refused (`requireUser`).
 */
import {
  contextJson,
  createContext,
  deleteContext,
  deleteContextVariable,
  getContext,
  listContexts,
  listContextVariables,
  setContextVariable,
} from "@gyre/core/contexts/index";
import { badRequest } from "@gyre/core/error";
import { Hono } from "hono";
import { type Env, jsonBody, requireUser } from "./context.ts";

/** The owner named by `owner-slug` (or `owner.slug`): Gyre identifies organizations by slug. */
function ownerSlug(slug: unknown, id: unknown, type: unknown): string {
  if (type !== undefined && type !== "organization")
    throw badRequest(`owner-type must be "organization": Gyre has no account-owned contexts.`);
  if (slug === undefined && id !== undefined)
    throw badRequest("Gyre identifies an owner by its slug (owner-slug, e.g. gh/acme), not by owner-id.");
  if (typeof slug !== "string" || slug === "") throw badRequest("owner-slug is required, e.g. gh/acme.");
  return slug;
}

export function contextRoutes() {
  const app = new Hono<Env>();
  app.use("/context", requireUser());
  app.use("/context/*", requireUser());

  app.get("/context", async (c) => {
    const owner = ownerSlug(c.req.query("owner-slug"), c.req.query("owner-id"), c.req.query("owner-type"));
    const page = await listContexts(c.get("gyre"), owner, {
      pageToken: c.req.query("page-token") || undefined,
    });
    return c.json({ items: page.items.map(contextJson), next_page_token: page.nextPageToken });
  });

  app.post("/context", async (c) => {
    const body = await jsonBody(c);
    const owner = body.owner as Record<string, unknown> | undefined;
    if (typeof owner !== "object" || owner === null || Array.isArray(owner))
      throw badRequest('owner is required: {"slug": "gh/acme"}.');
    const context = await createContext(c.get("gyre"), {
      name: body.name,
      owner: ownerSlug(owner.slug, owner.id, owner.type),
    });
    return c.json(contextJson(context));
  });

  app.get("/context/:id", async (c) =>
    c.json(contextJson(await getContext(c.get("gyre"), c.req.param("id")))),
  );

  app.delete("/context/:id", async (c) => {
    await deleteContext(c.get("gyre"), c.req.param("id"));
    return c.json({ message: "Context deleted." });
  });

  app.get("/context/:id/environment-variable", async (c) =>
    c.json({ items: await listContextVariables(c.get("gyre"), c.req.param("id")), next_page_token: null }),
  );

  app.put("/context/:id/environment-variable/:name", async (c) => {
    const body = await jsonBody(c);
    return c.json(
      await setContextVariable(c.get("gyre"), c.req.param("id"), c.req.param("name"), body.value),
    );
  });

  app.delete("/context/:id/environment-variable/:name", async (c) => {
    await deleteContextVariable(c.get("gyre"), c.req.param("id"), c.req.param("name"));
    return c.json({ message: "Environment variable deleted." });
  });

  return app;
}
