/**
 * The one HTTP app: GitHub webhooks, the CircleCI-shaped API (v2 and the v1.1 endpoints
 * tools still call), Gyre's admin endpoints and the builder agents' endpoints. Served by
 * `@hono/node-server` locally and by `hono/aws-lambda` on AWS.
 */
import type { Gyre } from "@gyre/core/context";
import { type ErrorCode, GyreError } from "@gyre/core/error";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { adminRoutes } from "./admin.ts";
import { agentRoutes } from "./agent.ts";
import { apiV1Routes } from "./api-v1.ts";
import { apiV2Routes } from "./api-v2.ts";
import { artifactRoutes } from "./artifacts.ts";
import { configRoutes } from "./config.ts";
import type { Env } from "./context.ts";
import { contextRoutes } from "./contexts.ts";
import { continueRoutes } from "./continue.ts";
import { orbRoutes } from "./orbs.ts";
import { sshKeyRoutes } from "./ssh-keys.ts";
import { webhookRoutes } from "./webhooks.ts";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unprocessable: 422,
  internal: 500,
};

export interface AppOptions {
  /** Where to log unexpected errors (never request bodies or secrets). */
  logError?: (error: unknown) => void;
}

export function createApp(gyre: Gyre, options: AppOptions = {}): Hono<Env> {
  const app = new Hono<Env>();
  app.use(async (c, next) => {
    c.set("gyre", gyre);
    await next();
  });
  app.route("/webhooks", webhookRoutes());
  // Authenticated by its continuation key, not a token: before the token-checked v2 routes.
  app.route("/api/v2/pipeline/continue", continueRoutes());
  app.route("/", sshKeyRoutes());
  app.route("/api/v2", apiV2Routes());
  app.route("/api/v2", contextRoutes());
  app.route("/api/v2", configRoutes());
  app.route("/api/v1.1", apiV1Routes());
  app.route("/api/gyre", adminRoutes());
  app.route("/api/gyre/orbs", orbRoutes());
  app.route("/agent/v1", agentRoutes());
  app.route("/", artifactRoutes());
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.notFound((c) => c.json({ message: `Not found: ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    if (error instanceof GyreError) {
      const status = STATUS[error.code];
      if (status < 500) return c.json({ message: error.message }, status);
    }
    (options.logError ?? ((e) => console.error("gyre: unexpected error", e)))(error);
    return c.json({ message: "Internal server error." }, 500);
  });
  return app;
}
