/**
 * `POST /api/v2/pipeline/continue`: a setup workflow's job hands over the pipeline's real
 * configuration. The continuation key in the body is the credential (CircleCI's way), so
 * this route takes no API token.
 */
import { continuePipeline } from "@gyre/core/pipeline/index";
import { ContinuePipelineBody } from "@gyre/core/protocol/api";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseBody } from "./context.ts";

/** Continuation configurations are whole configs, orbs expanded: allow more than the default. */
const MAX_CONTINUATION_BYTES = 4 * 1024 * 1024;

export function continueRoutes() {
  const app = new Hono<Env>();
  app.post("/", allow.anonymous("the pipeline's continuation key, checked here"), async (c) => {
    const body = await parseBody(c, ContinuePipelineBody, MAX_CONTINUATION_BYTES);
    await continuePipeline(c.get("gyre"), {
      key: body["continuation-key"],
      configuration: body.configuration,
      parameters: body.parameters,
    });
    return c.json({ message: "Pipeline continued." });
  });
  return app;
}
