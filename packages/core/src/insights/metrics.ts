/**
 * The numbers of CircleCI Insights, as its metrics glossary (circleci-docs `insights-glossary`)
 * and the API v2 document define them, computed from run records. Pure: no I/O, no clock.
 *
 * - Runs: the runs that started in the window, of any status.
 * - Success rate: `successful / (runs - canceled)`, a fraction from 0 to 1 (0 when nothing but
 *   canceled runs, or nothing, ran).
 * - Failed runs: runs that neither succeeded nor were canceled (failed, error, unauthorized).
 * - Throughput: runs per day, `runs / days in the window` (a 24-hour window is 1 day, an hour
 *   1/24 of one).
 * - Durations, in whole seconds (each run's rounded): min, max, total, mean (rounded), median
 *   (the middle one, or the mean of the two middle ones, rounded), p95 (nearest rank: the
 *   smallest duration at least 95% of runs do not exceed), standard deviation (population, not
 *   rounded). All null when no run has a duration.
 * - Queue times (Gyre's addition, `queue_metrics`): how long runs waited for a builder, in whole
 *   seconds, median and p95 as for durations. A job run's is from being queued to starting (its
 *   last attempt's); a workflow run's is the time during the run that at least one of its jobs
 *   was waiting (model.ts). A run without one (it never started, or was recorded before Gyre
 *   recorded queue times) is no sample, not 0; both are null when no run has one.
 * - Time to recovery: from the end of the first failed run of a streak to the end of the next
 *   successful run on the same branch (canceled runs neither start nor end a streak). MTTR is
 *   their mean in whole seconds, null without a recovery; `total_recoveries` counts them.
 * - Credits: Gyre runs on its own builders and spends no CircleCI credits: always 0.
 * - Trends, as the API gives them: `current / previous`, over the window of the same length
 *   just before; 1 when both are 0, -1 (CircleCI's "infinite trend") when only the previous is
 *   0. An empty MTTR counts as 0. For p95 the previous value is the worst daily p95 of the
 *   previous window (hourly for a 24-hour window), for the median the median of its daily
 *   medians: the glossary's "approximate trends".
 */

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** What a run's status means for the metrics. */
export type Outcome = "success" | "failure" | "canceled";

/** The facts of one run the metrics read. */
export interface RunFacts {
  /** When it started (ms): what places it in a window or a time-series interval. */
  at: number;
  /** When it ended (ms). */
  stoppedAt: number;
  /** Whole seconds, or null when it never started. */
  durationSecs: number | null;
  /** Whole seconds it waited for a builder; null or absent when not known (no sample). */
  queueSecs?: number | null;
  outcome: Outcome;
  branch?: string;
}

export interface Window {
  /** Inclusive, ms. */
  start: number;
  /** Exclusive, ms. */
  end: number;
}

export interface DurationStats {
  min: number | null;
  max: number | null;
  mean: number | null;
  median: number | null;
  p95: number | null;
  total: number | null;
  standardDeviation: number | null;
}

/** Queue times: median and p95 as for durations, null when no run has one. */
export interface QueueStats {
  median: number | null;
  p95: number | null;
}

export interface RunMetrics {
  totalRuns: number;
  successfulRuns: number;
  failedRuns: number;
  canceledRuns: number;
  successRate: number;
  throughput: number;
  mttr: number | null;
  totalRecoveries: number;
  totalCreditsUsed: 0;
  /** The sum of the runs' durations (0 when none has one). */
  totalDurationSecs: number;
  duration: DurationStats;
  /** Gyre's addition: how long the runs waited for a builder. */
  queue: QueueStats;
}

export interface Trends {
  totalRuns: number;
  failedRuns: number;
  successRate: number;
  throughput: number;
  mttr: number;
  p95Duration: number;
  medianDuration: number;
  totalDurationSecs: number;
  totalCreditsUsed: number;
}

/** Whole seconds between two ISO times (or ms), rounded; never negative. */
export function secondsBetween(from: number, to: number): number {
  return Math.max(0, Math.round((to - from) / 1000));
}

/** The days a window spans, as throughput divides by them. */
export const daysOf = (w: Window) => (w.end - w.start) / DAY_MS;

/** The window of the same length just before `w`. */
export const previousWindow = (w: Window): Window => ({ start: w.start - (w.end - w.start), end: w.start });

export const inWindow = (w: Window) => (run: Pick<RunFacts, "at">) => run.at >= w.start && run.at < w.end;

