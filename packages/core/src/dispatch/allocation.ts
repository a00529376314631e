/**
 * An allocation's life on a builder: claimed (one winner), refused, finished; and, when its
 * node is gone, lost and retried on a new attempt. Every write is a move of the transition
 * table (job/transitions.ts) fenced by the attempt and the node, so the writes of an attempt
 * that was declared lost are refused.
 */

import { auditJob } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { conflict, forbidden } from "../error.ts";
import {
  type AllocationStatus,
  findJob,
  freshAllocations,
  type Job,
  JobSchema,
  type JobStatus,
  parallelismOf,
  statusFromAllocations,
  TERMINAL_ALLOCATION,
  TERMINAL_JOB,
} from "../job/index.ts";
import { allocationMove, combine, jobMove } from "../job/transitions.ts";
import { eventsOf, secondsBetween } from "../metrics/events.ts";
import { writeOutput } from "../output/index.ts";
import type { AllocationRef, ClaimRequest, FinishRequest } from "../protocol/agent.ts";
import type { Condition } from "../store/index.ts";
import { tryUpdate, updateItem } from "../store/index.ts";
import { Keys } from "../table.ts";
import {
  claimableBy,
  failExecution,
  mayClaim,
  NODE_LOST,
  refsOf,
  releaseExecution,
  startAllocations,
  stopExecution,
} from "./execution.ts";

/** Infrastructure failures (a lost node) retried on a new attempt before the job is `infrastructure_fail`. */
export const MAX_INFRASTRUCTURE_RETRIES = 1;

const iso = (gyre: Gyre) => new Date(gyre.now()).toISOString();
const keyOf = (ref: AllocationRef) => Keys.job(ref.workflowId, ref.jobName);
const heldBy = (ref: AllocationRef, nodeId: string): Condition[] => [
  { path: ["allocations", String(ref.index), "nodeId"], eq: nodeId },
];

/** True when `job` shows `ref` as running on `nodeId` (a retried call from the node that holds it). */
export function holds(job: Job | undefined, ref: AllocationRef, nodeId: string): job is Job {
  const alloc = job?.allocations[String(ref.index)];
  return Boolean(
    job &&
      job.id === ref.jobId &&
      job.attempt === ref.attempt &&
      alloc?.status === "running" &&
      alloc.nodeId === nodeId,
  );
}

/**
 * A builder takes an allocation: one conditional write moves the allocation to `running` on
 * this node (storing the execution's task token) and the job to `running`. Exactly one claim
 * wins; a retried claim from the same node gets the job again. A node that declared its classes
 * (`offered`) claims only a job it may run (mayClaim): another is refused with 403 and stays
 * queued for a node that offers its class.
 */
export async function claimAllocation(
  gyre: Gyre,
  request: ClaimRequest,
  offered?: readonly string[],
): Promise<Job> {
  const { allocation: ref, node_id: nodeId, task_token: taskToken } = request;
  const now = gyre.now();
  const fence = { id: ref.jobId, attempt: ref.attempt };
  const startedAt = iso(gyre);
  const spec = combine(
    allocationMove(fence, ref.index, "claim", "running", { nodeId, startedAt, taskToken }, now, [
      { path: "id", eq: ref.jobId },
      ...(offered ? [claimableBy(gyre, offered)] : []),
    ]),
    jobMove(fence, "start", "running", {}, now),
    { setIfMissing: { startedAt } },
  );
  const job = await updateItem(gyre, keyOf(ref), spec, JobSchema, "job");
  if (job) {
    // The job's first claim started it (its other allocations' claims do not start it again).
    if (job.startedAt === startedAt) await auditJob(gyre, "workflow.job.start", job);
    // Observed once, by the claim that won (a retried claim below is not a second wait).
    const waited = secondsBetween(job.queuedAt, now);
    if (waited !== undefined)
      eventsOf(gyre).observe("queueTime", { resource_class: job.plan?.resourceClass ?? "medium" }, waited);
    return job;
  }
  const current = await findJob(gyre, ref.workflowId, ref.jobName);
  // Still waiting at this attempt: the class condition refused it (nothing else can, then).
  const waiting =
    current?.id === ref.jobId &&
    current.attempt === ref.attempt &&
    current.allocations[String(ref.index)]?.status === "queued";
  const resourceClass = current?.plan?.resourceClass;
  if (holds(current, ref, nodeId)) return current;
  if (offered && waiting && resourceClass && !mayClaim(gyre, offered, resourceClass))
    throw forbidden(
      `Node ${nodeId} offers resource class ${offered.join(", ")}, not ${resourceClass}: this job waits for a node that does. The queue this node polls carries jobs it must not run.`,
    );
  throw conflict("This allocation was already claimed, or belongs to an earlier attempt.");
}

