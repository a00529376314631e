/**
 * Recording runs: when a workflow ends, one run record for it and one for each job it ran
 * (model.ts), and for each job that stored test results a test run on its commit, from which
 * flaky tests are found (tests.ts). Called by `advanceWorkflow` (dispatch/advance.ts) with the
 * status it computed: every change of a workflow's status passes there, so every end does.
 *
 * Written once: the workflow run is looked up first (one read for each later advance of an
 * ended workflow) and written last, after its jobs' records, so it says the whole run is there;
 * a process that dies in between leaves the workflow unrecorded until a later advance of it (a
 * late allocation's Finalize, a cancel) redoes it all. Every key is deterministic and every
 * write a put of the same content, so two advances that race write the same records.
 *
 * Never fails the build: an error is logged and counted (`gyre_dispatch_errors_total{stage=
 * "insights"}`), and the workflow goes on without its record.
 */
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import { eventsOf } from "../metrics/events.ts";
import { z } from "../protocol/schema.ts";
import { listTestResults } from "../storage/test-results.ts";
import { getItem, type Item, putItems } from "../store/index.ts";
import { Index, Keys } from "../table.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import { readWorkflow, type WorkflowStatus } from "../workflow/index.ts";
import {
  type JobRun,
  jobRunStatus,
  RUN_RETENTION_DAYS,
  type RunJob,
  type WorkflowRun,
  workflowQueueMs,
  workflowRunStatus,
} from "./model.ts";
import { recordTests } from "./tests.ts";

const defaultLog = (line: string) => console.warn(line);

const expiresAt = (gyre: Gyre, days: number) => Math.floor(gyre.now() / 1000) + days * 86_400;

/**
 * The job runs of an ended workflow: the jobs it ran itself, approvals and jobs never run left
 * out; each with its queue time, from its (last) queueing to its start.
 */
export function jobRunsOf(jobs: readonly Job[]): JobRun[] {
  const runs: JobRun[] = [];
  for (const job of jobs) {
    const status = jobRunStatus(job.status);
    if (!status || job.type === "approval" || job.carriedFrom) continue;
    const startedAt = job.startedAt ?? job.createdAt;
    const stoppedAt = job.stoppedAt ?? startedAt;
    runs.push({
      id: job.id,
      name: job.name,
      number: job.number,
      projectSlug: job.projectSlug,
      workflowId: job.workflowId,
      workflowName: job.workflowName,
      pipelineNumber: job.pipelineNumber,
      ...(job.checkout.branch !== undefined ? { branch: job.checkout.branch } : {}),
      revision: job.checkout.revision,
      status,
      startedAt,
      stoppedAt,
      durationMs: job.startedAt ? Math.max(0, Date.parse(stoppedAt) - Date.parse(job.startedAt)) : null,
      queuedMs:
        job.startedAt && job.queuedAt
          ? Math.max(0, Date.parse(job.startedAt) - Date.parse(job.queuedAt))
          : null,
      creditsUsed: 0,
    });
  }
  return runs;
}

/** Runs `work` over `items`, `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function putAll(gyre: Gyre, items: readonly Item[]) {
  const failed = (await putItems(gyre, items)).find((e) => e !== undefined);
  if (failed) throw failed;
}

/**
 * Records workflow `workflow`'s run if `status` ends it and it is not recorded yet; never
 * throws (see the top of this file).
 */
