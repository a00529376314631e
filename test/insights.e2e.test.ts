/**
 * CircleCI API v2 Insights on the local stack, from real runs: a project whose `ci` workflow
 * fails on `main` (a test, `flappy`, fails on the workflow's first run only), is rerun from
 * failed and succeeds, and succeeds on `feature` (the same commit); a `docs` workflow that
 * always succeeds; a second project of the organization that never ran. Every number each
 * endpoint answers is checked against what the workflows and jobs API says of those runs.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, runPipeline, tempDir, waitFor } from "./support.ts";

type Item = Record<string, unknown>;

const ORG = "gh/acme";
const SLUG = "gh/acme/insights";
const QUIET = "gh/acme/quiet";
const DAY = 86_400_000;

// `flappy` fails on main on a workflow's first run (not on a rerun, whose CIRCLE_WORKFLOW_ID is
// not its workspace's); the job fails after storing its results.
const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Test
          command: |
            sleep 1
            mkdir -p test-results/unit
            if [ "$CIRCLE_BRANCH" = main ] && [ "$CIRCLE_WORKFLOW_ID" = "$CIRCLE_WORKFLOW_WORKSPACE_ID" ]; then
              flappy='<testcase classname="net" name="flappy" time="0.5" file="net.test.js"><failure message="timeout">timed out</failure></testcase>'
              echo 1 > status
            else
              flappy='<testcase classname="net" name="flappy" time="0.25" file="net.test.js"/>'
              echo 0 > status
            fi
            echo "<testsuite name=\\"unit\\"><testcase classname=\\"math\\" name=\\"adds\\" time=\\"1.5\\" file=\\"math.test.js\\"/>$flappy<testcase classname=\\"math\\" name=\\"later\\" time=\\"0\\"><skipped/></testcase></testsuite>" > test-results/unit/junit.xml
      - store_test_results:
          path: test-results
      - run:
          name: Verdict
          command: exit $(cat status)
  lint:
    machine: true
    steps:
      - run: echo lint
workflows:
  ci:
    jobs: [build, lint]
  docs:
    jobs: [lint]
`;

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const get = async (path: string) => client.get(`/api/v2/insights/${path}`);
const ok = async (path: string) => {
  const answer = await get(path);
  if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as Item;
};

/** A workflow run as the API shows it, and its jobs. */
interface Run {
  id: string;
  name: string;
  branch: string;
  status: string;
  createdAt: string;
  stoppedAt: string;
  duration: number;
  /** Each job as the workflow's job list shows it, with `queued_at` from its details. */
  jobs: Record<string, Item>;
  /** The jobs it ran itself (a rerun's carried jobs left out). */
  ran: string[];
  /** Its queue time (s): how long at least one of the jobs it ran waited for a builder. */
  queue: number;
}
const runs: Record<string, Run> = {};
/** The commit both pipelines ran (feature is a branch at main's head). */
let revision = "";
const pipelines: string[] = [];

const secs = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 1000);

/** A job's wait for a builder (s), from the `queued_at` and `started_at` its details show. */
const jobQueue = (job: Item) => secs(job.queued_at as string, job.started_at as string);

/** The union of the jobs' waits (s), from queued_at to started_at: jobs waiting side by side count once. */
function unionOfWaits(jobs: Item[]) {
  // Counted another way than the code under test: each stretch between two consecutive edges
  // counts when some job waited across it.
  const waits = jobs.map((j) => [Date.parse(j.queued_at as string), Date.parse(j.started_at as string)]);
  const edges = [...new Set(waits.flat())].sort((a, b) => a - b);
  let total = 0;
  for (let i = 1; i < edges.length; i++) {
    const mid = (edges[i - 1]! + edges[i]!) / 2;
    if (waits.some(([from, to]) => from! <= mid && mid <= to!)) total += edges[i]! - edges[i - 1]!;
  }
  return Math.round(total / 1000);
}

