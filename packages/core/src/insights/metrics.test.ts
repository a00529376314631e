import { describe, expect, it } from "vitest";
import {
  byInterval,
  DAY_MS,
  durationStats,
  HOUR_MS,
  queueStats,
  type RunFacts,
  ratio,
  recoveries,
  summarize,
  trendsOf,
} from "./metrics.ts";
import { dateRange, REPORTING_WINDOWS, reportingWindow } from "./query.ts";
import { flakesBetween, testRunOf } from "./tests.ts";

const T0 = Date.parse("2024-03-10T00:00:00Z");
const run = (
  minute: number,
  outcome: RunFacts["outcome"],
  durationSecs: number | null = 60,
  branch = "main",
): RunFacts => ({
  at: T0 + minute * 60_000,
  stoppedAt: T0 + minute * 60_000 + (durationSecs ?? 0) * 1000,
  durationSecs,
  outcome,
  branch,
});
const week = { start: T0, end: T0 + 7 * DAY_MS };

describe("durations", () => {
  it("are min, max, total, rounded mean, median, nearest-rank p95 and the population deviation", () => {
    expect(durationStats([10, 20, 30, 40])).toEqual({
      min: 10,
      max: 40,
      total: 100,
      mean: 25,
      median: 25,
      p95: 40,
      standardDeviation: Math.sqrt(125),
    });
    expect(durationStats([3, 1, 2])).toMatchObject({ median: 2, p95: 3, mean: 2 });
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(durationStats(twenty).p95).toBe(19);
    expect(durationStats([7]).standardDeviation).toBe(0);
    expect(durationStats([])).toEqual({
      min: null,
      max: null,
      total: null,
      mean: null,
      median: null,
      p95: null,
      standardDeviation: null,
    });
  });
});

describe("queue times", () => {
  const queued = (...secs: (number | null | undefined)[]) =>
    secs.map((queueSecs, i) => ({ ...run(i, "success"), ...(queueSecs !== undefined ? { queueSecs } : {}) }));

  it("are the median and nearest-rank p95 of the runs that have one", () => {
    expect(queueStats(queued(30, 10, 20))).toEqual({ median: 20, p95: 30 });
    // An even count: the mean of the two middle ones, rounded (7 and 12: 9.5 → 10).
    expect(queueStats(queued(12, 3, 7, 40))).toEqual({ median: 10, p95: 40 });
    const twenty = queued(...Array.from({ length: 20 }, (_, i) => i + 1));
    expect(queueStats(twenty)).toEqual({ median: 11, p95: 19 });
  });

  it("leave out the runs without one (null or absent): no sample, not 0", () => {
    expect(queueStats(queued(null, 8, undefined, 2, null, 5))).toEqual({ median: 5, p95: 8 });
    expect(queueStats(queued(0, null))).toEqual({ median: 0, p95: 0 });
    expect(queueStats(queued(null, undefined))).toEqual({ median: null, p95: null });
    expect(summarize(queued(null, 6, 4), week)).toMatchObject({
      totalRuns: 3,
      duration: { median: 60 },
      queue: { median: 5, p95: 6 },
    });
    expect(summarize([], week).queue).toEqual({ median: null, p95: null });
  });
});

describe("a window's metrics", () => {
  it("count canceled runs in the runs but not in the success rate, and give runs per day", () => {
    const m = summarize([run(0, "success"), run(1, "failure"), run(2, "canceled"), run(3, "success")], week);
    expect(m).toMatchObject({
      totalRuns: 4,
      successfulRuns: 2,
      failedRuns: 1,
      canceledRuns: 1,
      successRate: 2 / 3,
      throughput: 4 / 7,
      totalCreditsUsed: 0,
      totalDurationSecs: 240,
    });
    expect(summarize([run(0, "canceled")], week).successRate).toBe(0);
    expect(summarize([], week)).toMatchObject({ totalRuns: 0, successRate: 0, throughput: 0, mttr: null });
  });

  it("time a recovery from the first failure of a streak to the next success, branch by branch", () => {
    const runs = [
      run(0, "failure", 60), // ends at minute 1
      run(5, "failure", 60),
      run(8, "canceled"),
      run(10, "success", 120), // ends at minute 12: 11 minutes after the first failure ended
      run(11, "failure", 60, "feature"), // ends at minute 12
      run(20, "success", 60, "feature"), // ends at minute 21: 9 minutes
      run(30, "failure", 60), // not recovered
    ];
    expect(recoveries(runs).sort((a, b) => a - b)).toEqual([9 * 60_000, 11 * 60_000]);
    expect(summarize(runs, week)).toMatchObject({ mttr: 600, totalRecoveries: 2 });
  });
});

