/**
 * `GET /api/gyre/usage[?week=2026-W48][&format=json|csv][&report=account_usage|job_activity|active_users]`:
 * a week's usage statistics (core/src/usage), for administrators. Without `week`, the last
 * full week (`week=last` names it); `week=this`, the week under way so far. JSON by default: `{week, from, to,
 * complete, generated_at, installed_at, note, totals, account_usage, active_users: {count,
 * users}, job_activity, projects}` (`note` says when the week ended before the installation
 * began: its figures are empty); `format=csv` answers one table as a CSV download, `report`
 * naming which (default `account_usage`). A malformed week, a week that has not begun, or a
 * `report` without `format=csv` is a 400 that says what is wrong.
 */
import { badRequest } from "@gyre/core/error";
import { requestedWeek, UsageQuery, usageCsv, usageJson, usageReport } from "@gyre/core/usage/index";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseQuery } from "./context.ts";

export function usageRoutes() {
  const app = new Hono<Env>();
  app.get("/", allow.admin(), async (c) => {
    const query = parseQuery(c, UsageQuery);
    const csv = query.format === "csv";
    if (query.report && !csv)
      throw badRequest("Invalid query: report= chooses the CSV table; give it with format=csv.");
    const gyre = c.get("gyre");
    const week = requestedWeek(query.week, gyre.now());
    const report = await usageReport(gyre, week);
    if (!csv) return c.json(usageJson(report));
    const name = query.report ?? "account_usage";
    return c.body(usageCsv(report, name), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${week.id}-${name}.csv"`,
    });
  });
  return app;
}