async function runOf(label: string, workflowId: string, branch: string, ran: string[]) {
  const w = (await client.get(`/api/v2/workflow/${workflowId}`)).body;
  const jobs = (await client.get(`/api/v2/workflow/${workflowId}/job`)).body.items!;
  // The list has no queue time: each job's details give its queued_at.
  for (const job of jobs)
    if (ran.includes(job.name as string))
      job.queued_at = (await client.get(`/api/v2/project/${SLUG}/job/${job.job_number}`)).body.queued_at;
  const byName = Object.fromEntries(jobs.map((j) => [j.name as string, j]));
  runs[label] = {
    id: w.id as string,
    name: w.name as string,
    branch,
    status: w.status as string,
    createdAt: w.created_at as string,
    stoppedAt: w.stopped_at as string,
    duration: secs(w.created_at as string, w.stopped_at as string),
    jobs: byName,
    ran,
    queue: unionOfWaits(ran.map((n) => byName[n]!)),
  };
}

const settled = (pipelineId: string) =>
  waitFor(
    "both workflows to end",
    async () => {
      const items = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items ?? [];
      return items.length === 2 &&
        items.every((w) => !["running", "failing", "on_hold"].includes(w.status as string))
        ? Object.fromEntries(items.map((w) => [w.name as string, w.id as string]))
        : undefined;
    },
    60_000,
  );

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("insights"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({ ".circleci/config.yml": CONFIG });
  revision = repo.head;
  execFileSync("git", ["branch", "feature"], { cwd: repo.path });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug: SLUG })).status).toBe(201);
  const quiet = gitRepo({ ".circleci/config.yml": CONFIG });
  expect((await client.post("/api/gyre/projects", { repo_url: quiet.path, slug: QUIET })).status).toBe(201);

  const main = await runPipeline(client, SLUG, "main");
  pipelines.push(main.pipelineId);
  const first = await settled(main.pipelineId);
  await runOf("ci-main", first.ci!, "main", ["build", "lint"]);
  await runOf("docs-main", first.docs!, "main", ["lint"]);
  expect(runs["ci-main"]!.status).toBe("failed");

  const rerun = await client.post(`/api/v2/workflow/${first.ci}/rerun`, { from_failed: true });
  expect(rerun.status).toBe(202);
  const rerunId = rerun.body.workflow_id as string;
  await waitFor(
    "the rerun to end",
    async () => {
      const w = (await client.get(`/api/v2/workflow/${rerunId}`)).body;
      return ["running", "failing"].includes(w.status as string) ? undefined : w;
    },
    60_000,
  );
  // From failed: build runs again, lint is carried.
  await runOf("ci-rerun", rerunId, "main", ["build"]);
  expect(runs["ci-rerun"]!.status).toBe("success");

  const feature = await runPipeline(client, SLUG, "feature");
  pipelines.push(feature.pipelineId);
  const second = await settled(feature.pipelineId);
  await runOf("ci-feature", second.ci!, "feature", ["build", "lint"]);
  await runOf("docs-feature", second.docs!, "feature", ["lint"]);

  // The records are written by Finalize just after the jobs' statuses the API shows.
  await waitFor("every run to be recorded", async () => {
    const ci = await get(`${SLUG}/workflows/ci?all-branches=true`);
    const docs = await get(`${SLUG}/workflows/docs?all-branches=true`);
    return ci.body.items?.length === 3 && docs.body.items?.length === 2 ? true : undefined;
  });
}, 180_000);

afterAll(async () => {
  await runtime?.stop();
});

// ---------------------------------------------------------------------------------------------
// What the metrics should be, from the runs the API shows

const ofRuns = (...labels: string[]) => labels.map((l) => runs[l]!);
const jobDuration = (job: Item) => secs(job.started_at as string, job.stopped_at as string);

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const total = sorted.reduce((s, v) => s + v, 0);
  const mean = total / n;
  const mid = Math.floor(n / 2);
  return {
    min: sorted[0],
    max: sorted[n - 1],
    total,
    mean: Math.round(mean),
    median: n % 2 ? sorted[mid] : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2),
    p95: sorted[Math.ceil(0.95 * n) - 1],
    standard_deviation: Math.sqrt(sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / n),
  };
}

const durationMetrics = (values: number[]) => {
  const { total: _, standard_deviation, ...rest } = stats(values);
  return { ...rest, standard_deviation: expect.closeTo(standard_deviation, 9) };
};

/** Gyre's `queue_metrics`: the median and p95 queue times (s) of runs that all have one. */
const queueMetrics = (values: number[]) => {
  const { median, p95 } = stats(values);
  return { median, p95 };
};

