/**
 * Dispatch: from a queued job to a finished one (DESIGN.md "Dispatch, in order", steps 3-6).
 *
 * One Step Functions execution per allocation (job attempt x parallel index), named by it so
 * a duplicate start is a no-op. The execution puts the allocation on its resource class's
 * queue with a task token; a builder claims it here with a conditional write, heartbeats,
 * and finishes it here: the terminal status is written first, then SendTaskSuccess lets the
 * execution's Finalize step advance the workflow. A builder that goes silent raises
 * States.HeartbeatTimeout in the execution, and finalize retries the job on a new attempt
 * once before giving up with `infrastructure_fail`. The reconciler repairs what a lost
 * message, a lost execution or a crash between two writes left behind.
 */
import {
  DescribeExecutionCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { queryAll } from "../aws/dynamo.ts";
import { isConditionFailure } from "../aws/index.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, GyreError } from "../error.ts";
import {
  type AllocationStatus,
  freshAllocations,
  getJob,
  type Job,
  type JobStatus,
  statusFromAllocations,
  TERMINAL_ALLOCATION,
  TERMINAL_JOB,
} from "../job/index.ts";
import { writeOutput } from "../output/index.ts";
import { queueKey } from "../resources.ts";
import { ACTIVE_SHARDS, Keys } from "../table.ts";
import { readWorkflow, TERMINAL_WORKFLOW, type WorkflowStatus, workflowStatus } from "../workflow/index.ts";

/** What a queue message and an execution carry: ids, never documents. */
export interface AllocationRef {
  workflowId: string;
  jobName: string;
  jobId: string;
  attempt: number;
  index: number;
}

export interface ExecutionInput {
  queueUrl: string;
  heartbeatSeconds: number;
  allocation: AllocationRef;
}

/** What the state machine hands Finalize: its input plus the builder's result or the error. */
export interface FinalizeInput extends ExecutionInput {
  result?: { status: AllocationStatus };
  error?: { Error: string; Cause?: string };
}

/** Infrastructure failures retried on a new attempt before the job is `infrastructure_fail`. */
export const MAX_INFRASTRUCTURE_RETRIES = 1;
/** The resource class whose queue takes jobs naming a class with no queue of its own. */
export const FALLBACK_RESOURCE_CLASS = "medium";

export const executionName = (ref: AllocationRef) => `${ref.jobId}-${ref.attempt}-${ref.index}`;

export function executionArn(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

/** The shard of the sparse `gsi2` index an active job or workflow is listed under. */
export function activeShard(id: string): string {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) | 0;
  return `ACTIVE#${Math.abs(h) % ACTIVE_SHARDS}`;
}

export function queueUrlFor(gyre: Gyre, resourceClass: string): string {
  const queues = gyre.resources.jobQueueUrls;
  const url = queues[queueKey(resourceClass)] ?? queues[queueKey(FALLBACK_RESOURCE_CLASS)];
  if (!url) throw new GyreError("internal", `No job queue for resource class ${resourceClass}.`);
  return url;
}

/** Starts one execution per allocation of the job's current attempt (idempotent by name). */
export async function startAllocations(gyre: Gyre, job: Job): Promise<void> {
  if (!job.plan) return;
  const queueUrl = queueUrlFor(gyre, job.plan.resourceClass);
  await Promise.all(
    Object.keys(job.allocations).map(async (index) => {
      const allocation: AllocationRef = {
        workflowId: job.workflowId,
        jobName: job.name,
        jobId: job.id,
        attempt: job.attempt,
        index: Number(index),
      };
      const input: ExecutionInput = {
        queueUrl,
        heartbeatSeconds: gyre.resources.heartbeatSeconds,
        allocation,
      };
      try {
        await gyre.aws.sfn.send(
          new StartExecutionCommand({
            stateMachineArn: gyre.resources.stateMachineArn,
            name: executionName(allocation),
            input: JSON.stringify(input),
          }),
        );
      } catch (error) {
        if (!(error instanceof Error && error.name === "ExecutionAlreadyExists")) throw error;
      }
    }),
  );
}

const ALLOC = "#allocations.#i";
const names = (ref: AllocationRef) => ({
  "#allocations": "allocations",
  "#i": String(ref.index),
  "#status": "status",
});

/**
 * A builder takes an allocation. Exactly one claim wins; the winner gets the job with its
 * plan and checkout source, everything it needs to run.
 */
export async function claimAllocation(gyre: Gyre, ref: AllocationRef, nodeId: string): Promise<Job> {
  const now = new Date(gyre.now()).toISOString();
  try {
    const out = await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.job(ref.workflowId, ref.jobName),
        UpdateExpression: `SET ${ALLOC}.#status = :running, ${ALLOC}.nodeId = :node, ${ALLOC}.startedAt = :now, #status = :running, startedAt = if_not_exists(startedAt, :now), updatedAt = :ms`,
        ConditionExpression: `id = :jobId AND attempt = :attempt AND ${ALLOC}.#status = :queued`,
        ExpressionAttributeNames: names(ref),
        ExpressionAttributeValues: {
          ":running": "running",
          ":queued": "queued",
          ":node": nodeId,
          ":now": now,
          ":ms": gyre.now(),
          ":jobId": ref.jobId,
          ":attempt": ref.attempt,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return out.Attributes as Job;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    // A retried claim whose first answer was lost: the allocation is already this node's.
    const job = await getJob(gyre, ref.workflowId, ref.jobName);
    const alloc = job.allocations[String(ref.index)];
    if (
      job.id === ref.jobId &&
      job.attempt === ref.attempt &&
      alloc?.status === "running" &&
      alloc.nodeId === nodeId
    ) {
      return job;
    }
    throw conflict("This allocation was already claimed, or belongs to an earlier attempt.");
  }
}

/**
 * A claimed allocation that must not run: CircleCI's `unauthorized` (a context the job names
 * does not exist). The reason becomes the output of the job's one step, then the job ends
 * `unauthorized` with every allocation not yet claimed, and the workflow moves on. The
 * allocations are recorded `failed`, a terminal status: their executions, whose task tokens
 * only the builders hold, time out on their heartbeat and finalize leaves the job alone.
 */
export async function refuseAllocation(
  gyre: Gyre,
  job: Job,
  ref: AllocationRef,
  nodeId: string,
  reason: string,
): Promise<void> {
  const now = new Date(gyre.now()).toISOString();
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
  const queued = Object.keys(job.allocations).filter(
    (i) => i !== String(ref.index) && job.allocations[i]!.status === "queued",
  );
  const names: Record<string, string> = { "#allocations": "allocations", "#status": "status" };
  const set = [String(ref.index), ...queued].map((index, n) => {
    names[`#i${n}`] = index;
    return `#allocations.#i${n}.#status = :failed, #allocations.#i${n}.stoppedAt = :now`;
  });
  try {
    await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.job(ref.workflowId, ref.jobName),
        UpdateExpression: `SET ${set.join(", ")}, #status = :unauthorized, stoppedAt = :now, updatedAt = :ms REMOVE gsi2pk, gsi2sk`,
        ConditionExpression:
          "id = :jobId AND attempt = :attempt AND #allocations.#i0.#status = :running AND #allocations.#i0.nodeId = :node",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ":failed": "failed",
          ":unauthorized": "unauthorized",
          ":running": "running",
          ":node": nodeId,
          ":now": now,
          ":ms": gyre.now(),
          ":jobId": ref.jobId,
          ":attempt": ref.attempt,
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error; // someone else already moved this job on
  }
  await advanceWorkflow(gyre, ref.workflowId);
}

export async function heartbeatAllocation(gyre: Gyre, taskToken: string): Promise<void> {
  try {
    await gyre.aws.sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
  } catch (error) {
    if (error instanceof Error && /TaskDoesNotExist|TaskTimedOut|InvalidToken/.test(error.name)) {
      throw conflict("This allocation is no longer running (it timed out, was retried or was canceled).");
    }
    throw error;
  }
}

const FINISHED: ReadonlySet<AllocationStatus> = new Set(["success", "failed", "timedout", "canceled"]);

/**
 * A builder reports an allocation's outcome: the terminal status is written first (visible at
 * once), then the execution is released to finalize. A repeated report is harmless.
 */
export async function finishAllocation(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
  taskToken: string,
  status: AllocationStatus,
  parallelism: number,
): Promise<void> {
  if (!FINISHED.has(status)) throw badRequest(`Invalid allocation status "${status}".`);
  if (!Number.isInteger(parallelism) || parallelism < 1)
    throw badRequest("parallelism must be a positive integer.");
  const now = new Date(gyre.now()).toISOString();
  // One allocation: the job's status is the allocation's, in the same write.
  const single = parallelism === 1;
  try {
    const out = await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.job(ref.workflowId, ref.jobName),
        UpdateExpression: single
          ? `SET ${ALLOC}.#status = :status, ${ALLOC}.stoppedAt = :now, #status = :status, stoppedAt = :now, updatedAt = :ms REMOVE gsi2pk, gsi2sk`
          : `SET ${ALLOC}.#status = :status, ${ALLOC}.stoppedAt = :now, updatedAt = :ms`,
        ConditionExpression: `id = :jobId AND attempt = :attempt AND ${ALLOC}.#status = :running AND ${ALLOC}.nodeId = :node AND size(#allocations) = :n`,
        ExpressionAttributeNames: names(ref),
        ExpressionAttributeValues: {
          ":n": parallelism,
          ":status": status,
          ":running": "running",
          ":node": nodeId,
          ":now": now,
          ":ms": gyre.now(),
          ":jobId": ref.jobId,
          ":attempt": ref.attempt,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    if (!single) await settleJobStatus(gyre, out.Attributes as Job);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const job = await getJob(gyre, ref.workflowId, ref.jobName);
    if (job.attempt !== ref.attempt || job.allocations[String(ref.index)]?.status !== status) {
      throw conflict("This allocation is not running on this node any more (it was retried or canceled).");
    }
    // Already recorded: a retried report. Settle a parallel job's status (the first report may
    // have died between its two writes), then release the execution again below.
    if (parallelism > 1) await settleJobStatus(gyre, job);
  }
  try {
    await gyre.aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ status }) }));
  } catch (error) {
    if (!(error instanceof Error && /TaskDoesNotExist|TaskTimedOut|InvalidToken/.test(error.name)))
      throw error;
  }
}

