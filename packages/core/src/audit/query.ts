/**
 * Reading the audit log back, for administrators (`GET /api/gyre/audit`, `/api/gyre/audit/export`,
 * `gyre audit list|export`): records of a time range (`from` inclusive, `to` exclusive; the last
 * 24 hours by default, at most 31 days), filtered by action (exact, or a prefix ending in a dot:
 * `user.`), actor and target (an id, or a name whatever its case).
 *
 * The listing walks the hourly partitions of the range newest first and pages with the API's page
 * tokens; a page reads at most `MAX_PARTITIONS_PER_PAGE` hours and `MAX_READ_PER_PAGE` records,
 * so a page of a sparse filter may come back short (or empty) with a token to go on. A token
 * holds where the walk stopped (the hour's partition and the sort key below which it goes on)
 * and the range's start, so the default range does not slide between pages; a token that would
 * read outside the query's range (forged: tokens are not signed) is a 400.
 *
 * The export reads the whole range oldest first, up to `EXPORT_MAX_RECORDS`.
 */
import type { Gyre } from "../context.ts";
import { badRequest, GyreError } from "../error.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseInput, z } from "../protocol/schema.ts";
import { queryPage } from "../store/index.ts";
import { hourOf, recordsOfHour } from "./delivery.ts";
import {
  AUDIT_ACTIONS,
  type AuditEntity,
  type AuditRecord,
  AuditRecordSchema,
  auditPartition,
  canonicalRecord,
} from "./index.ts";
import { parseIsoTime } from "./time.ts";

const HOUR_MS = 3600_000;
export const DEFAULT_RANGE_MS = 24 * HOUR_MS;
export const MAX_RANGE_DAYS = 31;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
export const MAX_PARTITIONS_PER_PAGE = 48;
export const MAX_READ_PER_PAGE = 5000;
export const EXPORT_MAX_RECORDS = 10_000;
/** Hours the export reads at once. */
const HOURS_AT_ONCE = 8;

/** An ISO 8601 time (time.ts), as epoch ms. */
const IsoTime = z
  .string()
  .max(40)
  .regex(
    /^\d{4}-\d\d-\d\d(T[0-9:.]+(Z|[+-]\d\d:\d\d)?)?$/,
    "an ISO 8601 time, such as 2026-01-31T13:00:00Z or 2026-01-31",
  )
  .transform((v, ctx) => {
    const ms = parseIsoTime(v);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: "not a valid time" });
      return z.NEVER;
    }
    return ms;
  });

const ACTION = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.|\.\*)?$/;

/** The prefix an action filter names (`user.` and `user.*` alike), or undefined for an exact one. */
const prefixOf = (filter: string) =>
  filter.endsWith(".*") ? filter.slice(0, -1) : filter.endsWith(".") ? filter : undefined;

/**
 * Whether an action filter can match a record: an action Gyre records, or a prefix of one. Any
 * other (a typo, another product's action name) is refused rather than answered with nothing.
 */
function knownAction(filter: string): boolean {
  const prefix = prefixOf(filter);
  return prefix
    ? AUDIT_ACTIONS.some((action) => action.startsWith(prefix))
    : (AUDIT_ACTIONS as readonly string[]).includes(filter);
}

/** The filters both the listing and the export take (query parameters). */
export const AuditFilterSchema = z.object({
  action: z
    .string()
    .max(100)
    .regex(ACTION, { message: "an action (user.create) or a prefix ending in a dot (user.)", abort: true })
    .refine(
      knownAction,
      `not an action Gyre records, nor a prefix of one: give one of ${AUDIT_ACTIONS.join(", ")}, or a prefix ending in a dot (user.)`,
    )
    .optional(),
  actor: z.string().min(1).max(200).optional(),
  target: z.string().min(1).max(200).optional(),
  from: IsoTime.optional(),
  to: IsoTime.optional(),
});

