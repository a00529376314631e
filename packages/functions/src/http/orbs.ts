/**
 * Gyre's orb registry (CircleCI Server keeps orbs in its own registry too): publish a version
 * (admins only) and list what is published. Configs reference published orbs by
 * `namespace/orb@version` and the pipeline intake resolves them from the same bucket.
 */
import { badRequest } from "@gyre/core/error";
import { listOrbs, MAX_ORB_BYTES, publishOrb } from "@gyre/core/orb/index";
import { OrbPath, OrbSourceBody } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseBody, rawBody } from "./context.ts";

/**
 * The orb's source: the raw body (YAML, any content type but JSON), or `{"source": "..."}`
 * when the body is JSON, as `gyre orb publish` sends it.
 */
async function orbSource(c: Context<Env>): Promise<string> {
  if (/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
    // JSON escapes make the envelope larger than the source; publishOrb checks the source's own size.
    return (await parseBody(c, OrbSourceBody, 2 * MAX_ORB_BYTES)).source;
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
  app.get("/", allow.user(), async (c) => c.json({ items: await listOrbs(c.get("gyre")) }));

  app.put("/:namespace/:orb/:version", allow.admin(), async (c) => {
    const { namespace, orb, version } = parseInput(OrbPath, c.req.param(), "path");
    const source = await orbSource(c);
    const published = await publishOrb(c.get("gyre"), `${namespace}/${orb}`, version, source);
    return c.json(published, published.created ? 201 : 200);
  });

  return app;
}