/** Sets a job's status from its allocations when they are all done (parallel jobs). */
async function settleJobStatus(gyre: Gyre, job: Job): Promise<void> {
  const status = statusFromAllocations(job.allocations);
  if (!TERMINAL_JOB.has(status)) return;
  await setJobStatus(gyre, job, status, ["queued", "running"]);
}

async function setJobStatus(gyre: Gyre, job: Job, status: JobStatus, from: JobStatus[]): Promise<boolean> {
  const terminal = TERMINAL_JOB.has(status);
  const values: Record<string, unknown> = { ":status": status, ":ms": gyre.now(), ":attempt": job.attempt };
  from.forEach((s, i) => {
    values[`:from${i}`] = s;
  });
  try {
    await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.job(job.workflowId, job.name),
        UpdateExpression: terminal
          ? "SET #status = :status, stoppedAt = :now, updatedAt = :ms REMOVE gsi2pk, gsi2sk"
          : "SET #status = :status, updatedAt = :ms",
        ConditionExpression: `attempt = :attempt AND #status IN (${from.map((_, i) => `:from${i}`).join(", ")})`,
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: terminal
          ? { ...values, ":now": new Date(gyre.now()).toISOString() }
          : values,
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * The state machine's Finalize step. An error from Dispatch means the builder was lost or
 * the allocation timed out: retry the job on a new attempt, or give up. Then advance the
 * workflow: start what is now unblocked and record the workflow's status.
 */
export async function finalizeAllocation(
  gyre: Gyre,
  input: FinalizeInput,
): Promise<{ workflowStatus: WorkflowStatus }> {
  const ref = input.allocation;
  if (input.error) {
    const job = await getJob(gyre, ref.workflowId, ref.jobName);
    const alloc = job.allocations[String(ref.index)];
    if (job.attempt === ref.attempt && alloc && !TERMINAL_ALLOCATION.has(alloc.status)) {
      const reason = input.error.Error === "States.Timeout" ? "timedout" : "infrastructure_fail";
      await failOrRetry(gyre, job, ref, reason, alloc.status === "queued");
    }
  }
  return { workflowStatus: await advanceWorkflow(gyre, ref.workflowId) };
}

/**
 * A lost allocation: a new attempt if the retry budget allows (an allocation lost before any
 * builder claimed it costs nothing from the budget), else the job's terminal failure.
 */
export async function failOrRetry(
  gyre: Gyre,
  job: Job,
  ref: AllocationRef,
  reason: "infrastructure_fail" | "timedout",
  neverClaimed: boolean,
): Promise<void> {
  const retry =
    reason === "infrastructure_fail" && (neverClaimed || job.retries < MAX_INFRASTRUCTURE_RETRIES);
  const now = new Date(gyre.now()).toISOString();
  // Only if the allocation is still as it was read: a report that landed in between (the job
  // finished after all) wins, and the job is neither reset nor failed.
  const seen = job.allocations[String(ref.index)]?.status ?? "queued";
  try {
    if (retry) {
      const next = { ...job, attempt: job.attempt + 1, retries: job.retries + (neverClaimed ? 0 : 1) };
      next.allocations = freshAllocations(Object.keys(job.allocations).length);
      await gyre.aws.dynamo.send(
        new UpdateCommand({
          TableName: gyre.resources.tableName,
          Key: Keys.job(job.workflowId, job.name),
          UpdateExpression:
            "SET attempt = :next, retries = :retries, #allocations = :allocs, #status = :queued, queuedAt = :now, updatedAt = :ms, gsi2pk = :shard, gsi2sk = :id",
          ConditionExpression: `attempt = :attempt AND ${ALLOC}.#status = :seen`,
          ExpressionAttributeNames: names(ref),
          ExpressionAttributeValues: {
            ":seen": seen,
            ":shard": activeShard(job.id),
            ":id": job.id,
            ":next": next.attempt,
            ":retries": next.retries,
            ":allocs": next.allocations,
            ":queued": "queued",
            ":now": now,
            ":ms": gyre.now(),
            ":attempt": ref.attempt,
          },
        }),
      );
      await startAllocations(gyre, next);
    } else {
      await gyre.aws.dynamo.send(
        new UpdateCommand({
          TableName: gyre.resources.tableName,
          Key: Keys.job(job.workflowId, job.name),
          UpdateExpression: `SET ${ALLOC}.#status = :reason, ${ALLOC}.stoppedAt = :now, #status = :reason, stoppedAt = :now, updatedAt = :ms REMOVE gsi2pk, gsi2sk`,
          ConditionExpression: `attempt = :attempt AND ${ALLOC}.#status = :seen`,
          ExpressionAttributeNames: names(ref),
          ExpressionAttributeValues: {
            ":seen": seen,
            ":reason": reason,
            ":now": now,
            ":ms": gyre.now(),
            ":attempt": ref.attempt,
          },
        }),
      );
    }
  } catch (error) {
    if (!isConditionFailure(error)) throw error; // someone else already moved this job on
  }
}

/**
 * Starts every blocked job whose requirements all succeeded and records the workflow's
 * status. Safe to run concurrently and repeatedly: each start is a conditional write and
 * each execution start is idempotent; the last finisher always sees every job terminal.
 */
export async function advanceWorkflow(gyre: Gyre, workflowId: string): Promise<WorkflowStatus> {
  const { workflow, jobs } = await readWorkflow(gyre, workflowId);
  const statusOf = new Map(jobs.map((j) => [j.name, j.status]));
  // Until nothing changes: a no-op job that succeeds can unblock the jobs behind it.
  for (let changed = true; changed; ) {
    changed = false;
    for (const job of jobs) {
      if (statusOf.get(job.name) !== "blocked" || !job.requires.every((r) => statusOf.get(r) === "success"))
        continue;
      const next = readyStatus(job.type);
      if (await unblock(gyre, job, next)) {
        statusOf.set(job.name, next);
        job.status = next;
        changed = true;
        if (next === "queued") await startAllocations(gyre, job);
      }
    }
  }
  const status = workflowStatus(jobs.map((j) => ({ ...j, status: statusOf.get(j.name)! })));
  if (status !== workflow.status && !TERMINAL_WORKFLOW.has(workflow.status)) {
    const terminal = TERMINAL_WORKFLOW.has(status);
    try {
      await gyre.aws.dynamo.send(
        new UpdateCommand({
          TableName: gyre.resources.tableName,
          Key: Keys.workflow(workflowId),
          UpdateExpression: terminal
            ? "SET #status = :status, stoppedAt = :now, updatedAt = :ms REMOVE gsi2pk, gsi2sk"
            : "SET #status = :status, updatedAt = :ms",
          // Never move a workflow out of a terminal status (a late finalizer saw an older state).
          ConditionExpression: `NOT #status IN (${[...TERMINAL_WORKFLOW].map((_, i) => `:t${i}`).join(", ")})`,
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":status": status,
            ":ms": gyre.now(),
            ...(terminal ? { ":now": new Date(gyre.now()).toISOString() } : {}),
            ...Object.fromEntries([...TERMINAL_WORKFLOW].map((s, i) => [`:t${i}`, s])),
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
  return status;
}

/** The status a job takes once nothing holds it back. */
export function readyStatus(type: Job["type"]): JobStatus {
  return type === "approval" ? "on_hold" : type === "no-op" ? "success" : "queued";
}

async function unblock(gyre: Gyre, job: Job, next: JobStatus): Promise<boolean> {
  try {
    await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.job(job.workflowId, job.name),
        UpdateExpression:
          next === "queued"
            ? "SET #status = :next, queuedAt = :now, updatedAt = :ms, gsi2pk = :shard, gsi2sk = :id"
            : "SET #status = :next, updatedAt = :ms",
        ConditionExpression: "#status = :blocked",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":next": next,
          ":blocked": "blocked",
          ":ms": gyre.now(),
          ...(next === "queued"
            ? { ":now": new Date(gyre.now()).toISOString(), ":shard": activeShard(job.id), ":id": job.id }
            : {}),
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export interface ReconcileReport {
  checked: number;
  redriven: number;
  workflowsAdvanced: number;
}

/**
 * Nothing stays queued or running forever. For every active job older than the grace period
 * (so executions being started right now are left alone), an allocation whose execution is
 * not running any more is treated as lost; every active workflow is advanced, which repairs
 * a crash between a job's terminal write and its finalize.
 */
export async function reconcile(gyre: Gyre, options: { graceMs?: number } = {}): Promise<ReconcileReport> {
  const graceMs = options.graceMs ?? 30_000;
  const cutoff = gyre.now() - graceMs;
  const report: ReconcileReport = { checked: 0, redriven: 0, workflowsAdvanced: 0 };
  const workflows = new Set<string>();
  for (let shard = 0; shard < ACTIVE_SHARDS; shard++) {
    for await (const item of queryAll(gyre, {
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :p",
      FilterExpression: "updatedAt < :cutoff",
      ExpressionAttributeValues: { ":p": `ACTIVE#${shard}`, ":cutoff": cutoff },
    })) {
      if (item.sk === "WORKFLOW") {
        workflows.add(item.id as string);
        continue;
      }
      report.checked++;
      workflows.add(item.workflowId as string);
      report.redriven += await reconcileJob(gyre, item as unknown as Job);
    }
  }
  for (const id of workflows) {
    await advanceWorkflow(gyre, id);
    report.workflowsAdvanced++;
  }
  return report;
}

async function reconcileJob(gyre: Gyre, job: Job): Promise<number> {
  // Every allocation done but the job not: a report died between its two writes. Settle it.
  if (Object.values(job.allocations).every((a) => TERMINAL_ALLOCATION.has(a.status))) {
    await settleJobStatus(gyre, job);
    return 0;
  }
  let redriven = 0;
  for (const [index, alloc] of Object.entries(job.allocations)) {
    if (TERMINAL_ALLOCATION.has(alloc.status)) continue;
    const ref: AllocationRef = {
      workflowId: job.workflowId,
      jobName: job.name,
      jobId: job.id,
      attempt: job.attempt,
      index: Number(index),
    };
    if (await executionIsRunning(gyre, executionName(ref))) continue;
    await failOrRetry(gyre, job, ref, "infrastructure_fail", alloc.status === "queued");
    redriven++;
    break; // a retry restarts every allocation of the job
  }
  return redriven;
}

async function executionIsRunning(gyre: Gyre, name: string): Promise<boolean> {
  try {
    const out = await gyre.aws.sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArn(gyre.resources.stateMachineArn, name) }),
    );
    return out.status === "RUNNING";
  } catch (error) {
    if (error instanceof Error && error.name === "ExecutionDoesNotExist") return false;
    throw error;
  }
}