export const AuditListSchema = AuditFilterSchema.extend({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `a number from 1 to ${MAX_PAGE_SIZE}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_PAGE_SIZE, `a number from 1 to ${MAX_PAGE_SIZE}`)
    .optional(),
  "page-token": z.string().max(4096).optional(),
});

export const AuditExportSchema = AuditFilterSchema.extend({
  format: z.enum(["csv", "json"]).default("csv"),
});

export type AuditFilter = z.output<typeof AuditFilterSchema>;

const iso = (ms: number) => new Date(ms).toISOString();

/** The range a query reads: ISO strings of the same shape as the records' `occurred_at`. */
export function auditRange(now: number, query: AuditFilter): { from: string; to: string } {
  const to = query.to ?? now;
  const from = query.from ?? to - DEFAULT_RANGE_MS;
  if (from >= to) throw badRequest("Invalid query: from: must be before to.");
  if (to - from > MAX_RANGE_DAYS * 24 * HOUR_MS)
    throw badRequest(
      `Invalid query: from: at most ${MAX_RANGE_DAYS} days before to (query a shorter range).`,
    );
  return { from: iso(from), to: iso(to) };
}

const sameEntity = (entity: AuditEntity, wanted: string) =>
  entity.id === wanted || (entity.name !== undefined && entity.name.toLowerCase() === wanted.toLowerCase());

/** Whether a record passes the filters (not the range). */
export function matches(record: AuditRecord, filter: AuditFilter): boolean {
  const action = filter.action;
  if (action) {
    const prefix = prefixOf(action);
    if (prefix ? !record.action.startsWith(prefix) : record.action !== action) return false;
  }
  if (filter.actor && !sameEntity(record.actor, filter.actor)) return false;
  if (filter.target && !sameEntity(record.target, filter.target)) return false;
  return true;
}

const startOf = (hour: string) => Date.parse(`${hour}:00:00.000Z`);

function parseRecord(item: Record<string, unknown>): AuditRecord | undefined {
  const parsed = AuditRecordSchema.safeParse(item.record);
  if (parsed.success) return canonicalRecord(parsed.data);
  console.error(`gyre audit: skipped an unreadable record ${String(item.sk)}`);
  return undefined;
}

/** A page token's list: the filters and the bounds the caller gave (a default one is not fixed). */
function listName(query: z.output<typeof AuditListSchema>): string {
  const given = (ms: number | undefined) => (ms === undefined ? "" : iso(ms));
  return `AUDIT?action=${query.action ?? ""}&actor=${query.actor ?? ""}&target=${query.target ?? ""}&from=${given(query.from)}&to=${given(query.to)}`;
}

const HOUR_PARTITION = /^AUDIT#(\d{4}-\d\d-\d\dT\d\d)$/;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * Where a token says to go on: an hour, the sort key it goes on below, and the range's start,
 * all within the range the query asks for. A token names its list, but is not signed: one
 * forged for the same list must not reach past it. So its start must be the query's own when
 * the query fixes it (`from` or `to` given); with the default range (the 24 hours before the
 * first page) it may be no more than 24 hours below where the token goes on; and it never goes
 * on above the range's end.
 */
function resumeAt(
  list: string,
  token: string,
  range: { from: string; to: string },
  fixed: boolean,
): { hour: string; upper: string; from: string } {
  const key = decodePageToken(list, token, { attributes: ["pk", "sk", "from"] });
  const hour = HOUR_PARTITION.exec(key.pk!)?.[1];
  const from = key.from!;
  const upper = key.sk!;
  const hourStart = hour ? iso(startOf(hour)) : "";
  // The sort key's time (`<occurred_at>#<id>`), or the hour's end the token stopped at.
  const upperMs = Date.parse(upper.slice(0, 24));
  if (
    !hour ||
    !ISO_MS.test(from) ||
    Number.isNaN(startOf(hour)) ||
    hourOf(Date.parse(from)) > hour ||
    !(upper > hourStart && upper <= iso(startOf(hour) + HOUR_MS)) ||
    upper < from ||
    upper > range.to ||
    (fixed ? from !== range.from : !(upperMs - Date.parse(from) <= DEFAULT_RANGE_MS))
  )
    throw badRequest("Invalid page-token.");
  return { hour, upper, from };
}

/** One page of records, newest first (see the module's header). */
export async function listAudit(
  gyre: Gyre,
  query: z.output<typeof AuditListSchema>,
): Promise<{ items: AuditRecord[]; nextPageToken: string | null }> {
  const list = listName(query);
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  const range = auditRange(gyre.now(), query);
  let { from } = range;
  let hour = hourOf(Date.parse(range.to) - 1);
  let upper = range.to;
  if (query["page-token"]) {
    const fixed = query.from !== undefined || query.to !== undefined;
    ({ hour, upper, from } = resumeAt(list, query["page-token"], range, fixed));
  }
  const items: AuditRecord[] = [];
  const next = (pk: string, sk: string) => ({
    items,
    nextPageToken: encodePageToken(list, { pk, sk, from }),
  });
  let read = 0;
  for (let walked = 0; hour >= hourOf(Date.parse(from)); walked++) {
    const partition = auditPartition(hour);
    if (walked === MAX_PARTITIONS_PER_PAGE) return next(partition, upper);
    let start: Record<string, unknown> | undefined;
    do {
      const page = await queryPage(
        gyre,
        { partition, sort: { between: [from, upper] }, descending: true, limit: 500 },
        start,
      );
      for (const item of page.items) {
        const sk = String(item.sk);
        if (sk >= upper) continue; // the item the token stopped at
        read++;
        const record = parseRecord(item);
        if (record && matches(record, query)) items.push(record);
        if (items.length === limit || read === MAX_READ_PER_PAGE) return next(partition, sk);
      }
      start = page.lastKey;
    } while (start);
    hour = hourOf(startOf(hour) - HOUR_MS);
    upper = iso(startOf(hour) + HOUR_MS);
  }
  return { items, nextPageToken: null };
}

/** Every record of the range that passes the filters, oldest first; refused past `EXPORT_MAX_RECORDS`. */
export async function exportAudit(gyre: Gyre, query: AuditFilter): Promise<AuditRecord[]> {
  const { from, to } = auditRange(gyre.now(), query);
  const hours: string[] = [];
  for (let at = startOf(hourOf(Date.parse(from))); at < Date.parse(to); at += HOUR_MS) hours.push(hourOf(at));
  const out: AuditRecord[] = [];
  // A few hours at a time, in order, so that a range past the bound stops early.
  for (let i = 0; i < hours.length; i += HOURS_AT_ONCE) {
    const batch = await Promise.all(hours.slice(i, i + HOURS_AT_ONCE).map((h) => recordsOfHour(gyre, h)));
    for (const record of batch.flat()) {
      if (record.occurred_at < from || record.occurred_at >= to || !matches(record, query)) continue;
      if (out.length === EXPORT_MAX_RECORDS)
        throw new GyreError(
          "unprocessable",
          `More than ${EXPORT_MAX_RECORDS} audit records from ${from} to ${to}: export a shorter range (gyre audit export asks day by day), or read the hourly files in the bucket.`,
        );
      out.push(record);
    }
  }
  return out;
}

/** The listing's query string parsed (400 naming the field). */
export const parseListQuery = (query: unknown) => parseInput(AuditListSchema, query, "query");
export const parseExportQuery = (query: unknown) => parseInput(AuditExportSchema, query, "query");
