/**
 * `POST /api/v2/pipeline/continue`: a setup workflow's job hands over the pipeline's real
 * configuration. The continuation key in the body is the credential (CircleCI's way), so
 * this route takes no API token.
 */
import { badRequest } from "@gyre/core/error";
import { continuePipeline } from "@gyre/core/pipeline/index";
import { Hono } from "hono";
import { parameters } from "./api-v2.ts";
import { type Env, jsonBody } from "./context.ts";

/** Continuation configurations are whole configs, orbs expanded: allow more than the default. */
const MAX_CONTINUATION_BYTES = 4 * 1024 * 1024;

export function continueRoutes() {
  const app = new Hono<Env>();
  app.post("/", async (c) => {
    const body = await jsonBody(c, MAX_CONTINUATION_BYTES);
    const key = body["continuation-key"];
    const configuration = body.configuration;
    if (typeof key !== "string" || !key) throw badRequest("continuation-key must be a non-empty string.");
    if (typeof configuration !== "string" || !configuration)
      throw badRequest("configuration must be a non-empty string.");
    await continuePipeline(c.get("gyre"), { key, configuration, parameters: parameters(body.parameters) });
    return c.json({ message: "Pipeline continued." });
  });
  return app;
}
