/**
 * The insights operations of CircleCI API v2, computed from run records (read.ts) with the
 * glossary's metrics (metrics.ts). Each answers a domain result that presentation/v2.ts shapes;
 * 404 for a workflow or job name the project never recorded a run of.
 */
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { listTestResults } from "../storage/test-results.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import {
  byInterval,
  DAY_MS,
  HOUR_MS,
  inWindow,
  previousWindow,
  type RunFacts,
  type RunMetrics,
  summarize,
  type Trends,
  trendsOf,
  type Window,
} from "./metrics.ts";
import {
  type FlakyTestRun,
  type JobRun,
  jobFacts,
  type TestCounts,
  type WorkflowRun,
  workflowFacts,
} from "./model.ts";
import {
  flakyTestRunsIn,
  hasJobRuns,
  hasWorkflowRuns,
  jobRunPage,
  jobRunsIn,
  type RunPage,
  workflowRunPage,
  workflowRunsIn,
} from "./read.ts";
import { testDigest } from "./tests.ts";

/** What the operations need of a project. */
export interface InsightsProject {
  id: string;
  slug: string;
  name: string;
  organizationId: string;
  defaultBranch: string;
}

/** Items an aggregate list gives per page. */
const PAGE = 20;
/** The runs test metrics read ("the 10 most recent workflow runs", as CircleCI says). */
export const TEST_METRIC_RUNS = 10;
/** The tests each of test metrics' lists shows. */
export const TEST_METRIC_TESTS = 10;
/** How far back the branch list and the flaky tests look. */
const LOOKBACK_DAYS = 90;

const lookback = (gyre: Gyre): Window => ({ start: gyre.now() - LOOKBACK_DAYS * DAY_MS, end: gyre.now() });

async function requireWorkflow(gyre: Gyre, slug: string, name: string) {
  if (!(await hasWorkflowRuns(gyre, slug, name)))
    throw notFound(`Workflow ${name} not found in project ${slug}: it has no recorded runs.`);
}

