/**
 * The one HTTP app: GitHub webhooks, the CircleCI-shaped API (v2 and the v1.1 endpoints
 * tools still call), Gyre's admin endpoints and the builder agents' endpoints. Served by
 * `@hono/node-server` locally and by `hono/aws-lambda` on AWS.
 */
import type { Gyre } from "@gyre/core/context";
import { type ErrorCode, GyreError } from "@gyre/core/error";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getPath } from "hono/utils/url";
import { adminRoutes } from "./admin.ts";
import { agentRoutes } from "./agent.ts";
import { apiV1Routes } from "./api-v1.ts";
import { apiV2Routes } from "./api-v2.ts";
import { artifactRoutes } from "./artifacts.ts";
import { configRoutes } from "./config.ts";
import type { Env } from "./context.ts";
import { contextRoutes } from "./contexts.ts";
import { continueRoutes } from "./continue.ts";
import { doctorRoutes } from "./doctor.ts";
import { metricsRoutes } from "./metrics.ts";
import { nomadRoutes } from "./nomad.ts";
import { orbRoutes } from "./orbs.ts";
import { sshKeyRoutes } from "./ssh-keys.ts";
import { webhookRoutes } from "./webhooks.ts";
import { workflowActionRoutes } from "./workflow-actions.ts";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  locked: 423,
  unprocessable: 422,
  internal: 500,
  unavailable: 503,
};

const PROJECT_PATH = /^(\/api\/(?:v2|v1\.1)\/project\/)(.*)$/s;

/**
 * A project route's path with its slug unescaped: the CircleCI API lets clients send the slug's
 * `/` as `%2F` (`/api/v2/project/gh%2Facme%2Fapi/pipeline`), which the router would otherwise
 * see as one segment. Only the segments that make up the slug are touched; a path whose escaped
 * segment would not make exactly `vcs/org/repo` is left as it is (and answers 404 or 400).
 */
export function normalizeProjectPath(path: string): string {
  const m = PROJECT_PATH.exec(path);
  if (!m || !/%2f/i.test(m[2]!)) return path;
  const segments = m[2]!.split("/");
  const parts: string[] = [];
  let used = 0;
  while (parts.length < 3 && used < segments.length) parts.push(...segments[used++]!.split(/%2f/i));
  if (parts.length !== 3) return path;
  return `${m[1]}${[...parts, ...segments.slice(used)].join("/")}`;
}

export interface AppOptions {
  /** Where to log unexpected errors (never request bodies or secrets). */
  logError?: (error: unknown) => void;
}

export function createApp(gyre: Gyre, options: AppOptions = {}): Hono<Env> {
  const app = new Hono<Env>({ getPath: (request) => normalizeProjectPath(getPath(request)) });
  app.use(async (c, next) => {
    c.set("gyre", gyre);
    await next();
  });
  app.route("/webhooks", webhookRoutes());
  // Authenticated by its continuation key, not a token: before the token-checked v2 routes.
  app.route("/api/v2/pipeline/continue", continueRoutes());
  app.route("/", sshKeyRoutes());
  app.route("/api/v2", apiV2Routes());
  app.route("/api/v2", workflowActionRoutes());
  app.route("/api/v2", contextRoutes());
  app.route("/api/v2", configRoutes());
  app.route("/api/v1.1", apiV1Routes());
  app.route("/api/gyre", adminRoutes());
  app.route("/api/gyre/orbs", orbRoutes());
  app.route("/api/gyre/doctor", doctorRoutes());
  app.route("/agent/v1", agentRoutes());
  app.route("/v1", nomadRoutes());
  app.route("/", artifactRoutes());
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.route("/metrics", metricsRoutes());
  app.notFound((c) => {
    const path = c.req.path.length > 200 ? `${c.req.path.slice(0, 200)}…` : c.req.path;
    return c.json({ message: `Not found: ${c.req.method} ${path}` }, 404);
  });
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
