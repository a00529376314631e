/** The run records of an ended workflow's jobs, and the queue times they carry. */
import { describe, expect, it } from "vitest";
import type { Job } from "../job/index.ts";
import { summarize } from "./metrics.ts";
import { jobFacts, type WorkflowRun, workflowFacts, workflowQueueMs } from "./model.ts";
import { jobRunsOf } from "./record.ts";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (secs: number) => new Date(T0 + secs * 1000).toISOString();

let n = 0;
function job(over: Partial<Job>): Job {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    number: n,
    name: `job${n}`,
    type: "build",
    status: "success",
    projectSlug: "gh/acme/api",
    pipelineId: "p",
    pipelineNumber: 1,
    workflowId: "w",
    workflowName: "ci",
    requires: [],
    contexts: [],
    checkout: { repoUrl: "/repo", revision: "a".repeat(40), branch: "main" },
    pipeline: {} as Job["pipeline"],
    attempt: 1,
    retries: 0,
    allocations: { "0": { status: "success" } },
    createdAt: at(0),
    updatedAt: T0,
    ...over,
  };
}

describe("a job run's queue time", () => {
  it("is from its queueing to its start, in ms; null when it never started or was never queued", () => {
    const runs = jobRunsOf([
      job({ queuedAt: at(0), startedAt: at(12.5), stoppedAt: at(40) }),
      // Unblocked at 40 s (its wait for a requirement is not queue time), started at 43.
      job({ requires: ["job1"], queuedAt: at(40), startedAt: at(43), stoppedAt: at(50) }),
      // Canceled while it waited: it never started.
      job({ status: "canceled", queuedAt: at(0), stoppedAt: at(30) }),
      // A no-op job: never queued.
      job({ type: "no-op", startedAt: at(40), stoppedAt: at(40) }),
      // Retried after a lost node: the last attempt's wait, from its queueing again.
      job({ attempt: 2, retries: 1, queuedAt: at(100), startedAt: at(101), stoppedAt: at(160) }),
    ]);
    expect(runs.map((r) => r.queuedMs)).toEqual([12_500, 3000, null, null, 1000]);
    expect(runs.map((r) => jobFacts(r).queueSecs)).toEqual([13, 3, null, null, 1]);
  });
});

describe("a workflow run's queue time", () => {
  const wait = (from: number, to: number) => ({ startedAt: at(to), queuedMs: (to - from) * 1000 });

  it("is how long at least one of its jobs waited: waits side by side count once", () => {
    // 0–10 and 4–12 overlap (12 s), 20–25 alone (5 s), 21–22 inside it.
    expect(workflowQueueMs([wait(20, 25), wait(0, 10), wait(21, 22), wait(4, 12)])).toBe(17_000);
    // One after another: the sum.
    expect(workflowQueueMs([wait(0, 3), wait(10, 14)])).toBe(7000);
    expect(workflowQueueMs([wait(5, 5)])).toBe(0);
  });

  it("is null when none of its jobs has one (never started, or recorded before queue times were)", () => {
    expect(workflowQueueMs([])).toBeNull();
    expect(workflowQueueMs([{ startedAt: at(1), queuedMs: null }, { startedAt: at(2) }])).toBeNull();
    expect(workflowQueueMs([{ startedAt: at(1), queuedMs: null }, wait(0, 4)])).toBe(4000);
  });
});

describe("queue metrics", () => {
  const workflow = (queuedMs: number | null | undefined): WorkflowRun => ({
    id: "w",
    name: "ci",
    projectSlug: "gh/acme/api",
    pipelineId: "p",
    pipelineNumber: 1,
    branch: "main",
    revision: "abc",
    status: "success",
    createdAt: at(0),
    stoppedAt: at(60),
    durationMs: 60_000,
    ...(queuedMs !== undefined ? { queuedMs } : {}),
    creditsUsed: 0,
    jobs: [],
  });
  const day = { start: T0, end: T0 + 86_400_000 };

  it("count a run without a queue time (null, or a record written before) as no sample, not as 0", () => {
    const runs = [workflow(4000), workflow(null), workflow(undefined), workflow(9400), workflow(1200)];
    const m = summarize(runs.map(workflowFacts), day);
    expect(m.totalRuns).toBe(5);
    // 1 s, 4 s and 9 s: the median is the middle one (not 1 s, as two zeros would make it).
    expect(m.queue).toEqual({ median: 4, p95: 9 });
    expect(summarize([workflow(undefined), workflow(null)].map(workflowFacts), day).queue).toEqual({
      median: null,
      p95: null,
    });
  });
});