/** The value at or below which at least `q` of the sorted values are (nearest rank). */
function nearestRank(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

function medianOf(sorted: readonly number[]): number {
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

export function durationStats(values: readonly number[]): DurationStats {
  if (values.length === 0)
    return {
      min: null,
      max: null,
      mean: null,
      median: null,
      p95: null,
      total: null,
      standardDeviation: null,
    };
  const sorted = [...values].sort((a, b) => a - b);
  const total = sorted.reduce((s, v) => s + v, 0);
  const mean = total / sorted.length;
  const variance = sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / sorted.length;
  return {
    min: sorted[0]!,
    max: sorted.at(-1)!,
    mean: Math.round(mean),
    median: medianOf(sorted),
    p95: nearestRank(sorted, 0.95),
    total,
    standardDeviation: Math.sqrt(variance),
  };
}

/** Each recovery's time, in ms: streaks of failures to the next success, branch by branch. */
export function recoveries(runs: readonly RunFacts[]): number[] {
  const byBranch = new Map<string, RunFacts[]>();
  for (const run of runs) {
    const key = run.branch ?? "";
    byBranch.set(key, [...(byBranch.get(key) ?? []), run]);
  }
  const times: number[] = [];
  for (const list of byBranch.values()) {
    let failedSince: number | undefined;
    for (const run of [...list].sort((a, b) => a.at - b.at || a.stoppedAt - b.stoppedAt)) {
      if (run.outcome === "failure") failedSince ??= run.stoppedAt;
      else if (run.outcome === "success" && failedSince !== undefined) {
        times.push(Math.max(0, run.stoppedAt - failedSince));
        failedSince = undefined;
      }
    }
  }
  return times;
}

/** The queue times of the runs that have one (a run without one is no sample). */
export function queueStats(runs: readonly Pick<RunFacts, "queueSecs">[]): QueueStats {
  const { median, p95 } = durationStats(
    runs.map((r) => r.queueSecs).filter((q): q is number => q !== null && q !== undefined),
  );
  return { median, p95 };
}

export function summarize(runs: readonly RunFacts[], window: Window): RunMetrics {
  const successfulRuns = runs.filter((r) => r.outcome === "success").length;
  const canceledRuns = runs.filter((r) => r.outcome === "canceled").length;
  const failedRuns = runs.length - successfulRuns - canceledRuns;
  const counted = runs.length - canceledRuns;
  const recovered = recoveries(runs);
  const durations = runs.map((r) => r.durationSecs).filter((d): d is number => d !== null);
  const duration = durationStats(durations);
  return {
    totalRuns: runs.length,
    successfulRuns,
    failedRuns,
    canceledRuns,
    successRate: counted === 0 ? 0 : successfulRuns / counted,
    throughput: runs.length / daysOf(window),
    mttr:
      recovered.length === 0
        ? null
        : Math.round(recovered.reduce((s, t) => s + t, 0) / recovered.length / 1000),
    totalRecoveries: recovered.length,
    totalCreditsUsed: 0,
    totalDurationSecs: duration.total ?? 0,
    duration,
    queue: queueStats(runs),
  };
}

/** `current / previous` as the API reports a trend. */
export function ratio(current: number, previous: number): number {
  if (previous === 0) return current === 0 ? 1 : -1;
  return current / previous;
}

/** The start of the interval `at` falls in (UTC days or hours). */
export function intervalStart(at: number, granularity: "daily" | "hourly"): number {
  const size = granularity === "daily" ? DAY_MS : HOUR_MS;
  return Math.floor(at / size) * size;
}

/** Runs grouped by interval, in time order. */
export function byInterval<T extends Pick<RunFacts, "at">>(
  runs: readonly T[],
  granularity: "daily" | "hourly",
): [number, T[]][] {
  const groups = new Map<number, T[]>();
  for (const run of runs) {
    const start = intervalStart(run.at, granularity);
    groups.set(start, [...(groups.get(start) ?? []), run]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]);
}

/** The trends of `current` (the metrics of `window`) against the runs of the window before. */
export function trendsOf(current: RunMetrics, previousRuns: readonly RunFacts[], window: Window): Trends {
  const before = previousWindow(window);
  const previous = summarize(previousRuns, before);
  // Approximate trends: the previous window's worst interval p95 and median of interval medians.
  const granularity = window.end - window.start <= DAY_MS ? "hourly" : "daily";
  const intervals = byInterval(previousRuns, granularity)
    .map(([, runs]) => durationStats(runs.map((r) => r.durationSecs).filter((d): d is number => d !== null)))
    .filter((s) => s.p95 !== null);
  const worstP95 = Math.max(0, ...intervals.map((s) => s.p95!));
  const medians = intervals.map((s) => s.median!).sort((a, b) => a - b);
  const medianOfMedians = medians.length === 0 ? 0 : medianOf(medians);
  return {
    totalRuns: ratio(current.totalRuns, previous.totalRuns),
    failedRuns: ratio(current.failedRuns, previous.failedRuns),
    successRate: ratio(current.successRate, previous.successRate),
    throughput: ratio(current.throughput, previous.throughput),
    mttr: ratio(current.mttr ?? 0, previous.mttr ?? 0),
    p95Duration: ratio(current.duration.p95 ?? 0, worstP95),
    medianDuration: ratio(current.duration.median ?? 0, medianOfMedians),
    totalDurationSecs: ratio(current.totalDurationSecs, previous.totalDurationSecs),
    totalCreditsUsed: ratio(current.totalCreditsUsed, previous.totalCreditsUsed),
  };
}