/** The trend of a metric whose previous window had nothing: infinite (-1), or none (1) if it is 0 too. */
const fromNothing = (value: number) => (value === 0 ? 1 : -1);

const isoNear = (value: unknown, ms: number) => {
  expect(Math.abs(Date.parse(value as string) - ms)).toBeLessThan(60_000);
};

describe("workflow runs", () => {
  it("lists a workflow's runs on the default branch, newest first, with duration and status", async () => {
    const body = await ok(`${SLUG}/workflows/ci`);
    expect(body).toEqual({
      items: ofRuns("ci-rerun", "ci-main").map((r) => ({
        id: r.id,
        branch: "main",
        duration: r.duration,
        created_at: r.createdAt,
        stopped_at: r.stoppedAt,
        credits_used: 0,
        status: r.status,
      })),
      next_page_token: null,
    });
    const all = await ok(`${SLUG}/workflows/ci?all-branches=true`);
    expect((all.items as Item[]).map((r) => r.id)).toEqual(
      ofRuns("ci-feature", "ci-rerun", "ci-main").map((r) => r.id),
    );
    const feature = await ok(`${SLUG}/workflows/ci?branch=feature`);
    expect((feature.items as Item[]).map((r) => r.id)).toEqual([runs["ci-feature"]!.id]);
    // A range that ended before the runs.
    const old = await ok(
      `${SLUG}/workflows/ci?start-date=2020-01-01T00:00:00Z&end-date=2020-02-01T00:00:00Z`,
    );
    expect(old.items).toEqual([]);
    // The slug escaped, as the document allows.
    expect(await ok(`${SLUG.replaceAll("/", "%2F")}/workflows/ci`)).toEqual(body);
  });

  it("lists a job's runs in a workflow: the rerun's build, then the first; a carried job once", async () => {
    const build = await ok(`${SLUG}/workflows/ci/jobs/build`);
    expect(build).toEqual({
      items: ofRuns("ci-rerun", "ci-main").map((r) => {
        const job = r.jobs.build!;
        return {
          id: job.id,
          started_at: job.started_at,
          stopped_at: job.stopped_at,
          status: job.status,
          duration: jobDuration(job),
          credits_used: 0,
        };
      }),
      next_page_token: null,
    });
    const lint = await ok(`${SLUG}/workflows/ci/jobs/lint`);
    expect((lint.items as Item[]).map((j) => j.id)).toEqual([runs["ci-main"]!.jobs.lint!.id]);
  });
});

