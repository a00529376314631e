/**
 * The one HTTP app: GitHub webhooks, the CircleCI-shaped API (v2 and the v1.1 endpoints
 * tools still call), Gyre's admin endpoints and the builder agents' endpoints. Served by
 * `@hono/node-server` locally and by `hono/aws-lambda` on AWS.
 */

import { randomUUID } from "node:crypto";
import type { Gyre } from "@gyre/core/context";
import { type ErrorCode, GyreError } from "@gyre/core/error";
import { type Context, Hono } from "hono";
import { cors } from "hono/cors";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { getPath } from "hono/utils/url";
import { allow } from "./access.ts";
import { adminRoutes } from "./admin.ts";
import { agentRoutes } from "./agent.ts";
import { apiV1Routes } from "./api-v1.ts";
import { apiV2Routes } from "./api-v2.ts";
import { artifactRoutes } from "./artifacts.ts";
import { auditRoutes } from "./audit.ts";
import { authRoutes } from "./auth.ts";
import { badgeRoutes } from "./badges.ts";
import { buildRoutes } from "./builds.ts";
import { configRoutes } from "./config.ts";
import type { Env } from "./context.ts";
import { contextRoutes } from "./contexts.ts";
import { continueRoutes } from "./continue.ts";
import { doctorRoutes } from "./doctor.ts";
import { insightsRoutes } from "./insights.ts";
import { jobOutputRoutes } from "./job-output.ts";
import { metricsRoutes } from "./metrics.ts";
import { nomadRoutes } from "./nomad.ts";
import { orbRoutes } from "./orbs.ts";
import { projectSettingsRoutes } from "./project-settings.ts";
import { queueRoutes } from "./queues.ts";
import { scheduleRoutes } from "./schedules.ts";
import { sshKeyRoutes } from "./ssh-keys.ts";
import { usageRoutes } from "./usage.ts";
import { userKeyRoutes } from "./user-keys.ts";
import { userRoutes } from "./users.ts";
import { NO_WEB_APP, type WebAssets, wantsPage, webPage, webRoutes } from "./web.ts";
import { webhookRoutes } from "./webhooks.ts";
import { workflowActionRoutes } from "./workflow-actions.ts";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
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

/**
 * The path the router sees: a project slug unescaped (above), and for the CircleCI API one
 * trailing slash dropped, so `/api/v2/me/` answers as `/api/v2/me` does (clients that build
 * URLs by joining parts send them).
 */
export function routedPath(path: string): string {
  const normalized = normalizeProjectPath(path);
  return normalized.length > 1 && normalized.endsWith("/") && /^\/api\/(v2|v1\.1)\//.test(normalized)
    ? normalized.slice(0, -1)
    : normalized;
}

/**
 * CORS for browser clients of the CircleCI API: any origin may call it with a token in the
 * `Circle-Token` header (no cookies are involved, so no credentials mode), and a preflight is
 * answered here, before any token is asked for.
 */
const apiCors = cors({
  origin: "*",
  allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
  allowHeaders: ["Circle-Token", "Content-Type", "Authorization", "Idempotency-Key", "X-Client-Trace-Id"],
  maxAge: 600,
});

export interface AppOptions {
  /** Where to log unexpected errors (never request bodies or secrets). */
  logError?: (error: unknown) => void;
  /** The caller's address (the runtime's: the socket's locally, API Gateway's source IP on AWS). */
  remoteAddress?: (c: Context<Env>) => string | undefined;
  /** The request's id, when the runtime assigns one (API Gateway's). */
  requestId?: (c: Context<Env>) => string | undefined;
  /** The web app's built files (packages/web): served at `/` and the paths it routes. */
  web?: WebAssets;
}

const TRACE_ID = /^[\x21-\x7e]{1,128}$/;

const safely = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined;
  }
};

export function createApp(gyre: Gyre, options: AppOptions = {}): Hono<Env> {
  const app = new Hono<Env>({ getPath: (request) => routedPath(getPath(request)) });
  app.use(async (c, next) => {
    c.set("gyre", gyre);
    // What audit records say of the request, captured once: its id, the caller's address, and
    // the client's X-Client-Trace-Id (printable, bounded; anything else is left out).
    const trace = c.req.header("x-client-trace-id");
    const ip = safely(() => options.remoteAddress?.(c));
    c.set("auditRequest", {
      id: safely(() => options.requestId?.(c)) ?? randomUUID(),
      ...(ip ? { ip_address: ip.replace(/^::ffff:/, "") } : {}),
      ...(trace && TRACE_ID.test(trace) ? { client_trace_id: trace } : {}),
    });
    await next();
  });
  // No answer is sniffed into another type (an error page, a job's raw output, an artifact).
  app.use(async (c, next) => {
    await next();
    if (!c.res.headers.has("x-content-type-options")) c.res.headers.set("x-content-type-options", "nosniff");
  });
  app.use("/api/v2/*", apiCors);
  app.use("/api/v1.1/*", apiCors);
  app.route("/webhooks", webhookRoutes());
  // Authenticated by its continuation key, not a token: before the token-checked v2 routes.
  app.route("/api/v2/pipeline/continue", continueRoutes());
  app.route("/", sshKeyRoutes());
  app.route("/api/v2", apiV2Routes());
  app.route("/api/v2", workflowActionRoutes());
  app.route("/api/v2", scheduleRoutes());
  app.route("/api/v2", projectSettingsRoutes("v2"));
  app.route("/api/v2", contextRoutes());
  app.route("/api/v2", configRoutes());
  app.route("/api/v2", insightsRoutes());
  app.route("/api/v1.1", projectSettingsRoutes("v1.1"));
  app.route("/api/v1.1", apiV1Routes());
  app.route("/api/gyre/me/ssh-keys", userKeyRoutes());
  app.route("/api/gyre/auth", authRoutes());
  app.route("/api/gyre", userRoutes());
  app.route("/api/gyre", adminRoutes());
  app.route("/api/gyre", buildRoutes());
  app.route("/api/gyre", jobOutputRoutes());
  app.route("/api/gyre/orbs", orbRoutes());
  app.route("/api/gyre/doctor", doctorRoutes());
  app.route("/api/gyre/queues", queueRoutes());
  app.route("/api/gyre/usage", usageRoutes());
  app.route("/api/gyre/audit", auditRoutes());
  app.route("/agent/v1", agentRoutes());
  app.route("/v1", nomadRoutes());
  app.route("/", artifactRoutes());
  app.route("/", badgeRoutes());
  app.get("/healthz", allow.anonymous("liveness: answers nothing but ok"), (c) => c.json({ ok: true }));
  app.route("/metrics", metricsRoutes());
  const web = options.web ?? NO_WEB_APP;
  app.route("/", webRoutes(web));
  const notFoundPage = webPage(web);
  app.notFound((c) => {
    if (wantsPage(c)) return notFoundPage(c, 404);
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
