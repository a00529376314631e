/**
 * `gyre usage [--week 2026-W48 | --week this] [--json | --csv [--report account_usage|job_activity|active_users]]`:
 * a week's usage statistics from `GET /api/gyre/usage` (administrators). Without `--week`, the
 * last full week (Monday to Sunday, UTC); `--week this`, the week under way so far; a week that
 * has not begun is refused (by the API, which says which week is under way). By default a
 * summary: build minutes by organization, platform, executor and resource class, the week's
 * active users, each project's jobs by status, and the API's note on a week before the
 * installation began. `--json` prints the API's answer; `--csv` one table as CSV, to load into a
 * spreadsheet (`--report` names which, default `account_usage`).
 */
import type { UsageJson } from "@gyre/core/usage/format";
import type { Client } from "./client.ts";
import { columns } from "./nomad-commands.ts";

type Print = (line: string) => void;

export const USAGE_REPORT_NAMES = ["account_usage", "job_activity", "active_users"] as const;

export interface UsageOptions {
  week?: string;
  json?: boolean;
  csv?: boolean;
  report?: string;
}

const day = (iso: string) => iso.slice(0, 10);
const num = (n: number) => String(n);

/** The report as lines: the week, the totals, then one table per part. */
export function usageLines(u: UsageJson): string[] {
  const last = new Date(Date.parse(u.to) - 1).toISOString();
  const lines = [
    `Usage for ${u.week} (${day(u.from)} to ${day(last)} UTC${u.complete ? "" : ", so far: the week has not ended"})`,
    ...(u.note ? [`Note: ${u.note}`] : []),
    `Build minutes: ${u.totals.build_minutes} in ${u.totals.jobs} job(s), ${u.totals.tasks} task(s); ` +
      `${u.active_users.count} active user(s); ${u.projects.building} of ${u.projects.total} project(s) built, ${u.projects.new} added.`,
    "",
    "Account usage",
  ];
  if (u.account_usage.length === 0) lines.push("  No jobs ran.");
  else
    lines.push(
      ...columns([
        ["ORGANIZATION", "PLATFORM", "EXECUTOR", "RESOURCE CLASS", "JOBS", "TASKS", "BUILD MINUTES"],
        ...u.account_usage.map((r) => [
          r.organization,
          r.platform,
          r.executor,
          r.resource_class,
          num(r.jobs),
          num(r.tasks),
          num(r.build_minutes),
        ]),
      ]).map((l) => `  ${l}`),
    );
  lines.push("", "Active users");
  if (u.active_users.users.length === 0) lines.push("  Nobody made work run.");
  else
    lines.push(
      ...columns([
        ["LOGIN", "NAME", "ACCOUNT", "PIPELINES", "RERUNS", "APPROVALS"],
        ...u.active_users.users.map((a) => [
          a.login ?? a.id,
          a.name ?? "",
          a.registered ? "yes" : "no",
          num(a.pipelines),
          num(a.reruns),
          num(a.approvals),
        ]),
      ]).map((l) => `  ${l}`),
    );
  lines.push("", "Job activity");
  if (u.job_activity.length === 0) lines.push("  No jobs ran.");
  else {
    // The statuses some project has, in the API's order.
    const statuses = Object.keys(u.job_activity[0]!.by_status).filter((s) =>
      u.job_activity.some((r) => (r.by_status as Record<string, number>)[s]! > 0),
    );
    lines.push(
      ...columns([
        ["PROJECT", "JOBS", ...statuses.map((s) => s.toUpperCase()), "BUILD MINUTES"],
        ...u.job_activity.map((r) => [
          r.project,
          num(r.jobs),
          ...statuses.map((s) => num((r.by_status as Record<string, number>)[s]!)),
          num(r.build_minutes),
        ]),
      ]).map((l) => `  ${l}`),
    );
  }
  return lines;
}

async function text(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

export async function usageCommand(
  client: Client,
  options: UsageOptions,
  print: Print,
  write: (text: string) => void,
): Promise<number> {
  if (options.json && options.csv) throw new Error("Give --json or --csv, not both.");
  if (options.report !== undefined && !options.csv)
    throw new Error("--report chooses the CSV table: give it with --csv.");
  if (options.report !== undefined && !(USAGE_REPORT_NAMES as readonly string[]).includes(options.report))
    throw new Error(`--report takes ${USAGE_REPORT_NAMES.join(", ")}, not "${options.report}".`);
  const q = new URLSearchParams();
  if (options.week !== undefined) q.set("week", options.week);
  if (options.csv) {
    q.set("format", "csv");
    q.set("report", options.report ?? "account_usage");
    write(await text(await client.stream(`/api/gyre/usage?${q}`)));
    return 0;
  }
  const report = await client.get<UsageJson>(`/api/gyre/usage${q.size > 0 ? `?${q}` : ""}`);
  if (options.json) print(JSON.stringify(report, null, 2));
  else for (const line of usageLines(report)) print(line);
  return 0;
}
