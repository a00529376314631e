/**
 * `GET /metrics`: the fleet's figures and this process's event figures in Prometheus' text
 * format (core/src/metrics), for admins (Circle-Token or `Authorization: Bearer`, as the other
 * admin routes). The local runtime is one process, so its event figures are the installation's;
 * on AWS each function emits its own as EMF instead (functions/src/metrics.ts).
 */
import { eventsOf, readFleetFigures } from "@gyre/core/metrics/index";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "@gyre/core/metrics/prometheus";
import { Hono } from "hono";
import { allow } from "./access.ts";
import type { Env } from "./context.ts";

export function metricsRoutes() {
  const app = new Hono<Env>();
  app.get("/", allow.operator(), async (c) => {
    const gyre = c.get("gyre");
    const text = renderPrometheus(await readFleetFigures(gyre), eventsOf(gyre));
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });
  return app;
}