describe("metrics", () => {
  it("of a project's workflows: runs, success rate, MTTR, durations, throughput", async () => {
    const body = await ok(`${SLUG}/workflows`);
    const [main, rerun, docs] = ofRuns("ci-main", "ci-rerun", "docs-main");
    expect(body.next_page_token).toBeNull();
    const items = body.items as Item[];
    expect(items.map((i) => i.name)).toEqual(["ci", "docs"]);
    expect(items[0]!.metrics).toEqual({
      total_runs: 2,
      successful_runs: 1,
      failed_runs: 1,
      success_rate: 0.5,
      throughput: 2 / 90,
      mttr: secs(main!.stoppedAt, rerun!.stoppedAt),
      total_recoveries: 1,
      total_credits_used: 0,
      duration_metrics: durationMetrics([main!.duration, rerun!.duration]),
      queue_metrics: queueMetrics([main!.queue, rerun!.queue]),
    });
    expect(items[1]!.metrics).toMatchObject({
      total_runs: 1,
      successful_runs: 1,
      failed_runs: 0,
      success_rate: 1,
      mttr: null,
      total_recoveries: 0,
      duration_metrics: durationMetrics([docs!.duration]),
      queue_metrics: { median: docs!.queue, p95: docs!.queue },
    });
    // The first run's build and lint were queued together: their waits count once, and the
    // run waited no longer than it lasted.
    const [build, lint] = [main!.jobs.build!, main!.jobs.lint!];
    expect(main!.queue).toBeGreaterThanOrEqual(Math.max(jobQueue(build), jobQueue(lint)) - 1);
    expect(main!.queue).toBeLessThanOrEqual(Math.min(jobQueue(build) + jobQueue(lint), main!.duration) + 1);
    isoNear(items[0]!.window_end, Date.now());
    expect(Date.parse(items[0]!.window_end as string) - Date.parse(items[0]!.window_start as string)).toBe(
      90 * DAY,
    );

    const week = (await ok(`${SLUG}/workflows?reporting-window=last-7-days&all-branches=true`))
      .items as Item[];
    expect(week[0]!.metrics).toMatchObject({
      total_runs: 3,
      successful_runs: 2,
      success_rate: 2 / 3,
      throughput: 3 / 7,
    });
  });

  it("of a workflow's jobs", async () => {
    const body = await ok(`${SLUG}/workflows/ci/jobs`);
    const builds = ofRuns("ci-main", "ci-rerun").map((r) => r.jobs.build!);
    const lint = runs["ci-main"]!.jobs.lint!;
    expect(body).toEqual({
      items: [
        {
          name: "build",
          window_start: expect.any(String),
          window_end: expect.any(String),
          metrics: {
            success_rate: 0.5,
            total_runs: 2,
            failed_runs: 1,
            successful_runs: 1,
            throughput: 2 / 90,
            total_credits_used: 0,
            duration_metrics: durationMetrics(builds.map(jobDuration)),
            queue_metrics: queueMetrics(builds.map(jobQueue)),
          },
        },
        {
          name: "lint",
          window_start: expect.any(String),
          window_end: expect.any(String),
          metrics: {
            success_rate: 1,
            total_runs: 1,
            failed_runs: 0,
            successful_runs: 1,
            throughput: 1 / 90,
            total_credits_used: 0,
            duration_metrics: durationMetrics([jobDuration(lint)]),
            queue_metrics: queueMetrics([jobQueue(lint)]),
          },
        },
      ],
      next_page_token: null,
    });
  });

  it("and trends of one workflow: every run being new, the trends are infinite (-1)", async () => {
    const [main, rerun] = ofRuns("ci-main", "ci-rerun");
    const body = await ok(`${SLUG}/workflows/ci/summary`);
    expect(body).toEqual({
      metrics: {
        total_runs: 2,
        successful_runs: 1,
        failed_runs: 1,
        success_rate: 0.5,
        throughput: 2 / 90,
        mttr: secs(main!.stoppedAt, rerun!.stoppedAt),
        total_credits_used: 0,
        window_start: expect.any(String),
        window_end: expect.any(String),
        duration_metrics: durationMetrics([main!.duration, rerun!.duration]),
        queue_metrics: queueMetrics([main!.queue, rerun!.queue]),
      },
      trends: {
        total_runs: -1,
        failed_runs: -1,
        success_rate: -1,
        throughput: -1,
        mttr: -1,
        p95_duration_secs: fromNothing(stats([main!.duration, rerun!.duration]).p95!),
        median_duration_secs: fromNothing(stats([main!.duration, rerun!.duration]).median!),
        total_credits_used: 1,
      },
      workflow_names: ["ci", "docs"],
    });
    const all = await ok(`${SLUG}/workflows/ci/summary?all-branches=true`);
    expect((all.metrics as Item).total_runs).toBe(3);
    const feature = await ok(`${SLUG}/workflows/ci/summary?branches=feature&branches=nowhere`);
    expect(feature.metrics).toMatchObject({ total_runs: 1, success_rate: 1 });
  });
});

