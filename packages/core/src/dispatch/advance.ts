/**
 * Advancing a workflow: every blocked job whose requirements ended as it requires is released
 * (queued, on hold for an approval, success for a no-op); one whose requirement ended
 * otherwise is `not_run` (it leaves the active index), and so on down the graph. Safe to run
 * concurrently and repeatedly: each move is a conditional write and each execution start is
 * idempotent; the last finisher always sees every job terminal.
 */
import type { Gyre } from "../context.ts";
import { reportWorkflow } from "../github/statuses.ts";
import { recordRuns } from "../insights/record.ts";
import { findJob, type Job, type JobStatus } from "../job/index.ts";
import { jobMove } from "../job/transitions.ts";
import { tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { readiness, readWorkflow, type WorkflowStatus, workflowStatus } from "../workflow/index.ts";
import { startAllocations } from "./execution.ts";

/** The status a job takes once nothing holds it back. */
export function readyStatus(type: Job["type"]): JobStatus {
  return type === "approval" ? "on_hold" : type === "no-op" ? "success" : "queued";
}

async function release(gyre: Gyre, job: Job): Promise<JobStatus | undefined> {
  const now = new Date(gyre.now()).toISOString();
  const next = readyStatus(job.type);
  const spec =
    next === "queued"
      ? jobMove(job, "unblock", "queued", { queuedAt: now }, gyre.now())
      : next === "on_hold"
        ? jobMove(job, "hold", "on_hold", {}, gyre.now())
        : jobMove(job, "pass", "success", { startedAt: now, stoppedAt: now }, gyre.now());
  if (!(await tryUpdate(gyre, Keys.job(job.workflowId, job.name), spec))) return undefined;
  if (next === "queued") await startAllocations(gyre, { ...job, status: next });
  return next;
}

/**
 * A job whose dependencies will never be satisfied is `not_run` (CircleCI's flexible requires):
 * the jobs that require it see a terminal status. If another advance moved it first, its status is read.
 */
async function strand(gyre: Gyre, job: Job): Promise<JobStatus | undefined> {
  if (
    await tryUpdate(
      gyre,
      Keys.job(job.workflowId, job.name),
      jobMove(job, "strand", "not_run", {}, gyre.now()),
    )
  )
    return "not_run";
  const current = await findJob(gyre, job.workflowId, job.name);
  return current && current.status !== "blocked" ? current.status : undefined;
}

export async function advanceWorkflow(gyre: Gyre, workflowId: string): Promise<WorkflowStatus> {
  const { workflow, jobs } = await readWorkflow(gyre, workflowId);
  const statusOf = new Map(jobs.map((j) => [j.name, j.status]));
  // Until nothing changes: a no-op job that succeeds can release the jobs behind it.
  for (let changed = true; changed; ) {
    changed = false;
    for (const job of jobs) {
      if (statusOf.get(job.name) !== "blocked") continue;
      const state = readiness(job, (n) => statusOf.get(n));
      if (state === "waiting") continue;
      const next = state === "stranded" ? await strand(gyre, job) : await release(gyre, job);
      if (next) {
        statusOf.set(job.name, next);
        job.status = next;
        changed = true;
      }
    }
  }
  const status = workflowStatus(
    jobs.map((j) => ({ ...j, status: statusOf.get(j.name)! })),
    workflow.canceledAt !== undefined,
  );
  // Every change of a workflow's status passes here: its commit status on GitHub, once per
  // change, never failing nor holding up the build (github/statuses.ts says how).
  await reportWorkflow(gyre, workflow, jobs, status);
  // Insights: when this status ends the workflow, its run and its jobs' runs are recorded once
  // (a lookup on later advances), never failing the build (insights/record.ts says how).
  await recordRuns(gyre, workflow, status);
  return status;
}