/**
 * A claimed allocation that must not run: CircleCI's `unauthorized` (a context the job names
 * does not exist). The reason becomes the output of the job's one step, the job ends
 * `unauthorized` with every allocation not yet claimed, and the workflow moves on.
 */
export async function refuseAllocation(
  gyre: Gyre,
  job: Job,
  ref: AllocationRef,
  nodeId: string,
  reason: string,
) {
  const now = iso(gyre);
  await writeOutput(gyre, ref, {
    chunks: [{ step: 0, seq: 0, data: `${reason}\n` }],
    steps: [
      {
        index: 0,
        name: "Spin up environment",
        type: "spin_up",
        status: "failed",
        startedAt: now,
        endedAt: now,
      },
    ],
  });
  const queued = Object.entries(job.allocations)
    .filter(([i, a]) => i !== String(ref.index) && a.status === "queued")
    .map(([i]) => Number(i));
  const spec = combine(
    allocationMove(job, ref.index, "refuse", "failed", { stoppedAt: now }, gyre.now(), heldBy(ref, nodeId)),
    ...queued.map((i) => allocationMove(job, i, "refuse", "failed", { stoppedAt: now }, gyre.now())),
    jobMove(
      job,
      "refuse",
      "unauthorized",
      { stoppedAt: now, messages: [{ type: "error", message: reason }] },
      gyre.now(),
    ),
  );
  const refused = await updateItem(gyre, keyOf(ref), spec, JobSchema, "job");
  if (!refused) return; // someone else already moved this job on
  // The claimed allocation's execution goes on to Finalize; the others have nobody to wait for.
  const token = refused.allocations[String(ref.index)]?.taskToken;
  await Promise.all([
    token ? releaseExecution(gyre, token, "failed") : undefined,
    ...refsOf(job)
      .filter((r) => queued.includes(r.index))
      .map((r) => stopExecution(gyre, r, reason)),
  ]);
}

/**
 * The node running an allocation reports its outcome: the terminal status is written first
 * (visible at once; for a job of one allocation the job's status is in the same write), then
 * the execution is released to Finalize. A repeated report is harmless.
 */
export async function finishAllocation(
  gyre: Gyre,
  request: FinishRequest & { parallelism: number },
): Promise<void> {
  const { allocation: ref, node_id: nodeId, status, parallelism } = request;
  const now = iso(gyre);
  const fence = { id: ref.jobId, attempt: ref.attempt };
  const single = parallelism === 1;
  const spec = combine(
    allocationMove(fence, ref.index, "finish", status, { stoppedAt: now }, gyre.now(), [
      ...heldBy(ref, nodeId),
      { path: "id", eq: ref.jobId },
      { path: "allocations", size: parallelism },
    ]),
    ...(single ? [jobMove(fence, "settle", status, { stoppedAt: now }, gyre.now())] : []),
  );
  let job = await updateItem(gyre, keyOf(ref), spec, JobSchema, "job");
  if (job) {
    if (single) await auditJob(gyre, "workflow.job.finish", job);
    // Observed by the report whose write applied (a retried report below is not a second run).
    const ran = secondsBetween(job.allocations[String(ref.index)]?.startedAt, now);
    if (ran !== undefined)
      eventsOf(gyre).observe(
        "jobDuration",
        { resource_class: job.plan?.resourceClass ?? "medium", status },
        ran,
      );
  } else {
    const current = await findJob(gyre, ref.workflowId, ref.jobName);
    const alloc = current?.allocations[String(ref.index)];
    if (!current || current.attempt !== ref.attempt || alloc?.status !== status || alloc.nodeId !== nodeId) {
      throw conflict(
        "This allocation is not running on this node any more (it was retried, lost or canceled).",
      );
    }
    job = current; // already recorded: a retried report
  }
  // A parallel job settles once its last allocation is done (or this report's first try died in between).
  if (parallelismOf(job) > 1) await settleJob(gyre, job);
  const token = job.allocations[String(ref.index)]?.taskToken;
  if (token) await releaseExecution(gyre, token, status);
}

