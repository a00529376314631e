/**
 * `GET /api/gyre/doctor[?job=<project slug>/<job number> | <job id>]`: why builds are queued,
 * hop by hop (core/src/doctor), for admins. A malformed job reference is a 400, an unknown job
 * a 404 naming it.
 */
import { type DoctorReport, doctor } from "@gyre/core/doctor/index";
import { DoctorQuery } from "@gyre/core/protocol/api";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseQuery } from "./context.ts";

export function doctorRoutes() {
  const app = new Hono<Env>();
  app.get("/", allow.admin(), async (c) => {
    const query = parseQuery(c, DoctorQuery);
    return c.json(doctorJson(await doctor(c.get("gyre"), query.job)));
  });
  return app;
}

/** The report as the API answers it (snake_case, as Gyre's other endpoints). */
export const doctorJson = (r: DoctorReport) => ({
  ok: r.ok,
  checked_at: r.checkedAt,
  ...(r.job ? { job: r.job } : {}),
  ...(r.at ? { at: r.at } : {}),
  findings: r.findings.map((f) => ({
    hop: f.hop,
    status: f.status,
    message: f.message,
    ...(f.remedy ? { remedy: f.remedy } : {}),
  })),
});