describe("summaries", () => {
  const everyRun = () => ofRuns("ci-main", "ci-rerun", "ci-feature", "docs-main", "docs-feature");
  const total = (labels: Run[]) => labels.reduce((s, r) => s + r.duration, 0);

  it("of a project: all its runs, each workflow, each workflow's branches", async () => {
    const body = await ok(`pages/${SLUG}/summary`);
    const project = (await client.get(`/api/v2/project/${SLUG}`)).body;
    const p95 = (list: Run[]) => stats(list.map((r) => r.duration)).p95;
    const trends = (list: Run[]) => ({
      total_credits_used: 1,
      p95_duration_secs: fromNothing(p95(list)!),
      total_runs: -1,
      success_rate: -1,
    });
    const ci = ofRuns("ci-main", "ci-rerun", "ci-feature");
    const docs = ofRuns("docs-main", "docs-feature");
    expect(body).toEqual({
      org_id: project.organization_id,
      project_id: project.id,
      project_data: {
        metrics: {
          total_runs: 5,
          total_duration_secs: total(everyRun()),
          total_credits_used: 0,
          success_rate: 4 / 5,
          throughput: 5 / 90,
        },
        trends: {
          total_runs: -1,
          total_duration_secs: fromNothing(total(everyRun())),
          total_credits_used: 1,
          success_rate: -1,
          throughput: -1,
        },
      },
      project_workflow_data: [
        {
          workflow_name: "ci",
          metrics: { total_credits_used: 0, p95_duration_secs: p95(ci), total_runs: 3, success_rate: 2 / 3 },
          trends: trends(ci),
        },
        {
          workflow_name: "docs",
          metrics: { total_credits_used: 0, p95_duration_secs: p95(docs), total_runs: 2, success_rate: 1 },
          trends: trends(docs),
        },
      ],
      project_workflow_branch_data: [
        ["ci", "feature", ofRuns("ci-feature"), 1],
        ["ci", "main", ofRuns("ci-main", "ci-rerun"), 0.5],
        ["docs", "feature", ofRuns("docs-feature"), 1],
        ["docs", "main", ofRuns("docs-main"), 1],
      ].map(([name, branch, list, rate]) => ({
        workflow_name: name,
        branch,
        metrics: {
          total_credits_used: 0,
          p95_duration_secs: p95(list as Run[]),
          total_runs: (list as Run[]).length,
          success_rate: rate,
        },
        trends: trends(list as Run[]),
      })),
      all_branches: ["feature", "main"],
      all_workflows: ["ci", "docs"],
    });
    const narrowed = await ok(
      `pages/${SLUG}/summary?branches=main&workflow-names=docs&reporting-window=last-24-hours`,
    );
    expect((narrowed.project_workflow_data as Item[]).map((w) => w.workflow_name)).toEqual(["docs"]);
    expect((narrowed.project_workflow_branch_data as Item[]).map((w) => [w.workflow_name, w.branch])).toEqual(
      [["docs", "main"]],
    );
    expect((narrowed.project_data as { metrics: Item }).metrics).toMatchObject({
      total_runs: 5,
      throughput: 5,
    });
  });

  it("of an organization: each project, the quiet one with nothing", async () => {
    const body = await ok(`${ORG}/summary`);
    const ones = { total_credits_used: 1, total_duration_secs: 1, total_runs: 1, success_rate: 1 };
    expect(body).toEqual({
      org_data: {
        metrics: {
          total_runs: 5,
          total_duration_secs: total(everyRun()),
          total_credits_used: 0,
          success_rate: 4 / 5,
          throughput: 5 / 90,
        },
        trends: {
          total_runs: -1,
          total_duration_secs: fromNothing(total(everyRun())),
          total_credits_used: 1,
          success_rate: -1,
          throughput: -1,
        },
      },
      org_project_data: [
        {
          project_name: "insights",
          metrics: {
            total_credits_used: 0,
            total_duration_secs: total(everyRun()),
            total_runs: 5,
            success_rate: 4 / 5,
          },
          trends: {
            total_credits_used: 1,
            total_duration_secs: fromNothing(total(everyRun())),
            total_runs: -1,
            success_rate: -1,
          },
        },
        {
          project_name: "quiet",
          metrics: { total_credits_used: 0, total_duration_secs: 0, total_runs: 0, success_rate: 0 },
          trends: ones,
        },
      ],
      all_projects: ["insights", "quiet"],
    });
    const one = await ok(`${ORG.replace("/", "%2F")}/summary?project-names=quiet`);
    expect((one.org_data as { metrics: Item }).metrics.total_runs).toBe(0);
    expect((one.org_project_data as Item[]).map((p) => p.project_name)).toEqual(["quiet"]);
    expect(one.all_projects).toEqual(["insights", "quiet"]);
  });

  it("branches of the project's runs (of one workflow)", async () => {
    const project = (await client.get(`/api/v2/project/${SLUG}`)).body;
    expect(await ok(`${SLUG}/branches`)).toEqual({
      org_id: project.organization_id,
      project_id: project.id,
      branches: ["feature", "main"],
    });
    expect((await ok(`${SLUG}/branches?workflow-name=docs`)).branches).toEqual(["feature", "main"]);
    expect((await ok(`${QUIET}/branches`)).branches).toEqual([]);
  });
});

