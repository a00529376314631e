/**
 * The insights API's shapes as the page reads them (insights.ts, presentation/v2.ts), the
 * query parameters of each operation for the chosen window and branch, and the time series
 * turned into chart columns (every interval of the window, empty ones included).
 */
import { query, slugPath } from "../../api.ts";

export const WINDOWS = [
  { id: "last-24-hours", label: "Last 24 hours", days: 1 },
  { id: "last-7-days", label: "Last 7 days", days: 7 },
  { id: "last-30-days", label: "Last 30 days", days: 30 },
  { id: "last-60-days", label: "Last 60 days", days: 60 },
  { id: "last-90-days", label: "Last 90 days", days: 90 },
] as const;
export type WindowId = (typeof WINDOWS)[number]["id"];
export const DEFAULT_WINDOW: WindowId = "last-30-days";

export const windowOf = (id: string | null | undefined) => WINDOWS.find((w) => w.id === id) ?? WINDOWS[2];

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface DurationMetrics {
  min: number | null;
  mean?: number | null;
  median: number | null;
  p95: number | null;
  max: number | null;
  standard_deviation?: number | null;
  total?: number | null;
}

/**
 * Gyre's addition beside `duration_metrics`: how long the runs waited for a builder, in
 * seconds (a workflow run: while at least one of its jobs waited); null when no run has one.
 */
export interface QueueMetrics {
  median: number | null;
  p95: number | null;
}

export interface ProjectSummary {
  project_data: {
    metrics: {
      total_runs: number;
      total_duration_secs: number;
      success_rate: number;
      throughput: number;
    };
    trends: { total_runs: number; success_rate: number; throughput: number; total_duration_secs: number };
  };
  project_workflow_data: {
    workflow_name: string;
    metrics: { p95_duration_secs: number; total_runs: number; success_rate: number };
  }[];
  all_branches: string[];
  all_workflows: string[];
}

export interface WorkflowSummary {
  metrics: {
    total_runs: number;
    successful_runs: number;
    failed_runs: number;
    success_rate: number;
    throughput: number;
    mttr: number | null;
    duration_metrics: DurationMetrics;
    queue_metrics?: QueueMetrics;
  };
  trends: {
    total_runs: number;
    success_rate: number;
    throughput: number;
    median_duration_secs: number;
    mttr: number;
  };
  workflow_names: string[];
}

export interface NamedMetrics {
  name: string;
  metrics: {
    total_runs: number;
    successful_runs: number;
    failed_runs: number;
    success_rate: number;
    throughput: number;
    mttr?: number | null;
    duration_metrics: DurationMetrics;
    queue_metrics?: QueueMetrics;
  };
}

export interface WorkflowRun {
  id: string;
  branch: string;
  duration: number | null;
  created_at: string;
  stopped_at: string;
  status: string;
}

export interface Interval {
  name: string;
  timestamp: string;
  metrics: {
    total_runs: number;
    failed_runs: number;
    successful_runs: number;
    throughput: number;
    duration_metrics: DurationMetrics;
    queue_metrics?: QueueMetrics;
  };
}

export interface FlakyTest {
  test_name: string;
  classname: string;
  job_name: string;
  job_number: number;
  workflow_name: string;
  workflow_id: string;
  pipeline_number: number;
  times_flaked: number;
  time_wasted: number;
  file?: string;
}

export interface TestMetric {
  test_name: string;
  classname: string;
  job_name: string;
  total_runs: number;
  failed_runs: number;
  p95_duration: number;
  flaky: boolean;
}

export interface TestMetrics {
  average_test_count: number;
  total_test_runs: number;
  most_failed_tests: TestMetric[];
  slowest_tests: TestMetric[];
}

/** What the page shows: the project, one workflow or all, one branch or all, a window. */
export interface Scope {
  slug: string;
  workflow?: string;
  branch?: string;
  window: WindowId;
  /** The window's start (ms), fixed when the window was chosen. */
  start: number;
}

const base = (slug: string) => `/api/v2/insights/${slugPath(slug)}`;
const wf = (s: Scope) => `${base(s.slug)}/workflows/${encodeURIComponent(s.workflow!)}`;
/** `branch=` or every branch, as most operations take it. */
const branchScope = (s: Scope) => (s.branch ? { branch: s.branch } : { "all-branches": true });
const startDate = (s: Scope) => new Date(s.start).toISOString();
export const granularityOf = (s: Scope) => (s.window === "last-24-hours" ? "hourly" : "daily");