async function requireJob(gyre: Gyre, slug: string, workflowName: string, jobName: string) {
  await requireWorkflow(gyre, slug, workflowName);
  if (!(await hasJobRuns(gyre, slug, workflowName, jobName)))
    throw notFound(`Job ${jobName} not found in workflow ${workflowName} of project ${slug}.`);
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

const sortedKeys = <T>(groups: Map<string, T>) => [...groups.keys()].sort();

/** A page of a list computed whole, by name; the token names the last name given. */
function pageByName<T extends { name: string }>(
  items: T[],
  list: string,
  pageToken: string | undefined,
): { items: T[]; nextPageToken: string | null } {
  const after = pageToken ? decodePageToken(list, pageToken, { attributes: ["name"] }).name! : undefined;
  const rest = after === undefined ? items : items.filter((i) => i.name > after);
  const page = rest.slice(0, PAGE);
  return {
    items: page,
    nextPageToken: rest.length > PAGE ? encodePageToken(list, { name: page.at(-1)!.name }) : null,
  };
}

const onBranch = (branch: string | undefined) => (run: { branch?: string }) =>
  branch === undefined || run.branch === branch;
const onBranches = (branches: readonly string[] | undefined) => (run: { branch?: string }) =>
  branches === undefined || (run.branch !== undefined && branches.includes(run.branch));

// ---------------------------------------------------------------------------------------------
// Metrics of a window

export interface NamedMetrics {
  name: string;
  window: Window;
  metrics: RunMetrics;
}

/** getProjectWorkflowMetrics: each workflow's metrics over the window, by name. */
export async function projectWorkflowMetrics(
  gyre: Gyre,
  project: InsightsProject,
  options: { branch?: string; window: Window; pageToken?: string },
): Promise<RunPage<NamedMetrics>> {
  const runs = (await workflowRunsIn(gyre, project.slug, options.window)).filter(onBranch(options.branch));
  const groups = groupBy(runs, (r) => r.name);
  const items = sortedKeys(groups).map((name) => ({
    name,
    window: options.window,
    metrics: summarize(groups.get(name)!.map(workflowFacts), options.window),
  }));
  const list = `${project.slug}\u0000workflows\u0000${options.branch ?? "\u0000"}`;
  return pageByName(items, list, options.pageToken);
}

/** getProjectWorkflowJobMetrics: each job's metrics over the window, by name. */
export async function workflowJobMetrics(
  gyre: Gyre,
  project: InsightsProject,
  workflowName: string,
  options: { branch?: string; window: Window; pageToken?: string },
): Promise<RunPage<NamedMetrics>> {
  await requireWorkflow(gyre, project.slug, workflowName);
  const runs = (await jobRunsIn(gyre, project.slug, workflowName, options.window)).filter(
    onBranch(options.branch),
  );
  const groups = groupBy(runs, (r) => r.name);
  const items = sortedKeys(groups).map((name) => ({
    name,
    window: options.window,
    metrics: summarize(groups.get(name)!.map(jobFacts), options.window),
  }));
  const list = `${project.slug}\u0000jobs\u0000${workflowName}\u0000${options.branch ?? "\u0000"}`;
  return pageByName(items, list, options.pageToken);
}

// ---------------------------------------------------------------------------------------------
// Recent runs

/** getProjectWorkflowRuns. */
export async function workflowRuns(
  gyre: Gyre,
  project: InsightsProject,
  name: string,
  options: { branch?: string; window: Window; pageToken?: string },
): Promise<RunPage<WorkflowRun>> {
  await requireWorkflow(gyre, project.slug, name);
  return workflowRunPage(gyre, project.slug, name, options);
}

/** getProjectJobRuns. */
export async function jobRuns(
  gyre: Gyre,
  project: InsightsProject,
  workflowName: string,
  jobName: string,
  options: { branch?: string; window: Window; pageToken?: string },
): Promise<RunPage<JobRun>> {
  await requireJob(gyre, project.slug, workflowName, jobName);
  return jobRunPage(gyre, project.slug, workflowName, jobName, options);
}

// ---------------------------------------------------------------------------------------------
// Time series

export interface IntervalMetrics {
  name: string;
  /** The interval's start (ms). */
  timestamp: number;
  minStartedAt: number;
  maxEndedAt: number;
  metrics: RunMetrics;
}

function timeseries(
  runs: readonly { name: string; facts: RunFacts }[],
  granularity: "daily" | "hourly",
): IntervalMetrics[] {
  const size = granularity === "daily" ? DAY_MS : HOUR_MS;
  const groups = groupBy(runs, (r) => r.name);
  return sortedKeys(groups).flatMap((name) =>
    byInterval(
      groups.get(name)!.map((r) => r.facts),
      granularity,
    ).map(([timestamp, facts]) => ({
      name,
      timestamp,
      minStartedAt: Math.min(...facts.map((f) => f.at)),
      maxEndedAt: Math.max(...facts.map((f) => f.stoppedAt)),
      metrics: summarize(facts, { start: timestamp, end: timestamp + size }),
    })),
  );
}

/** getWorkflowTimeseries: every workflow's (or one's) runs per day or hour. */
export async function workflowTimeseries(
  gyre: Gyre,
  project: InsightsProject,
  options: { branch?: string; window: Window; granularity: "daily" | "hourly"; workflowName?: string },
): Promise<IntervalMetrics[]> {
  const runs = (await workflowRunsIn(gyre, project.slug, options.window, options.workflowName)).filter(
    onBranch(options.branch),
  );
  return timeseries(
    runs.map((r) => ({ name: r.name, facts: workflowFacts(r) })),
    options.granularity,
  );
}

/** getJobTimeseries: each job's runs of one workflow per day or hour. */
export async function jobTimeseries(
  gyre: Gyre,
  project: InsightsProject,
  workflowName: string,
  options: { branch?: string; window: Window; granularity: "daily" | "hourly" },
): Promise<IntervalMetrics[]> {
  await requireWorkflow(gyre, project.slug, workflowName);
  const runs = (await jobRunsIn(gyre, project.slug, workflowName, options.window)).filter(
    onBranch(options.branch),
  );
  return timeseries(
    runs.map((r) => ({ name: r.name, facts: jobFacts(r) })),
    options.granularity,
  );
}

// ---------------------------------------------------------------------------------------------
// Summaries with trends

export interface MetricsWithTrends {
  metrics: RunMetrics;
  trends: Trends;
}

/** The metrics of the runs of `window` and their trends against the window before. */
function withTrends(facts: readonly RunFacts[], window: Window): MetricsWithTrends {
  const current = facts.filter(inWindow(window));
  const previous = facts.filter(inWindow(previousWindow(window)));
  const metrics = summarize(current, window);
  return { metrics, trends: trendsOf(metrics, previous, window) };
}

/** The window and the one before it, as one range to read. */
const withPrevious = (w: Window): Window => ({ start: previousWindow(w).start, end: w.end });

/** getWorkflowSummary. */
export async function workflowSummary(
  gyre: Gyre,
  project: InsightsProject,
  name: string,
  options: { branches?: readonly string[]; window: Window },
): Promise<MetricsWithTrends & { window: Window; workflowNames: string[] }> {
  await requireWorkflow(gyre, project.slug, name);
  const [runs, recent] = await Promise.all([
    workflowRunsIn(gyre, project.slug, withPrevious(options.window), name),
    workflowRunsIn(gyre, project.slug, options.window),
  ]);
  return {
    ...withTrends(runs.filter(onBranches(options.branches)).map(workflowFacts), options.window),
    window: options.window,
    workflowNames: [...new Set(recent.map((r) => r.name))].sort(),
  };
}

export interface ProjectSummary {
  project: MetricsWithTrends;
  workflows: (MetricsWithTrends & { name: string })[];
  branches: (MetricsWithTrends & { name: string; branch: string })[];
  allBranches: string[];
  allWorkflows: string[];
}

/** getProjectWorkflowsPageData. */
export async function projectSummary(
  gyre: Gyre,
  project: InsightsProject,
  options: { window: Window; branches?: readonly string[]; workflowNames?: readonly string[] },
): Promise<ProjectSummary> {
  const runs = await workflowRunsIn(gyre, project.slug, withPrevious(options.window));
  const current = runs.filter((r) => inWindow(options.window)(workflowFacts(r)));
  const named = (r: WorkflowRun) =>
    options.workflowNames === undefined || options.workflowNames.includes(r.name);
  const byName = groupBy(runs.filter(named), (r) => r.name);
  const byBranch = groupBy(
    runs.filter((r) => named(r) && r.branch !== undefined && onBranches(options.branches)(r)),
    (r) => `${r.name}\u0000${r.branch}`,
  );
  const present = (list: WorkflowRun[]) => list.some((r) => inWindow(options.window)(workflowFacts(r)));
  return {
    project: withTrends(runs.map(workflowFacts), options.window),
    workflows: sortedKeys(byName)
      .filter((name) => present(byName.get(name)!))
      .map((name) => ({ name, ...withTrends(byName.get(name)!.map(workflowFacts), options.window) })),
    branches: sortedKeys(byBranch)
      .filter((key) => present(byBranch.get(key)!))
      .map((key) => {
        const list = byBranch.get(key)!;
        return {
          name: list[0]!.name,
          branch: list[0]!.branch!,
          ...withTrends(list.map(workflowFacts), options.window),
        };
      }),
    allBranches: [...new Set(current.flatMap((r) => (r.branch !== undefined ? [r.branch] : [])))].sort(),
    allWorkflows: [...new Set(current.map((r) => r.name))].sort(),
  };
}

export interface OrgSummary {
  org: MetricsWithTrends;
  projects: (MetricsWithTrends & { name: string })[];
  allProjects: string[];
}

/** getOrgSummaryData: every project of an organization (those named, when some are). */
export async function orgSummary(
  gyre: Gyre,
  projects: readonly Pick<InsightsProject, "slug" | "name">[],
  options: { window: Window; projectNames?: readonly string[] },
): Promise<OrgSummary> {
  const chosen = projects.filter(
    (p) => options.projectNames === undefined || options.projectNames.includes(p.name),
  );
  const range = withPrevious(options.window);
  const runs = await Promise.all(chosen.map((p) => workflowRunsIn(gyre, p.slug, range)));
  return {
    org: withTrends(runs.flat().map(workflowFacts), options.window),
    projects: chosen
      .map((p, i) => ({ name: p.name, ...withTrends(runs[i]!.map(workflowFacts), options.window) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    allProjects: [...new Set(projects.map((p) => p.name))].sort(),
  };
}

/** getAllInsightsBranches: the branches of the runs of the last 90 days (of one workflow). */
export async function insightsBranches(
  gyre: Gyre,
  project: InsightsProject,
  workflowName?: string,
): Promise<string[]> {
  const runs = await workflowRunsIn(gyre, project.slug, lookback(gyre), workflowName);
  return [...new Set(runs.flatMap((r) => (r.branch !== undefined ? [r.branch] : [])))].sort();
}

// ---------------------------------------------------------------------------------------------
// Tests

export interface FlakyTest {
  testName: string;
  classname: string;
  file: string;
  source: string;
  jobName: string;
  /** The latest flaky failure's job and workflow. */
  latest: FlakyTestRun;
  timesFlaked: number;
  /** The failing jobs' durations, in seconds. */
  timeWastedSecs: number;
}

function flakyTestsOf(runs: readonly FlakyTestRun[]): FlakyTest[] {
  const tests: FlakyTest[] = [];
  for (const list of groupBy(runs, (r) => r.digest).values()) {
    const latest = [...list].sort((a, b) =>
      a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0,
    )[0]!;
    tests.push({
      testName: latest.name,
      classname: latest.classname,
      file: latest.file,
      source: latest.source,
      jobName: latest.jobName,
      latest,
      timesFlaked: list.length,
      timeWastedSecs: list.reduce((s, r) => s + Math.round((r.durationMs ?? 0) / 1000), 0),
    });
  }
  return tests.sort(
    (a, b) =>
      b.timesFlaked - a.timesFlaked ||
      (a.testName < b.testName ? -1 : a.testName > b.testName ? 1 : 0) ||
      (a.jobName < b.jobName ? -1 : a.jobName > b.jobName ? 1 : 0),
  );
}

/** getFlakyTests: tests that passed and failed on the same commit in the last 90 days. */
export async function flakyTests(gyre: Gyre, project: InsightsProject): Promise<FlakyTest[]> {
  return flakyTestsOf(await flakyTestRunsIn(gyre, project.slug, lookback(gyre)));
}

export interface TestMetric {
  testName: string;
  classname: string;
  file: string;
  source: string;
  jobName: string;
  totalRuns: number;
  failedRuns: number;
  /** Seconds (test run times are fractional). */
  p95Duration: number | null;
  flaky: boolean;
}

export interface TestMetrics {
  averageTestCount: number;
  totalTestRuns: number;
  testRuns: { pipelineNumber: number; workflowId: string; successRate: number; counts: TestCounts }[];
  mostFailed: TestMetric[];
  mostFailedExtra: number;
  slowest: TestMetric[];
  slowestExtra: number;
}

/** The first `n` of `sorted`, and how many of the others tie with the last one shown. */
function topWithTies<T>(sorted: readonly T[], n: number, same: (a: T, b: T) => boolean): [T[], number] {
  const top = sorted.slice(0, n);
  const last = top.at(-1);
  return [top, last === undefined ? 0 : sorted.slice(n).filter((t) => same(t, last)).length];
}

/**
 * getProjectWorkflowTestMetrics: the tests of the workflow's 10 most recent runs (on the
 * branch), read from the results their jobs stored.
 */
export async function workflowTestMetrics(
  gyre: Gyre,
  project: InsightsProject,
  name: string,
  options: { branch?: string },
): Promise<TestMetrics> {
  await requireWorkflow(gyre, project.slug, name);
  const window = lookback(gyre);
  const [{ items: runs }, flakes] = await Promise.all([
    workflowRunPage(gyre, project.slug, name, { window, branch: options.branch, limit: TEST_METRIC_RUNS }),
    flakyTestRunsIn(gyre, project.slug, window),
  ]);
  const flaky = new Set(flakes.map((f) => f.digest));
  const tested = runs.map((run) => ({ run, jobs: run.jobs.filter((j) => j.tests) }));
  const results = await Promise.all(
    tested.map(({ jobs }) =>
      Promise.all(jobs.map(async (job) => ({ job: job.name, tests: await listTestResults(gyre, job) }))),
    ),
  );

  const byTest = new Map<
    string,
    { first: TestCaseResult; jobName: string; times: number[]; failed: number }
  >();
  const testRuns: TestMetrics["testRuns"] = [];
  tested.forEach(({ run, jobs }, i) => {
    if (jobs.length === 0) return;
    const counts: TestCounts = { success: 0, failure: 0, skipped: 0 };
    for (const job of jobs) {
      counts.success += job.tests!.success;
      counts.failure += job.tests!.failure;
      counts.skipped += job.tests!.skipped;
    }
    const ran = counts.success + counts.failure;
    testRuns.push({
      pipelineNumber: run.pipelineNumber,
      workflowId: run.id,
      successRate: ran === 0 ? 0 : counts.success / ran,
      counts,
    });
    for (const { job, tests } of results[i]!) {
      for (const test of tests) {
        if (test.result === "skipped") continue;
        const digest = testDigest(job, test);
        const entry = byTest.get(digest) ?? { first: test, jobName: job, times: [], failed: 0 };
        entry.times.push(test.run_time);
        if (test.result === "failure") entry.failed++;
        byTest.set(digest, entry);
      }
    }
  });
  const metrics: TestMetric[] = [...byTest.entries()].map(([digest, e]) => ({
    testName: e.first.name,
    classname: e.first.classname,
    file: e.first.file,
    source: e.first.source,
    jobName: e.jobName,
    totalRuns: e.times.length,
    failedRuns: e.failed,
    p95Duration: p95(e.times),
    flaky: flaky.has(digest),
  }));
  const byName = (a: TestMetric, b: TestMetric) =>
    a.testName < b.testName ? -1 : a.testName > b.testName ? 1 : a.jobName < b.jobName ? -1 : 1;
  const [mostFailed, mostFailedExtra] = topWithTies(
    metrics.filter((m) => m.failedRuns > 0).sort((a, b) => b.failedRuns - a.failedRuns || byName(a, b)),
    TEST_METRIC_TESTS,
    (a, b) => a.failedRuns === b.failedRuns,
  );
  const [slowest, slowestExtra] = topWithTies(
    [...metrics].sort((a, b) => (b.p95Duration ?? 0) - (a.p95Duration ?? 0) || byName(a, b)),
    TEST_METRIC_TESTS,
    (a, b) => a.p95Duration === b.p95Duration,
  );
  const totalTestRuns = testRuns.reduce(
    (s, r) => s + r.counts.success + r.counts.failure + r.counts.skipped,
    0,
  );
  return {
    averageTestCount: testRuns.length === 0 ? 0 : Math.round(totalTestRuns / testRuns.length),
    totalTestRuns,
    testRuns,
    mostFailed,
    mostFailedExtra,
    slowest,
    slowestExtra,
  };
}

/** A test's p95 run time: nearest rank, as for durations, but in fractional seconds. */
function p95(times: readonly number[]): number | null {
  if (times.length === 0) return null;
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
}
