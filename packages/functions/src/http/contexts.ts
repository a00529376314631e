/**
 * CircleCI API v2 contexts: paths, bodies and answers as in the published OpenAPI document.
 * Variable values go in and never come out. Any person may list and read contexts (names and
 * variable names, never values); creating, deleting and changing them is for administrators,
 * since a context's secrets reach every project of its organization.
 */

import { scopeOf } from "@gyre/core/audit/index";
import {
  type Context as CiContext,
  contextJson,
  createContext,
  deleteContext,
  deleteContextVariable,
  getContext,
  listContexts,
  listContextVariables,
  setContextVariable,
} from "@gyre/core/contexts/index";
import { badRequest, notFound } from "@gyre/core/error";
import {
  ContextListQuery,
  ContextVariableBody,
  CreateContextBody,
  EnvVarName,
  Uuid,
} from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import { auditRequest, type Env, parseBody, parseQuery } from "./context.ts";

/** The owner named by `owner-slug` (or `owner.slug`): Gyre identifies organizations by slug. */
function ownerSlug(slug: unknown, id: unknown, type: unknown): string {
  if (type !== undefined && type !== "organization")
    throw badRequest(`owner-type must be "organization": Gyre has no account-owned contexts.`);
  if (slug === undefined && id !== undefined)
    throw badRequest("Gyre identifies an owner by its slug (owner-slug, e.g. gh/acme), not by owner-id.");
  if (typeof slug !== "string" || slug === "") throw badRequest("owner-slug is required, e.g. gh/acme.");
  return slug;
}

/** A context's id from the path: contexts are named by UUIDs, so anything else does not exist. */
function contextId(c: Context<Env>): string {
  const id = c.req.param("id");
  if (!Uuid.safeParse(id).success) throw notFound("Context not found: its id must be a UUID.");
  return id!;
}

const variableName = (c: Context<Env>) =>
  parseInput(EnvVarName, c.req.param("name"), "environment variable name");

/** A context as an audit record's target, in its organization (by the id the API gives it). */
const about = async (c: Context<Env>, context: CiContext) => ({
  target: { id: context.id, type: "context", name: context.name },
  scope: await scopeOf(c.get("gyre"), context.owner),
});

export function contextRoutes() {
  const app = new Hono<Env>();
  app.get("/context", allow.user(), async (c) => {
    const query = parseQuery(c, ContextListQuery);
    const owner = ownerSlug(query["owner-slug"], query["owner-id"], query["owner-type"]);
    const page = await listContexts(c.get("gyre"), owner, { pageToken: query["page-token"] || undefined });
    return c.json({ items: page.items.map(contextJson), next_page_token: page.nextPageToken });
  });

  app.post("/context", allow.admin(), async (c) => {
    const { name, owner } = await parseBody(c, CreateContextBody);
    const context = await createContext(c.get("gyre"), {
      name,
      owner: ownerSlug(owner.slug, owner.id, owner.type),
    });
    await auditRequest(c, { action: "context.create", ...(await about(c, context)) });
    return c.json(contextJson(context));
  });

  app.get("/context/:id", allow.user(), async (c) =>
    c.json(contextJson(await getContext(c.get("gyre"), contextId(c)))),
  );

  app.delete("/context/:id", allow.admin(), async (c) => {
    const context = await getContext(c.get("gyre"), contextId(c));
    await deleteContext(c.get("gyre"), context.id);
    await auditRequest(c, { action: "context.delete", ...(await about(c, context)) });
    return c.json({ message: "Context deleted." });
  });

  app.get("/context/:id/environment-variable", allow.user(), async (c) =>
    c.json({ items: await listContextVariables(c.get("gyre"), contextId(c)), next_page_token: null }),
  );

  app.put("/context/:id/environment-variable/:name", allow.admin(), async (c) => {
    const id = contextId(c);
    const name = variableName(c);
    const { value } = await parseBody(c, ContextVariableBody);
    const stored = await setContextVariable(c.get("gyre"), id, name, value);
    // The variable's name, never its value.
    await auditRequest(c, {
      action: "context.env_var.store",
      ...(await about(c, await getContext(c.get("gyre"), id))),
      payload: { name },
    });
    return c.json(stored);
  });

  app.delete("/context/:id/environment-variable/:name", allow.admin(), async (c) => {
    const context = await getContext(c.get("gyre"), contextId(c));
    const name = variableName(c);
    await deleteContextVariable(c.get("gyre"), context.id, name);
    await auditRequest(c, {
      action: "context.env_var.delete",
      ...(await about(c, context)),
      payload: { name },
    });
    return c.json({ message: "Environment variable deleted." });
  });

  return app;
}
