/**
 * The query parameters of the insights operations, declared once (the routes parse with these,
 * a 400 naming the parameter otherwise), and the windows they name.
 *
 * - `reporting-window`: `last-24-hours`, `last-7-days`, `last-30-days`, `last-60-days`,
 *   `last-90-days` (the default), ending now.
 * - `branch` / `all-branches`: one branch, or every branch; neither means the project's default
 *   branch; both is a 400 ("use either", as the API document says).
 * - `start-date` / `end-date` (RFC 3339): runs that started at or after the start and before the
 *   end; an end needs a start and may be at most 90 days after it. Without them: the 90 days up
 *   to now (48 hours for hourly time series, which never span more than 48 hours: a longer
 *   range keeps its last 48 hours).
 */
import { badRequest } from "../error.ts";
import { PageToken, RefName } from "../protocol/api.ts";
import { Ids, parseInput, z } from "../protocol/schema.ts";
import { DAY_MS, HOUR_MS, type Window } from "./metrics.ts";

export const REPORTING_WINDOWS = {
  "last-24-hours": 1,
  "last-7-days": 7,
  "last-30-days": 30,
  "last-60-days": 60,
  "last-90-days": 90,
} as const;
export type ReportingWindow = keyof typeof REPORTING_WINDOWS;

/** The longest range a query may name, and how far back records are kept for the default one. */
export const MAX_RANGE_DAYS = 90;
const HOURLY_RANGE_MS = 48 * HOUR_MS;

const BooleanParam = z
  .enum(["true", "false"], { error: "expected true or false" })
  .transform((v) => v === "true");

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
const DateTime = z
  .string()
  .max(40, "at most 40 characters")
  .refine(
    (s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)),
    "an RFC 3339 date-time, e.g. 2020-08-21T13:26:29Z",
  )
  .transform((s) => Date.parse(s));

const WindowName = z.enum(Object.keys(REPORTING_WINDOWS) as [ReportingWindow, ...ReportingWindow[]], {
  error: `expected one of ${Object.keys(REPORTING_WINDOWS).join(", ")}`,
});
/**
 * A workflow or job name: a config's, at most 200 characters, and at most 700 once URI-encoded
 * (run records' keys hold it encoded; a job's partition holds two names and its slug).
 */
const Name = Ids.name.refine(
  (n) => encodeURIComponent(n).length <= 700,
  "at most 700 characters URI-encoded",
);
const Names = z.array(Name).max(100, "at most 100 values");
const Branches = z.array(RefName).max(100, "at most 100 values");

const branchScope = {
  branch: RefName.optional(),
  "all-branches": BooleanParam.optional(),
};
const range = { "start-date": DateTime.optional(), "end-date": DateTime.optional() };
const Granularity = z.enum(["daily", "hourly"], { error: "expected daily or hourly" });

export const InsightsQuery = {
  /** getProjectWorkflowMetrics, getProjectWorkflowJobMetrics. */
  metrics: z.object({
    ...branchScope,
    "reporting-window": WindowName.optional(),
    "page-token": PageToken.optional(),
  }),
  /** getProjectWorkflowRuns, getProjectJobRuns. */
  runs: z.object({ ...branchScope, ...range, "page-token": PageToken.optional() }),
  /** getWorkflowTimeseries, getJobTimeseries. */
  timeseries: z.object({
    ...branchScope,
    ...range,
    "timeseries-granularity": Granularity.optional(),
    "workflow-name": Name.optional(),
  }),
  /** getWorkflowSummary (its window is not in the document; `reporting-window` is read too). */
  workflowSummary: z.object({
    "all-branches": BooleanParam.optional(),
    branches: Branches.optional(),
    "reporting-window": WindowName.optional(),
  }),
  /** getProjectWorkflowsPageData. */
  projectSummary: z.object({
    "reporting-window": WindowName.optional(),
    branches: Branches.optional(),
    "workflow-names": Names.optional(),
  }),
  /** getOrgSummaryData. */
  orgSummary: z.object({
    "reporting-window": WindowName.optional(),
    "project-names": z.array(z.string().min(1).max(100)).max(100, "at most 100 values").optional(),
  }),
  /** getAllInsightsBranches. */
  branches: z.object({ "workflow-name": Name.optional() }),
  /** getProjectWorkflowTestMetrics. */
  testMetrics: z.object(branchScope),
} as const;

/** A workflow or job name from the path (see `Name`), or 400. */
export const parseName = (value: string | undefined, what: string) => parseInput(Name, value, what);

/** The branch a query is about: undefined for all branches, the default branch when none is named. */
export function branchOf(
  query: { branch?: string; "all-branches"?: boolean },
  defaultBranch: string,
): string | undefined {
  if (query["all-branches"] && query.branch !== undefined)
    throw badRequest("Use either branch or all-branches, not both.");
  if (query["all-branches"]) return undefined;
  return query.branch ?? defaultBranch;
}

/** The window a `reporting-window` names, ending `now`. */
export function reportingWindow(name: ReportingWindow | undefined, now: number): Window {
  return { start: now - REPORTING_WINDOWS[name ?? "last-90-days"] * DAY_MS, end: now };
}

/** The range `start-date` / `end-date` name (see the top of this file). */
export function dateRange(
  query: { "start-date"?: number; "end-date"?: number },
  now: number,
  granularity?: "daily" | "hourly",
): Window {
  const start = query["start-date"];
  const given = query["end-date"];
  if (given !== undefined && start === undefined) throw badRequest("start-date must be given with end-date.");
  const max = MAX_RANGE_DAYS * DAY_MS;
  if (start !== undefined && given !== undefined) {
    if (given <= start) throw badRequest("end-date must be after start-date.");
    if (given - start > max)
      throw badRequest(`end-date may be at most ${MAX_RANGE_DAYS} days after start-date.`);
  }
  const end = given ?? (start !== undefined ? Math.min(now, start + max) : now);
  if (start !== undefined && start >= end) throw badRequest("start-date must be before now.");
  const span = granularity === "hourly" ? HOURLY_RANGE_MS : max;
  const from = start ?? end - span;
  return { start: granularity === "hourly" ? Math.max(from, end - HOURLY_RANGE_MS) : from, end };
}