describe("time series", () => {
  const day = (iso: string) => new Date(Math.floor(Date.parse(iso) / DAY) * DAY).toISOString();

  it("of workflows: per name and UTC day, on the default branch", async () => {
    const body = await ok(`time-series/${SLUG}/workflows`);
    const expected = [ofRuns("ci-main", "ci-rerun"), ofRuns("docs-main")].flatMap((list) => {
      const byDay = new Map<string, Run[]>();
      for (const r of list) byDay.set(day(r.createdAt), [...(byDay.get(day(r.createdAt)) ?? []), r]);
      return [...byDay].map(([timestamp, dayRuns]) => {
        const { mean: _m, standard_deviation: _s, ...durations } = stats(dayRuns.map((r) => r.duration));
        return {
          name: dayRuns[0]!.name,
          timestamp,
          min_started_at: dayRuns.map((r) => r.createdAt).sort()[0],
          max_ended_at: dayRuns
            .map((r) => r.stoppedAt)
            .sort()
            .at(-1),
          metrics: {
            total_runs: dayRuns.length,
            successful_runs: dayRuns.filter((r) => r.status === "success").length,
            failed_runs: dayRuns.filter((r) => r.status === "failed").length,
            throughput: dayRuns.length,
            median_credits_used: 0,
            total_credits_used: 0,
            duration_metrics: durations,
            queue_metrics: queueMetrics(dayRuns.map((r) => r.queue)),
          },
        };
      });
    });
    expect(body).toEqual({ items: expected, next_page_token: null });
    const hourly = await ok(
      `time-series/${SLUG}/workflows?timeseries-granularity=hourly&all-branches=true&workflow-name=docs`,
    );
    const items = hourly.items as Item[];
    expect(items.every((i) => i.name === "docs")).toBe(true);
    expect(items.reduce((s, i) => s + ((i.metrics as Item).total_runs as number), 0)).toBe(2);
    for (const i of items)
      expect((i.metrics as Item).throughput).toBe(24 * ((i.metrics as Item).total_runs as number));
  });

  it("of a workflow's jobs", async () => {
    const body = await ok(`time-series/${SLUG}/workflows/ci/jobs?branch=main`);
    const items = body.items as Item[];
    expect([...new Set(items.map((i) => i.name))]).toEqual(["build", "lint"]);
    const totals = Object.fromEntries(
      ["build", "lint"].map((n) => [
        n,
        items.filter((i) => i.name === n).reduce((s, i) => s + ((i.metrics as Item).total_runs as number), 0),
      ]),
    );
    expect(totals).toEqual({ build: 2, lint: 1 });
    // Each job's queue times per UTC day of its start.
    const jobs = ofRuns("ci-main", "ci-rerun").flatMap((r) => r.ran.map((name) => r.jobs[name]!));
    const expected = new Map<string, number[]>();
    for (const j of jobs) {
      const key = `${j.name} ${day(j.started_at as string)}`;
      expected.set(key, [...(expected.get(key) ?? []), jobQueue(j)]);
    }
    expect(
      Object.fromEntries(items.map((i) => [`${i.name} ${i.timestamp}`, (i.metrics as Item).queue_metrics])),
    ).toEqual(Object.fromEntries([...expected].map(([key, values]) => [key, queueMetrics(values)])));
  });
});

