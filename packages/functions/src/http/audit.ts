/**
 * The audit log for administrators (core/src/audit/query.ts), under `/api/gyre/audit`:
 *
 *   GET /?action=&actor=&target=&from=&to=&limit=&page-token=
 *       → {items: [record...], next_page_token}: newest first; `action` exact or a prefix ending
 *         in a dot (`user.`), `actor`/`target` an id or a name, `from`/`to` ISO times (the last
 *         24 hours by default, at most 31 days); a page may be short with a token to go on
 *   GET /export?from=&to=&format=csv|json (and the same filters)
 *       → the range oldest first: CSV (the reference's download, nested fields as JSON) or a
 *         JSON array; at most 10,000 records (422 past that: export a shorter range)
 *
 * A bad filter is a 400 naming it: an `action` that is no action Gyre records (nor a prefix of
 * one) lists the ones it does; a `page-token` of another query, or one forged to read outside
 * the query's range, is refused too (core/src/audit/query.ts).
 */
import { auditCsv } from "@gyre/core/audit/csv";
import { auditRange, exportAudit, listAudit, parseExportQuery, parseListQuery } from "@gyre/core/audit/query";
import { Hono } from "hono";
import { allow } from "./access.ts";
import type { Env } from "./context.ts";

export function auditRoutes() {
  const app = new Hono<Env>();

  app.get("/", allow.admin(), async (c) => {
    const page = await listAudit(c.get("gyre"), parseListQuery(c.req.query()));
    return c.json({ items: page.items, next_page_token: page.nextPageToken });
  });

  app.get("/export", allow.admin(), async (c) => {
    const gyre = c.get("gyre");
    const query = parseExportQuery(c.req.query());
    const { from, to } = auditRange(gyre.now(), query);
    const records = await exportAudit(gyre, query);
    if (query.format === "json") return c.json(records);
    const name = `audit-log_${from.replace(/[:.]/g, "-")}_${to.replace(/[:.]/g, "-")}.csv`;
    return c.body(auditCsv(records), 200, {
      "content-type": "text/csv; charset=utf-8; header=present",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });

  return app;
}
