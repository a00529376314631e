/**
 * Gyre's orb registry (CircleCI Server keeps orbs in its own registry too): publish a version
 * (admins only) and list what is published. Configs reference published orbs by
 * `namespace/orb@version` and the pipeline intake resolves them from the same bucket.
 */
import { badRequest } from "@gyre/core/error";
import { listOrbs, MAX_ORB_BYTES, publishOrb } from "@gyre/core/orb/index";
import { type Context, Hono } from "hono";
import { type Env, jsonBody, rawBody, requireUser } from "./context.ts";

/**
 * The orb's source: the raw body (YAML, any content type but JSON), or `{"source": "..."}`
 * when the body is JSON, as `gyre orb publish` sends it.
 */
async function orbSource(c: Context<Env>): Promise<string> {
  if (/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
    // JSON escapes make the envelope larger than the source; publishOrb checks the source's own size.
    const body = await jsonBody(c, 2 * MAX_ORB_BYTES);
    if (typeof body.source !== "string") throw badRequest("source must be a string: the orb's YAML.");
    return body.source;
  }
  const raw = await rawBody(c, MAX_ORB_BYTES);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw badRequest("The orb source must be UTF-8 text.");
  }
}

export function orbRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get("/", async (c) => c.json({ items: await listOrbs(c.get("gyre")) }));

  app.put(
    "/:namespace/:orb/:version",
    requireUser((u) => u.admin && !u.builder, "Only an admin can publish orbs."),
    async (c) => {
      const source = await orbSource(c);
      const published = await publishOrb(
        c.get("gyre"),
        `${c.req.param("namespace")}/${c.req.param("orb")}`,
        c.req.param("version"),
        source,
      );
      return c.json(published, published.created ? 201 : 200);
    },
  );

  return app;
}
