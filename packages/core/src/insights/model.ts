/**
 * Run records, as the table holds them (keys in table.ts). Written once per finished workflow
 * (record.ts), read by every insights query (read.ts); small, so that a reporting window of a
 * busy project stays a few pages of one query.
 */
import type { JobStatus } from "../job/index.ts";
import { z } from "../protocol/schema.ts";
import type { WorkflowStatus } from "../workflow/index.ts";
import type { Outcome, RunFacts } from "./metrics.ts";

/** How long run records are kept: a 90-day window and the 90 days before it (its trends). */
export const RUN_RETENTION_DAYS = 180;
/** How long test runs and flaky test runs are kept: CircleCI's 90 days of insights. */
export const TEST_RETENTION_DAYS = 90;

/** A workflow run's status, CircleCI's `getProjectWorkflowRuns` values. */
export const WORKFLOW_RUN_STATUSES = ["success", "failed", "error", "canceled", "unauthorized"] as const;
export type WorkflowRunStatus = (typeof WORKFLOW_RUN_STATUSES)[number];
/** A job run's status, CircleCI's `getProjectJobRuns` values (`not_run` jobs are not recorded). */
export const JOB_RUN_STATUSES = ["success", "failed", "canceled", "unauthorized"] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

/** The workflow statuses a run is recorded for: the ends of a workflow that ran something. */
export function workflowRunStatus(status: WorkflowStatus): WorkflowRunStatus | undefined {
  return (WORKFLOW_RUN_STATUSES as readonly string[]).includes(status)
    ? (status as WorkflowRunStatus)
    : undefined;
}

/** A job's end as a run: a timeout or an infrastructure failure is a failure; `not_run` is no run. */
export function jobRunStatus(status: JobStatus): JobRunStatus | undefined {
  switch (status) {
    case "success":
    case "canceled":
    case "unauthorized":
      return status;
    case "failed":
    case "timedout":
    case "infrastructure_fail":
      return "failed";
    default:
      return undefined;
  }
}

export const outcomeOf = (status: WorkflowRunStatus | JobRunStatus): Outcome =>
  status === "success" ? "success" : status === "canceled" ? "canceled" : "failure";

const iso = z.string().min(1).max(40);

export const TestCountsSchema = z.object({
  success: z.number().int(),
  failure: z.number().int(),
  skipped: z.number().int(),
});
export type TestCounts = z.infer<typeof TestCountsSchema>;

/** A job of a workflow run, as the run lists it (what test metrics read back). */
export const RunJobSchema = z.object({
  id: z.string(),
  name: z.string(),
  number: z.number().int(),
  attempt: z.number().int(),
  status: z.enum(JOB_RUN_STATUSES),
  /** Present when the job stored test results. */
  tests: TestCountsSchema.optional(),
});
export type RunJob = z.infer<typeof RunJobSchema>;

export const WorkflowRunSchema = z.object({
  id: z.string(),
  name: z.string(),
  projectSlug: z.string(),
  pipelineId: z.string(),
  pipelineNumber: z.number().int(),
  branch: z.string().optional(),
  revision: z.string(),
  status: z.enum(WORKFLOW_RUN_STATUSES),
  createdAt: iso,
  stoppedAt: iso,
  /** `stoppedAt - createdAt`. */
  durationMs: z.number().int(),
  /**
   * How long, during the run, at least one of its jobs waited for a builder: the union of its
   * job runs' waits (`workflowQueueMs`). Null when none of them waited and started; absent in
   * records written before Gyre recorded it. Either way no queue-time sample.
   */
  queuedMs: z.number().int().nullable().optional(),
  creditsUsed: z.literal(0),
  rerunOf: z.string().optional(),
  /** The jobs this run ran (not those a rerun carried over), approvals left out. */
  jobs: z.array(RunJobSchema),
});
export type WorkflowRun = z.infer<typeof WorkflowRunSchema>;

