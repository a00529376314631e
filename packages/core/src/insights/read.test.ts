/** Reading run records from a real (in-memory) table: windows, pages, tokens. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putItems } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { DAY_MS } from "./metrics.ts";
import type { JobRun, WorkflowRun } from "./model.ts";
import { workflowRunPage, workflowRunsIn } from "./read.ts";
import { jobRunItem, workflowRunItem } from "./record.ts";
import { jobTimeseries, projectWorkflowMetrics, workflowJobMetrics } from "./report.ts";

const SLUG = "gh/acme/api";
const NOW = Date.parse("2026-01-01T00:00:00.000Z");
const project = { id: "p", slug: SLUG, name: "api", organizationId: "o", defaultBranch: "main" };
let table: TestTable;

const run = (i: number, name: string, branch: string, minutesAgo: number): WorkflowRun => {
  const created = NOW - minutesAgo * 60_000;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    name,
    projectSlug: SLUG,
    pipelineId: "p",
    pipelineNumber: i,
    branch,
    revision: "abc",
    status: i % 3 === 0 ? "failed" : "success",
    createdAt: new Date(created).toISOString(),
    stoppedAt: new Date(created + 30_000).toISOString(),
    durationMs: 30_000,
    creditsUsed: 0,
    jobs: [],
  };
};

/** A job run of `build`, `minutesAgo`; `queuedMs` left out as records written before it was. */
const jobRun = (i: number, minutesAgo: number, queuedMs?: number | null): JobRun => {
  const started = NOW - minutesAgo * 60_000;
  return {
    id: `00000000-0000-4000-9000-${String(i).padStart(12, "0")}`,
    name: "test",
    number: 1000 + i,
    projectSlug: SLUG,
    workflowId: "w",
    workflowName: "build",
    pipelineNumber: i,
    branch: "main",
    revision: "abc",
    status: "success",
    startedAt: new Date(started).toISOString(),
    stoppedAt: new Date(started + 20_000).toISOString(),
    durationMs: 20_000,
    ...(queuedMs !== undefined ? { queuedMs } : {}),
    creditsUsed: 0,
  };
};

beforeAll(async () => {
  table = await memoryTable();
  table.setNow(NOW);
  const runs = [
    // 45 runs of `build`, every 10 minutes, on main and on feature in turn.
    ...Array.from({ length: 45 }, (_, i) => run(i + 1, "build", i % 2 ? "feature" : "main", (i + 1) * 10)),
    // 25 other workflows, one run each, and one run of `build` 100 days ago.
    ...Array.from({ length: 25 }, (_, i) => run(100 + i, `w${String(i).padStart(2, "0")}`, "main", 5)),
    run(200, "build", "main", 100 * 24 * 60),
  ];
  // Jobs of `build` on one day: two recorded before queue times were, one that never started.
  const jobs = [jobRun(1, 30, 2000), jobRun(2, 31), jobRun(3, 32, 7600), jobRun(4, 33, null), jobRun(5, 34)];
  expect(
    (
      await putItems(
        table.gyre,
        jobs.map((j) => jobRunItem(j, 0)),
      )
    ).filter(Boolean),
  ).toEqual([]);
  const failed = (
    await putItems(
      table.gyre,
      runs.map((r) => workflowRunItem(r, 0)),
    )
  ).filter(Boolean);
  expect(failed).toEqual([]);
});

afterAll(() => table?.close());

const window = () => ({ start: NOW - 90 * DAY_MS, end: NOW });

describe("run records", () => {
  it("of a window: the project's or one workflow's, the window's end left out", async () => {
    expect(await workflowRunsIn(table.gyre, SLUG, window())).toHaveLength(70);
    expect(await workflowRunsIn(table.gyre, SLUG, window(), "build")).toHaveLength(45);
    const end = NOW - 100 * 60_000; // exactly the 10th run's creation
    expect(await workflowRunsIn(table.gyre, SLUG, { start: NOW - 200 * 60_000, end }, "build")).toHaveLength(
      10,
    );
  });

  it("page newest first, filling pages the branch filter thins, and end with no token", async () => {
    const seen: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await workflowRunPage(table.gyre, SLUG, "build", {
        window: window(),
        branch: "main",
        pageToken: token,
      });
      seen.push(...page.items.map((r) => r.pipelineNumber));
      token = page.nextPageToken ?? undefined;
      pages++;
    } while (token && pages < 10);
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => 1 + 2 * i));
    expect(pages).toBe(2);
  });

  it("refuse a page token of another list", async () => {
    const page = await workflowRunPage(table.gyre, SLUG, "build", { window: window(), limit: 5 });
    expect(page.nextPageToken).not.toBeNull();
    await expect(
      workflowRunPage(table.gyre, SLUG, "w00", { window: window(), pageToken: page.nextPageToken! }),
    ).rejects.toMatchObject({ code: "bad_request" });
  });

  it("give a project's workflow metrics 20 names a page", async () => {
    const first = await projectWorkflowMetrics(table.gyre, project, { window: window(), branch: "main" });
    expect(first.items.map((i) => i.name)).toEqual([
      "build",
      ...Array.from({ length: 19 }, (_, i) => `w${String(i).padStart(2, "0")}`),
    ]);
    expect(first.items[0]!.metrics).toMatchObject({ totalRuns: 23, failedRuns: 8, successfulRuns: 15 });
    const second = await projectWorkflowMetrics(table.gyre, project, {
      window: window(),
      branch: "main",
      pageToken: first.nextPageToken!,
    });
    expect(second.items.map((i) => i.name)).toEqual(["w19", "w20", "w21", "w22", "w23", "w24"]);
    expect(second.nextPageToken).toBeNull();
    await expect(
      projectWorkflowMetrics(table.gyre, project, { window: window(), pageToken: first.nextPageToken! }),
    ).rejects.toMatchObject({ code: "bad_request" });
  });

  it("read job runs recorded with and without queue times: those without are no sample", async () => {
    const jobs = await workflowJobMetrics(table.gyre, project, "build", { window: window(), branch: "main" });
    expect(jobs.items.map((i) => [i.name, i.metrics.totalRuns, i.metrics.queue])).toEqual([
      ["test", 5, { median: 5, p95: 8 }],
    ]);
    const series = await jobTimeseries(table.gyre, project, "build", {
      window: window(),
      branch: "main",
      granularity: "daily",
    });
    expect(series.map((i) => i.metrics.queue)).toEqual([{ median: 5, p95: 8 }]);
    // The workflow runs above were all recorded without one.
    const workflows = await projectWorkflowMetrics(table.gyre, project, { window: window(), branch: "main" });
    expect(workflows.items[0]!.metrics.queue).toEqual({ median: null, p95: null });
  });
});