describe("trends", () => {
  it("are current / previous; 1 when both are 0, -1 when only the previous is", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(0, 0)).toBe(1);
    expect(ratio(2, 0)).toBe(-1);
    const current = summarize([run(0, "success", 100), run(1, "success", 50)], week);
    const before = [
      run(-7 * 24 * 60, "success", 40),
      run(-6 * 24 * 60, "failure", 80),
      run(-6 * 24 * 60 + 1, "success", 60),
    ];
    const t = trendsOf(current, before, week);
    expect(t.totalRuns).toBe(2 / 3);
    expect(t.successRate).toBe(1 / (2 / 3));
    expect(t.failedRuns).toBe(0);
    // p95 against the worst daily p95 of the week before (80), the median against the median of
    // its daily medians (40 and 70: 55).
    expect(t.p95Duration).toBe(100 / 80);
    expect(t.medianDuration).toBe(75 / 55);
    expect(t.mttr).toBe(0); // no recovery now (0), one of 40 s before
    expect(t.totalCreditsUsed).toBe(1);
  });

  it("of a 24-hour window compare with the hours of the day before", () => {
    const day = { start: T0, end: T0 + DAY_MS };
    const current = summarize([run(0, "success", 30)], day);
    const before = [run(-120, "success", 10), run(-119, "success", 20), run(-60, "success", 15)];
    expect(trendsOf(current, before, day).p95Duration).toBe(30 / 20);
  });
});

describe("intervals", () => {
  it("group runs by UTC day or hour", () => {
    const groups = byInterval([run(0, "success"), run(90, "success"), run(24 * 60 + 5, "success")], "hourly");
    expect(groups.map(([start, runs]) => [start - T0, runs.length])).toEqual([
      [0, 1],
      [HOUR_MS, 1],
      [DAY_MS, 1],
    ]);
    expect(
      byInterval([run(0, "success"), run(90, "success")], "daily").map(([s, r]) => [s, r.length]),
    ).toEqual([[T0, 2]]);
  });
});

describe("query windows", () => {
  const now = T0 + 100 * DAY_MS;
  it("end now; 90 days unless named", () => {
    expect(reportingWindow(undefined, now)).toEqual({ start: now - 90 * DAY_MS, end: now });
    for (const [name, days] of Object.entries(REPORTING_WINDOWS))
      expect(reportingWindow(name as keyof typeof REPORTING_WINDOWS, now).start).toBe(now - days * DAY_MS);
  });

  it("need a start with an end, at most 90 days apart; hourly series keep their last 48 hours", () => {
    expect(dateRange({}, now)).toEqual({ start: now - 90 * DAY_MS, end: now });
    expect(dateRange({}, now, "hourly")).toEqual({ start: now - 48 * HOUR_MS, end: now });
    expect(dateRange({ "start-date": T0 }, now)).toEqual({ start: T0, end: T0 + 90 * DAY_MS });
    expect(dateRange({ "start-date": T0, "end-date": T0 + DAY_MS }, now)).toEqual({
      start: T0,
      end: T0 + DAY_MS,
    });
    expect(dateRange({ "start-date": T0, "end-date": T0 + 5 * DAY_MS }, now, "hourly")).toEqual({
      start: T0 + 3 * DAY_MS,
      end: T0 + 5 * DAY_MS,
    });
    expect(() => dateRange({ "end-date": T0 }, now)).toThrow(/start-date/);
    expect(() => dateRange({ "start-date": T0, "end-date": T0 }, now)).toThrow(/after/);
    expect(() => dateRange({ "start-date": T0, "end-date": T0 + 91 * DAY_MS }, now)).toThrow(/90 days/);
    expect(() => dateRange({ "start-date": now + DAY_MS }, now)).toThrow(/before now/);
  });
});

describe("flaky tests", () => {
  const job = (id: string, startedAt: string) => ({
    id,
    name: "test",
    number: 1,
    projectSlug: "gh/a/b",
    workflowId: `w-${id}`,
    workflowName: "ci",
    workflowCreatedAt: startedAt,
    pipelineNumber: 1,
    revision: "abc",
    status: "failed" as const,
    startedAt,
    stoppedAt: startedAt,
    durationMs: 5000,
    creditsUsed: 0 as const,
  });
  const test = (name: string, result: "success" | "failure" | "skipped") => ({
    name,
    classname: "c",
    file: "f.js",
    result,
    run_time: 1,
    message: null,
    source: "unit",
  });

  it("are the failures of one run that another run of the job on the commit passed", () => {
    const first = testRunOf(job("1", "2024-01-01T00:00:00.000Z"), [
      test("flappy", "failure"),
      test("broken", "failure"),
      test("fine", "success"),
    ]);
    const second = testRunOf(job("2", "2024-01-01T01:00:00.000Z"), [
      test("flappy", "success"),
      test("broken", "failure"),
      test("fine", "success"),
      test("new", "skipped"),
    ]);
    const flakes = flakesBetween(second, first);
    expect(flakes.map((f) => [f.name, f.jobId])).toEqual([["flappy", "1"]]);
    expect(flakesBetween(first, second)).toEqual(flakes);
  });

  it("count a test that passed and failed in one run (two allocations) as failed there", () => {
    const one = testRunOf(job("1", "2024-01-01T00:00:00.000Z"), [test("x", "success"), test("x", "failure")]);
    expect(one.passed).toEqual([]);
    expect(one.failed.map((f) => f.name)).toEqual(["x"]);
  });
});