/** Sets a job's status from its allocations when they are all done. */
export async function settleJob(gyre: Gyre, job: Job): Promise<boolean> {
  const status = statusFromAllocations(job.allocations);
  if (!TERMINAL_JOB.has(status) || TERMINAL_JOB.has(job.status)) return false;
  const settled = await tryUpdate(
    gyre,
    Keys.job(job.workflowId, job.name),
    jobMove(job, "settle", status, { stoppedAt: iso(gyre) }, gyre.now()),
  );
  if (settled) await auditJob(gyre, "workflow.job.finish", { ...job, status });
  return settled;
}

/** `expired`: it waited in its queue past the queue timeout (never retried). */
export type LossReason = "infrastructure_fail" | "timedout" | "expired";

/**
 * An allocation that cannot finish where it is: its node was lost (a new attempt if the
 * retry budget allows; one never claimed costs nothing from it), or the execution gave up.
 * Only if the allocation is still as it was read: a report that landed in between wins.
 * The old attempt's executions are failed or stopped, so they finalize as no-ops.
 */
export async function loseAllocation(
  gyre: Gyre,
  job: Job,
  ref: AllocationRef,
  reason: LossReason,
  message: string,
  /** Whether the retry is free (default: only for an allocation no builder ever claimed). */
  options: { free?: boolean } = {},
): Promise<boolean> {
  const alloc = job.allocations[String(ref.index)];
  if (!alloc || TERMINAL_ALLOCATION.has(alloc.status) || job.attempt !== ref.attempt) return false;
  const neverClaimed = options.free ?? alloc.status === "queued";
  const retry =
    reason === "infrastructure_fail" && (neverClaimed || job.retries < MAX_INFRASTRUCTURE_RETRIES);
  const now = iso(gyre);
  const seen: Condition[] = [
    { path: ["allocations", String(ref.index), "status"], eq: alloc.status },
    ...(alloc.nodeId ? heldBy(ref, alloc.nodeId) : []),
  ];
  const messages = [...(job.messages ?? []), { type: "warning", message }];
  let next: Job | undefined;
  if (retry) {
    const fields = {
      attempt: job.attempt + 1,
      retries: job.retries + (neverClaimed ? 0 : 1),
      allocations: freshAllocations(parallelismOf(job)),
      queuedAt: now,
      // The new attempt's start is its own claim's.
      startedAt: undefined,
      messages,
    };
    next = await updateItem(
      gyre,
      Keys.job(job.workflowId, job.name),
      combine(jobMove(job, "retry", "queued", fields, gyre.now()), { when: seen }),
      JobSchema,
      "job",
    );
    if (!next) return false;
  } else {
    const to: JobStatus = reason === "expired" ? "infrastructure_fail" : reason;
    const spec = combine(
      alloc.status === "running"
        ? allocationMove(job, ref.index, "lose", "lost", { stoppedAt: now }, gyre.now())
        : allocationMove(job, ref.index, "expire", "infrastructure_fail", { stoppedAt: now }, gyre.now()),
      jobMove(job, "settle", to, { stoppedAt: now, messages }, gyre.now()),
      { when: seen },
    );
    if (!(await tryUpdate(gyre, Keys.job(job.workflowId, job.name), spec))) return false;
  }
  // A retry ends the old attempt: its waiting executions finalize as no-ops. A failure ends
  // this allocation and the queued ones nobody will claim; running siblings finish as usual.
  await Promise.all(
    refsOf(job).map((r) => {
      const a = job.allocations[String(r.index)];
      if (!retry && r.index !== ref.index && a?.status !== "queued") return undefined;
      if (a?.status === "running" && a.taskToken) return failExecution(gyre, a.taskToken, NODE_LOST, message);
      if (a?.status === "queued") return stopExecution(gyre, r, message);
      return undefined;
    }),
  );
  if (next) await startAllocations(gyre, next);
  return true;
}

export const isFinished = (s: AllocationStatus) => TERMINAL_ALLOCATION.has(s);
