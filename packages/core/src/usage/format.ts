/**
 * A week's usage statistics as the API, the CLI and the bucket give them: one JSON document
 * (snake_case, as Gyre's other endpoints), and one CSV per table, to load into a spreadsheet
 * each: `account_usage`, `job_activity`, `active_users`.
 *
 * CSV is RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote,
 * CR or LF, its quotes doubled. A text field that a spreadsheet would take for a formula
 * (starting with `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'` (OWASP's CSV injection
 * advice): names come from people and from LDAP.
 */
import { JOB_STATUSES } from "../job/index.ts";
import { z } from "../protocol/schema.ts";
import type { UsageReport } from "./report.ts";

export const USAGE_REPORTS = ["account_usage", "job_activity", "active_users"] as const;
export type UsageReportName = (typeof USAGE_REPORTS)[number];

/** `GET /api/gyre/usage`: `week` (default: the last full week; `this`: the week so far), `format`, and the CSV's `report`. */
export const UsageQuery = z.object({
  week: z.string().max(64).optional(),
  format: z.enum(["json", "csv"]).optional(),
  report: z.enum(USAGE_REPORTS).optional(),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

/** Minutes to two decimals, from whole seconds. */
export const minutes = (seconds: number) => Math.round((seconds / 60) * 100) / 100;

const iso = (ms: number) => new Date(ms).toISOString();

/** What a reader should know about a week beyond its figures, or null: it ended before Gyre began. */
export function usageNote(report: UsageReport): string | null {
  if (report.installedAt === undefined || report.week.to > report.installedAt) return null;
  return `${report.week.id} ended before this installation began (${iso(report.installedAt)}, its first administrator or project): there is nothing to count.`;
}

export function usageJson(report: UsageReport) {
  const totals = report.accountUsage.reduce(
    (t, r) => ({ jobs: t.jobs + r.jobs, tasks: t.tasks + r.tasks, seconds: t.seconds + r.buildSeconds }),
    { jobs: 0, tasks: 0, seconds: 0 },
  );
  return {
    week: report.week.id,
    from: iso(report.week.from),
    to: iso(report.week.to),
    complete: report.complete,
    generated_at: iso(report.generatedAt),
    installed_at: report.installedAt === undefined ? null : iso(report.installedAt),
    note: usageNote(report),
    totals: {
      jobs: totals.jobs,
      tasks: totals.tasks,
      build_seconds: totals.seconds,
      build_minutes: minutes(totals.seconds),
    },
    account_usage: report.accountUsage.map((r) => ({
      organization: r.organization,
      organization_id: r.organizationId,
      platform: r.platform,
      executor: r.executor,
      resource_class: r.resourceClass,
      jobs: r.jobs,
      tasks: r.tasks,
      build_seconds: r.buildSeconds,
      build_minutes: minutes(r.buildSeconds),
    })),
    active_users: {
      count: report.activeUsers.length,
      users: report.activeUsers.map((u) => ({
        id: u.id,
        login: u.login,
        name: u.name,
        registered: u.registered,
        pipelines: u.pipelines,
        reruns: u.reruns,
        approvals: u.approvals,
      })),
    },
    job_activity: report.jobActivity.map((r) => ({
      project: r.project,
      organization: r.organization,
      jobs: r.jobs,
      by_status: r.byStatus,
      build_seconds: r.buildSeconds,
      build_minutes: minutes(r.buildSeconds),
    })),
    projects: report.projects,
  };
}
export type UsageJson = ReturnType<typeof usageJson>;

type Cell = string | number | boolean | null;

/** One CSV field (RFC 4180, formula-safe for text). */
export function csvField(value: Cell): string {
  if (value === null) return "";
  if (typeof value !== "string") return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvOf = (rows: readonly (readonly Cell[])[]) =>
  rows.map((row) => `${row.map(csvField).join(",")}\r\n`).join("");

/** One of the week's tables as CSV, with its header (and no other row when it is empty). */
export function usageCsv(report: UsageReport, name: UsageReportName): string {
  const week = report.week.id;
  switch (name) {
    case "account_usage":
      return csvOf([
        [
          "week",
          "organization",
          "organization_id",
          "platform",
          "executor",
          "resource_class",
          "jobs",
          "tasks",
          "build_seconds",
          "build_minutes",
        ],
        ...report.accountUsage.map((r) => [
          week,
          r.organization,
          r.organizationId,
          r.platform,
          r.executor,
          r.resourceClass,
          r.jobs,
          r.tasks,
          r.buildSeconds,
          minutes(r.buildSeconds),
        ]),
      ]);
    case "job_activity":
      return csvOf([
        ["week", "project", "organization", "jobs", ...JOB_STATUSES, "build_seconds", "build_minutes"],
        ...report.jobActivity.map((r) => [
          week,
          r.project,
          r.organization,
          r.jobs,
          ...JOB_STATUSES.map((s) => r.byStatus[s]),
          r.buildSeconds,
          minutes(r.buildSeconds),
        ]),
      ]);
    case "active_users":
      return csvOf([
        ["week", "id", "login", "name", "registered", "pipelines", "reruns", "approvals"],
        ...report.activeUsers.map((u) => [
          week,
          u.id,
          u.login,
          u.name,
          u.registered,
          u.pipelines,
          u.reruns,
          u.approvals,
        ]),
      ]);
  }
}
