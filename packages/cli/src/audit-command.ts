/**
 * The audit log from the command line, through the admin API (packages/functions/src/http/audit.ts):
 *
 *   gyre audit list [--action A] [--actor X] [--target T] [--from T] [--to T] [--limit 50] [--json]
 *       newest first: a table (time, action, actor, target, success), or the records as JSON
 *   gyre audit export --from T --to T [--csv] [--out file] [--action A] [--actor X] [--target T]
 *       oldest first: JSON Lines (one record per line, as the hourly files), or with --csv the
 *       reference's CSV download (nested fields as JSON); to stdout, or into --out
 *
 * Times are ISO 8601 (`2026-01-31T13:00:00Z`, or a date alone for its midnight; no zone is UTC).
 * `list` follows the API's pages until it has `--limit` records. `export` asks the API day by day
 * (UTC days), so a range of any length exports without meeting the API's per-query bounds.
 */
import { writeFileSync } from "node:fs";
import type { AuditEntity, AuditRecord } from "@gyre/core/audit/index";
import { parseIsoTime } from "@gyre/core/audit/time";
import { ApiError, type Client } from "./client.ts";
import { columns } from "./nomad-commands.ts";

type Print = (line: string) => void;

/** A record as the API answers it (every field the reference lists). */
export type AuditRecordJson = AuditRecord;

export interface AuditOptions {
  action?: string;
  actor?: string;
  target?: string;
  from?: string;
  to?: string;
  limit?: string;
  json?: boolean;
  csv?: boolean;
  out?: string;
}

const DAY_MS = 24 * 3600_000;
/** A time as the API reads it (core/src/audit/time.ts), or an error naming the flag. */
function timeOf(flag: string, value: string): number {
  const ms = parseIsoTime(value);
  if (ms === undefined)
    throw new Error(
      `Invalid --${flag} ${value}: an ISO 8601 time, such as 2026-01-31T13:00:00Z or 2026-01-31.`,
    );
  return ms;
}

const query = (params: Record<string, string | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
};

const entity = (e: AuditEntity) => (e.name ? `${e.type} ${e.name}` : `${e.type} ${e.id}`);

async function list(client: Client, options: AuditOptions, print: Print): Promise<number> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new Error(`Invalid --limit ${options.limit}: a number from 1 to 10000.`);
  const filters = { action: options.action, actor: options.actor, target: options.target };
  const range = { from: options.from, to: options.to };
  const items: AuditRecordJson[] = [];
  let token: string | undefined;
  do {
    const page: { items: AuditRecordJson[]; next_page_token: string | null } = await client.get(
      `/api/gyre/audit?${query({ ...filters, ...range, limit: String(Math.min(1000, limit - items.length)), "page-token": token })}`,
    );
    items.push(...page.items);
    token = page.next_page_token ?? undefined;
  } while (token && items.length < limit);
  if (options.json) {
    print(JSON.stringify(items, null, 2));
    return 0;
  }
  if (items.length === 0) {
    print("No audit records match.");
    return 0;
  }
  for (const line of columns([
    ["OCCURRED AT", "ACTION", "ACTOR", "TARGET", "SUCCESS"],
    ...items.map((r) => [r.occurred_at, r.action, entity(r.actor), entity(r.target), String(r.success)]),
  ]))
    print(line);
  if (token) print(`More records may match: raise --limit (${limit}) or narrow the filters.`);
  return 0;
}

async function exportRecords(
  client: Client,
  options: AuditOptions,
  print: Print,
  write: (text: string) => void,
): Promise<number> {
  if (options.from === undefined || options.to === undefined)
    throw new Error("gyre audit export needs --from and --to (ISO 8601 times).");
  const from = timeOf("from", options.from);
  const to = timeOf("to", options.to);
  if (from >= to) throw new Error("--from must be before --to.");
  const filters = { action: options.action, actor: options.actor, target: options.target };
  const records: AuditRecordJson[] = [];
  // A day at a time; a day with more records than one answer holds (422) is asked for in
  // halves, down to a minute, so a busy day exports too.
  const slice = async (start: number, end: number): Promise<void> => {
    try {
      records.push(
        ...(await client.get<AuditRecordJson[]>(
          `/api/gyre/audit/export?${query({ ...filters, from: new Date(start).toISOString(), to: new Date(end).toISOString(), format: "json" })}`,
        )),
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 422) || end - start <= 60_000) throw error;
      const middle = start + Math.floor((end - start) / 2);
      await slice(start, middle);
      await slice(middle, end);
    }
  };
  for (let start = from; start < to; ) {
    const end = Math.min(to, (Math.floor(start / DAY_MS) + 1) * DAY_MS);
    await slice(start, end);
    start = end;
  }
  let text: string;
  if (options.csv) {
    const { auditCsv } = await import("@gyre/core/audit/csv");
    text = auditCsv(records as Parameters<typeof auditCsv>[0]);
  } else text = records.map((r) => `${JSON.stringify(r)}\n`).join("");
  if (!options.out) {
    write(text);
    return 0;
  }
  writeFileSync(options.out, text);
  print(
    `Exported ${records.length} audit record(s) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} into ${options.out}${options.csv ? " (CSV)" : " (JSON Lines)"}.`,
  );
  return 0;
}

/** `gyre audit ...`: the exit code, or undefined when the arguments are not one of its forms. */
export async function auditCommand(
  client: Client,
  args: string[],
  options: AuditOptions,
  print: Print,
  write: (text: string) => void,
): Promise<number | undefined> {
  if (args.length !== 1) return undefined;
  if (args[0] === "list") return list(client, options, print);
  if (args[0] === "export") return exportRecords(client, options, print, write);
  return undefined;
}