describe("tests", () => {
  it("flaky: flappy failed on the first run and passed on the rerun and on feature, on the same commit", async () => {
    const main = runs["ci-main"]!;
    const build = main.jobs.build!;
    const pipeline = (await client.get(`/api/v2/workflow/${main.id}`)).body;
    const flake = {
      "time-wasted": jobDuration(build),
      "workflow-created-at": main.createdAt,
      "workflow-id": main.id,
      classname: "net",
      "pipeline-number": pipeline.pipeline_number,
      "workflow-name": "ci",
      "test-name": "flappy",
      "job-name": "build",
      "job-number": build.job_number,
      "times-flaked": 1,
      source: "unit",
      file: "net.test.js",
    };
    // The document's kebab-case, and CircleCI's snake_case that clients read.
    const snake = Object.fromEntries(Object.entries(flake).map(([k, v]) => [k.replaceAll("-", "_"), v]));
    expect(await ok(`${SLUG}/flaky-tests`)).toEqual({
      "flaky-tests": [flake],
      "total-flaky-tests": 1,
      flaky_tests: [snake],
      total_flaky_tests: 1,
    });
    // Feature's pass of flappy, on the same commit, finds the same failure: still one flake.
    for (const id of pipelines)
      expect(((await client.get(`/api/v2/pipeline/${id}`)).body.vcs as Item).revision).toBe(revision);
  });

  it("metrics of a workflow's recent runs on its branch", async () => {
    const [rerun, main] = ofRuns("ci-rerun", "ci-main");
    const pipelineNumber = (await client.get(`/api/v2/workflow/${main!.id}`)).body.pipeline_number;
    const test = (
      name: string,
      classname: string,
      file: string,
      failed: number,
      p95: number,
      flaky: boolean,
    ) => ({
      p95_duration: p95,
      total_runs: 2,
      classname,
      failed_runs: failed,
      flaky,
      source: "unit",
      file,
      job_name: "build",
      test_name: name,
    });
    expect(await ok(`${SLUG}/workflows/ci/test-metrics`)).toEqual({
      average_test_count: 3,
      most_failed_tests: [test("flappy", "net", "net.test.js", 1, 0.5, true)],
      most_failed_tests_extra: 0,
      slowest_tests: [
        test("adds", "math", "math.test.js", 0, 1.5, false),
        test("flappy", "net", "net.test.js", 1, 0.5, true),
      ],
      slowest_tests_extra: 0,
      total_test_runs: 6,
      test_runs: [
        {
          pipeline_number: pipelineNumber,
          workflow_id: rerun!.id,
          success_rate: 1,
          test_counts: { error: 0, failure: 0, skipped: 1, success: 2, total: 3 },
        },
        {
          pipeline_number: pipelineNumber,
          workflow_id: main!.id,
          success_rate: 0.5,
          test_counts: { error: 0, failure: 1, skipped: 1, success: 1, total: 3 },
        },
      ],
    });
    const docs = await ok(`${SLUG}/workflows/docs/test-metrics?all-branches=true`);
    expect(docs).toMatchObject({
      total_test_runs: 0,
      test_runs: [],
      most_failed_tests: [],
      average_test_count: 0,
    });
  });
});

describe("errors", () => {
  it("answer 400 for a bad parameter, 404 for what does not exist, 401 without a token", async () => {
    const cases: [string, number][] = [
      [`${SLUG}/workflows?reporting-window=last-year`, 400],
      [`${SLUG}/workflows?branch=main&all-branches=true`, 400],
      [`${SLUG}/workflows?all-branches=maybe`, 400],
      [`${SLUG}/workflows?page-token=nonsense`, 400],
      [`${SLUG}/workflows/ci?end-date=2024-01-01T00:00:00Z`, 400],
      [`${SLUG}/workflows/ci?start-date=2024-01-01T00:00:00Z&end-date=2024-06-01T00:00:00Z`, 400],
      [`${SLUG}/workflows/ci?start-date=yesterday`, 400],
      [`${SLUG}/workflows/ci/jobs/build?page-token=${"x".repeat(5000)}`, 400],
      [`time-series/${SLUG}/workflows?timeseries-granularity=weekly`, 400],
      [`${SLUG}/workflows/ci/summary?branches=main&all-branches=true`, 400],
      [`xx/acme/insights/workflows`, 400],
      [`${ORG}/summary?reporting-window=forever`, 400],
      [`gh/acme/nowhere/workflows`, 404],
      [`${SLUG}/workflows/nowhere`, 404],
      [`${SLUG}/workflows/nowhere/summary`, 404],
      [`${SLUG}/workflows/ci/jobs/nowhere`, 404],
      [`time-series/${SLUG}/workflows/nowhere/jobs`, 404],
      [`${QUIET}/workflows/ci/test-metrics`, 404],
      [`gh/nobody/summary`, 404],
    ];
    const got = await Promise.all(cases.map(async ([path]) => [path, (await get(path)).status] as const));
    expect(got).toEqual(cases);
    // A page token of another list is refused.
    const token = Buffer.from(JSON.stringify({ v: 1, l: "x".repeat(22), k: { name: "ci" } })).toString(
      "base64url",
    );
    expect((await get(`${SLUG}/workflows?page-token=${token}`)).status).toBe(400);
    const anonymous = await fetch(`${runtime.url}/api/v2/insights/${SLUG}/workflows`);
    expect(anonymous.status).toBe(401);
  });
});