export const paths = {
  projectSummary: (s: Scope) =>
    `/api/v2/insights/pages/${slugPath(s.slug)}/summary${query({ "reporting-window": s.window, branches: s.branch })}`,
  workflowSummary: (s: Scope) =>
    `${wf(s)}/summary${query({
      "reporting-window": s.window,
      ...(s.branch ? { branches: s.branch } : { "all-branches": true }),
    })}`,
  workflows: (s: Scope) =>
    `${base(s.slug)}/workflows${query({ "reporting-window": s.window, ...branchScope(s) })}`,
  timeseries: (s: Scope) =>
    `/api/v2/insights/time-series/${slugPath(s.slug)}/workflows${query({
      "timeseries-granularity": granularityOf(s),
      "start-date": startDate(s),
      "workflow-name": s.workflow,
      ...branchScope(s),
    })}`,
  jobTimeseries: (s: Scope) =>
    `/api/v2/insights/time-series/${slugPath(s.slug)}/workflows/${encodeURIComponent(s.workflow!)}/jobs${query(
      {
        "timeseries-granularity": granularityOf(s),
        "start-date": startDate(s),
        ...branchScope(s),
      },
    )}`,
  runs: (s: Scope, pageToken?: string) =>
    `${wf(s)}${query({ "start-date": startDate(s), "page-token": pageToken, ...branchScope(s) })}`,
  jobs: (s: Scope) => `${wf(s)}/jobs${query({ "reporting-window": s.window, ...branchScope(s) })}`,
  testMetrics: (s: Scope) => `${wf(s)}/test-metrics${query(branchScope(s))}`,
  flakyTests: (s: Scope) => `${base(s.slug)}/flaky-tests`,
};

/** The interval starts of the window (UTC days or hours, as the API groups runs). */
export function intervalsOf(s: Scope, now: number): number[] {
  const size = granularityOf(s) === "hourly" ? HOUR_MS : DAY_MS;
  const out: number[] = [];
  for (let t = Math.floor(s.start / size) * size; t <= now; t += size) out.push(t);
  return out;
}

export interface Columns {
  /** Interval starts, in seconds (uPlot's time unit). */
  x: number[];
  runs: number[];
  successful: number[];
  failed: number[];
  /** Success rate in percent; null where nothing ran (a gap). */
  rate: (number | null)[];
  /** Median duration in seconds per name (workflow or job); null where it did not run. */
  medians: Map<string, (number | null)[]>;
  /** Median queue time in seconds per name; null where it did not run or no run has one. */
  queues: Map<string, (number | null)[]>;
}

/** The time series as columns, one row per interval of the window. */
export function columnsOf(items: Interval[], intervals: number[]): Columns {
  const index = new Map(intervals.map((t, i) => [t, i]));
  const n = intervals.length;
  const runs = new Array<number>(n).fill(0);
  const successful = new Array<number>(n).fill(0);
  const failed = new Array<number>(n).fill(0);
  const medians = new Map<string, (number | null)[]>();
  const queues = new Map<string, (number | null)[]>();
  const column = (map: Map<string, (number | null)[]>, name: string) => {
    if (!map.has(name)) map.set(name, new Array<number | null>(n).fill(null));
    return map.get(name)!;
  };
  for (const item of items) {
    const i = index.get(Date.parse(item.timestamp));
    if (i === undefined) continue;
    runs[i]! += item.metrics.total_runs;
    successful[i]! += item.metrics.successful_runs;
    failed[i]! += item.metrics.failed_runs;
    column(medians, item.name)[i] = item.metrics.duration_metrics.median;
    column(queues, item.name)[i] = item.metrics.queue_metrics?.median ?? null;
  }
  // As the API counts it: canceled runs are neither successes nor failures.
  const rate = runs.map((_, i) => {
    const counted = successful[i]! + failed[i]!;
    return counted === 0 ? null : Math.round((successful[i]! / counted) * 1000) / 10;
  });
  return { x: intervals.map((t) => t / 1000), runs, successful, failed, rate, medians, queues };
}

export const percent = (rate: number | null | undefined) =>
  rate === null || rate === undefined ? "–" : `${Math.round(rate * 100)}%`;

/** Seconds as the page shows a duration. */
export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value < 60) return `${Math.round(value)}s`;
  const m = Math.floor(value / 60);
  if (m < 60) return `${m}m ${String(Math.round(value % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export const perDay = (value: number | null | undefined) =>
  value === null || value === undefined ? "–" : `${value >= 10 ? Math.round(value) : value.toFixed(2)}/day`;

/** A trend (current ÷ previous window) as a change: "+50%", "−20%", "new" when nothing came before. */
export function trend(value: number | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value === -1) return "new";
  const change = Math.round((value - 1) * 100);
  if (change === 0) return "no change";
  return `${change > 0 ? "+" : "−"}${Math.abs(change)}%`;
}

export const intervalLabel = (t: number, hourly: boolean) =>
  new Date(t).toLocaleString(
    undefined,
    hourly
      ? { hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" }
      : { day: "numeric", month: "short", year: "numeric" },
  );