export async function recordRuns(
  gyre: Gyre,
  workflow: { id: string; projectSlug: string; createdAt: string },
  status: WorkflowStatus,
  log = defaultLog,
): Promise<void> {
  if (!workflowRunStatus(status)) return;
  try {
    const key = Keys.workflowRun(workflow.projectSlug, workflow.createdAt, workflow.id);
    if (await getItem(gyre, key, z.object({ id: z.string() }), "workflow run")) return;
    // Read again: the advance that ended it moved jobs its own copy does not show in full.
    const { workflow: ended, jobs } = await readWorkflow(gyre, workflow.id);
    const runStatus = workflowRunStatus(ended.status);
    if (!runStatus || jobs.length === 0) return;
    const first = jobs[0]!;
    const stoppedAt =
      jobs
        .map((j) => j.stoppedAt)
        .filter((s): s is string => Boolean(s))
        .sort()
        .at(-1) ?? new Date(gyre.now()).toISOString();
    const runs = jobRunsOf(jobs);
    const byId = new Map(jobs.map((j) => [j.id, j]));

    // Test results: read for the jobs that started and have a `store_test_results` step (they
    // uploaded them as they ran).
    const tests = new Map<string, TestCaseResult[]>();
    const storesTests = (job: Job | undefined) =>
      job?.plan?.steps.some((step) => step.type === "store_test_results") ?? false;
    await eachLimited(
      runs.filter((r) => r.durationMs !== null && storesTests(byId.get(r.id))),
      4,
      async (run) => {
        const results = await listTestResults(gyre, byId.get(run.id)!);
        if (results.length > 0) tests.set(run.id, results);
      },
    );

    const runExpiry = expiresAt(gyre, RUN_RETENTION_DAYS);
    await putAll(
      gyre,
      runs.map((run) => jobRunItem(run, runExpiry)),
    );
    for (const run of runs) {
      const results = tests.get(run.id);
      if (results) await recordTests(gyre, { ...run, workflowCreatedAt: ended.createdAt }, results);
    }

    const count = (results: TestCaseResult[], result: TestCaseResult["result"]) =>
      results.filter((t) => t.result === result).length;
    const runJobs: RunJob[] = runs.map((run) => {
      const results = tests.get(run.id);
      return {
        id: run.id,
        name: run.name,
        number: run.number,
        attempt: byId.get(run.id)!.attempt,
        status: run.status,
        ...(results
          ? {
              tests: {
                success: count(results, "success"),
                failure: count(results, "failure"),
                skipped: count(results, "skipped"),
              },
            }
          : {}),
      };
    });
    const record: WorkflowRun = {
      id: ended.id,
      name: ended.name,
      projectSlug: ended.projectSlug,
      pipelineId: ended.pipelineId,
      pipelineNumber: ended.pipelineNumber,
      ...(first.checkout.branch !== undefined ? { branch: first.checkout.branch } : {}),
      revision: first.checkout.revision,
      status: runStatus,
      createdAt: ended.createdAt,
      stoppedAt,
      durationMs: Math.max(0, Date.parse(stoppedAt) - Date.parse(ended.createdAt)),
      queuedMs: workflowQueueMs(runs),
      creditsUsed: 0,
      ...(ended.rerunOf ? { rerunOf: ended.rerunOf } : {}),
      jobs: runJobs,
    };
    // Last: once it is there, the workflow counts as recorded.
    await putAll(gyre, [workflowRunItem(record, runExpiry)]);
  } catch (error) {
    eventsOf(gyre).count("dispatchErrors", { stage: "insights" });
    log(`insights: run of workflow ${workflow.id} not recorded: ${(error as Error).message}`);
  }
}

/** A workflow run as the table holds it (keys in table.ts). */
export const workflowRunItem = (run: WorkflowRun, expiresAt: number): Item => ({
  ...Keys.workflowRun(run.projectSlug, run.createdAt, run.id),
  gsi1pk: Index.workflowRunsOf(run.projectSlug, run.name),
  gsi1sk: `${run.createdAt}#${run.id}`,
  ...run,
  expiresAt,
});

/** A job run as the table holds it. */
export const jobRunItem = (run: JobRun, expiresAt: number): Item => ({
  ...Keys.jobRun(run.projectSlug, run.workflowName, run.startedAt, run.id),
  gsi1pk: Index.jobRunsOf(run.projectSlug, run.workflowName, run.name),
  gsi1sk: `${run.startedAt}#${run.id}`,
  ...run,
  expiresAt,
});