export const JobRunSchema = z.object({
  id: z.string(),
  name: z.string(),
  number: z.number().int(),
  projectSlug: z.string(),
  workflowId: z.string(),
  workflowName: z.string(),
  pipelineNumber: z.number().int(),
  branch: z.string().optional(),
  revision: z.string(),
  status: z.enum(JOB_RUN_STATUSES),
  /** When it started, or when it was created for a job canceled before it started. */
  startedAt: iso,
  stoppedAt: iso,
  /** Null when it never started. */
  durationMs: z.number().int().nullable(),
  /**
   * How long it waited for a builder: `startedAt - queuedAt` of its last attempt (a retry queues
   * it again). Null when it never started, or was never queued (a no-op job); absent in records
   * written before Gyre recorded it. Either way no queue-time sample.
   */
  queuedMs: z.number().int().nullable().optional(),
  creditsUsed: z.literal(0),
});
export type JobRun = z.infer<typeof JobRunSchema>;

/** One failed test of a test run, with what the flaky tests list shows of it. */
export const FailedTestSchema = z.object({
  digest: z.string(),
  name: z.string(),
  classname: z.string(),
  file: z.string(),
  source: z.string(),
});

/** What one job run's tests did on its commit: its failures, and the digests of its passes. */
export const TestRunSchema = z.object({
  jobId: z.string(),
  jobName: z.string(),
  jobNumber: z.number().int(),
  workflowId: z.string(),
  workflowName: z.string(),
  workflowCreatedAt: iso,
  pipelineNumber: z.number().int(),
  startedAt: iso,
  durationMs: z.number().int().nullable(),
  failed: z.array(FailedTestSchema),
  passed: z.array(z.string()),
});
export type TestRun = z.infer<typeof TestRunSchema>;

/** One failure of a test that passed on the same commit in another run of its job. */
export const FlakyTestRunSchema = FailedTestSchema.extend({
  jobName: z.string(),
  jobNumber: z.number().int(),
  jobId: z.string(),
  workflowId: z.string(),
  workflowName: z.string(),
  workflowCreatedAt: iso,
  pipelineNumber: z.number().int(),
  startedAt: iso,
  /** The failing job's duration. */
  durationMs: z.number().int().nullable(),
});
export type FlakyTestRun = z.infer<typeof FlakyTestRunSchema>;

const secs = (ms: number | null) => (ms === null ? null : Math.max(0, Math.round(ms / 1000)));

/** A workflow run's duration in whole seconds (what the runs list and the metrics show). */
export const workflowDurationSecs = (run: Pick<WorkflowRun, "durationMs">) => secs(run.durationMs)!;
export const jobDurationSecs = (run: Pick<JobRun, "durationMs">) => secs(run.durationMs);
/** A run's queue time in whole seconds; null when it has none (no sample). */
export const queueSecs = (run: { queuedMs?: number | null }) => secs(run.queuedMs ?? null);

/**
 * A workflow run's queue time: how long at least one of its jobs was waiting for a builder, the
 * union of their waits. Jobs waiting side by side count once, so it never exceeds the run's
 * duration; for jobs that run one after another it is the sum of their waits. Null when none of
 * its job runs has a queue time.
 */
export function workflowQueueMs(jobs: readonly Pick<JobRun, "startedAt" | "queuedMs">[]): number | null {
  const waits = jobs
    .filter((j) => j.queuedMs !== null && j.queuedMs !== undefined)
    .map((j) => {
      const end = Date.parse(j.startedAt);
      return [end - j.queuedMs!, end] as const;
    })
    .sort((a, b) => a[0] - b[0]);
  if (waits.length === 0) return null;
  let total = 0;
  let [start, end] = waits[0]!;
  for (const [from, to] of waits.slice(1)) {
    if (from > end) {
      total += end - start;
      [start, end] = [from, to];
    } else end = Math.max(end, to);
  }
  return total + (end - start);
}

export const workflowFacts = (run: WorkflowRun): RunFacts => ({
  at: Date.parse(run.createdAt),
  stoppedAt: Date.parse(run.stoppedAt),
  durationSecs: workflowDurationSecs(run),
  queueSecs: queueSecs(run),
  outcome: outcomeOf(run.status),
  ...(run.branch !== undefined ? { branch: run.branch } : {}),
});

export const jobFacts = (run: JobRun): RunFacts => ({
  at: Date.parse(run.startedAt),
  stoppedAt: Date.parse(run.stoppedAt),
  durationSecs: jobDurationSecs(run),
  queueSecs: queueSecs(run),
  outcome: outcomeOf(run.status),
  ...(run.branch !== undefined ? { branch: run.branch } : {}),
});
