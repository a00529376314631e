/**
 * What users do to a workflow once it runs: approve an approval job, cancel one job, cancel the
 * whole workflow. Each is moves of the transition table (job/transitions.ts `approve`,
 * `cancel`), conditional on the state the caller read, so a report or a claim that lands in
 * between makes the move be read and tried again, never lost. A canceled allocation that a
 * node runs is stopped by that node within a second or two (it polls `/agent/v1/stops`); its
 * execution goes on to Finalize at once, so the workflow moves on without waiting for it.
 */
import { auditJob } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { conflict, notFound } from "../error.ts";
import { findJob, type Job, JobSchema, TERMINAL_JOB } from "../job/index.ts";
import { allocationMove, combine, jobMove } from "../job/transitions.ts";
import { tryUpdate, updateItem } from "../store/index.ts";
import { Keys } from "../table.ts";
import { readWorkflow, TERMINAL_WORKFLOW, type WorkflowStatus } from "../workflow/index.ts";
import { advanceWorkflow } from "./advance.ts";
import { refsOf, releaseExecution, stopExecution } from "./execution.ts";

/** Attempts at a move whose item changed under it (a claim, a report) before giving up. */
const ATTEMPTS = 8;

const iso = (gyre: Gyre) => new Date(gyre.now()).toISOString();

/**
 * Approves the approval job `approvalId` of a workflow (its `approval_request_id`, which is its
 * job id): it succeeds, `approvedBy` the user, and what requires it is released.
 */
export async function approveJob(
  gyre: Gyre,
  workflowId: string,
  approvalId: string,
  userId: string,
): Promise<Job> {
  const { jobs } = await readWorkflow(gyre, workflowId);
  const job = jobs.find((j) => j.id === approvalId && j.type === "approval");
  if (!job) throw notFound(`Approval request ${approvalId} not found in workflow ${workflowId}.`);
  if (job.status !== "on_hold") throw notOnHold(job);
  const now = iso(gyre);
  const approved = await tryUpdate(
    gyre,
    Keys.job(workflowId, job.name),
    jobMove(job, "approve", "success", { approvedBy: userId, stoppedAt: now }, gyre.now()),
  );
  if (!approved) {
    const current = await findJob(gyre, workflowId, job.name);
    throw notOnHold(current ?? job);
  }
  await advanceWorkflow(gyre, workflowId);
  return job;
}

const notOnHold = (job: Job) =>
  conflict(
    job.status === "success" && job.approvedBy
      ? `Approval job ${job.name} was already approved.`
      : `Approval job ${job.name} is not on hold (it is ${job.status}): only a job on hold can be approved.`,
  );

/**
 * Cancels one job: its queued and running allocations and the job itself are `canceled` in one
 * write. Executions of allocations never claimed are stopped; those a node runs go on to
 * Finalize. False when the job had already ended (nothing to cancel).
 */
async function cancelOne(gyre: Gyre, read: Job, userId: string): Promise<boolean> {
  let job: Job | undefined = read;
  for (let attempt = 0; attempt < ATTEMPTS && job && !TERMINAL_JOB.has(job.status); attempt++) {
    const now = iso(gyre);
    const live = Object.entries(job.allocations)
      .filter(([, a]) => a.status === "queued" || a.status === "running")
      .map(([index]) => Number(index));
    const spec = combine(
      ...live.map((i) => allocationMove(job!, i, "cancel", "canceled", { stoppedAt: now }, gyre.now())),
      jobMove(job, "cancel", "canceled", { canceledBy: userId, stoppedAt: now }, gyre.now()),
      // The allocations not moved must still be as read (finished), or the write is read again.
      {
        when: Object.entries(job.allocations)
          .filter(([index]) => !live.includes(Number(index)))
          .map(([index, a]) => ({ path: ["allocations", index, "status"], eq: a.status })),
      },
    );
    const canceled = await updateItem(gyre, Keys.job(job.workflowId, job.name), spec, JobSchema, "job");
    if (canceled) {
      await auditJob(gyre, "workflow.job.finish", canceled, { id: userId, type: "user" });
      await Promise.all(
        refsOf(job)
          .filter((ref) => live.includes(ref.index))
          .map((ref) => {
            // A claim may have landed in between: the token the write kept says who holds it.
            const token = canceled.allocations[String(ref.index)]?.taskToken;
            return token
              ? releaseExecution(gyre, token, "canceled")
              : stopExecution(gyre, ref, "The job was canceled.");
          }),
      );
      return true;
    }
    job = await findJob(gyre, read.workflowId, read.name);
  }
  if (job && !TERMINAL_JOB.has(job.status))
    throw conflict(`Job ${read.name} changed while it was being canceled: try again.`);
  return false;
}

/** Cancels a job (by its workflow and name, as read): `not_run` for what requires it. */
export async function cancelJob(gyre: Gyre, job: Job, userId: string): Promise<WorkflowStatus> {
  if (TERMINAL_JOB.has(job.status)) throw alreadyEnded(`Job ${job.number}`, job.status);
  if (!(await cancelOne(gyre, job, userId))) {
    const current = await findJob(gyre, job.workflowId, job.name);
    throw alreadyEnded(`Job ${job.number}`, current?.status ?? job.status);
  }
  return advanceWorkflow(gyre, job.workflowId);
}

const alreadyEnded = (what: string, status: string) =>
  conflict(`${what} has already ended (it is ${status}): there is nothing to cancel.`);

/**
 * Cancels a workflow: marks it canceled (once), then cancels every job that has not ended,
 * blocked ones included, so nothing is released after. Repeating it after a crash completes it.
 */
export async function cancelWorkflow(
  gyre: Gyre,
  workflowId: string,
  userId: string,
): Promise<WorkflowStatus> {
  const { workflow, jobs } = await readWorkflow(gyre, workflowId);
  if (TERMINAL_WORKFLOW.has(workflow.status))
    throw alreadyEnded(`Workflow ${workflow.name}`, workflow.status);
  await tryUpdate(gyre, Keys.workflow(workflowId), {
    set: { canceledBy: userId, canceledAt: iso(gyre) },
    when: [{ path: "canceledAt", exists: false }],
  });
  await Promise.all(jobs.filter((j) => !TERMINAL_JOB.has(j.status)).map((j) => cancelOne(gyre, j, userId)));
  return advanceWorkflow(gyre, workflowId);
}
