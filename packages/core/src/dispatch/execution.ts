/**
 * Executions: one Step Functions execution per allocation (job attempt x parallel index),
 * named by it so a duplicate start is a no-op. Its Dispatch state puts the allocation on its
 * resource class's queue with a task token and waits, without a heartbeat clock: an
 * allocation may wait in its queue as long as it must. Liveness is the builder node's
 * (node/): the reconciler declares a silent node's allocations lost and fails their
 * executions with the token the claim stored. Finalize then records the outcome and starts
 * what it unblocks (infra/job-allocation.asl.json).
 */
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { auditJob } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import type { Job } from "../job/index.ts";
import { eventsOf } from "../metrics/events.ts";
import { type AllocationRef, AllocationRefSchema } from "../protocol/agent.ts";
import { z } from "../protocol/schema.ts";
import { DEFAULT_RESOURCE_CLASSES, queueKey } from "../resources.ts";
import type { Condition } from "../store/index.ts";

export type { AllocationRef } from "../protocol/agent.ts";

/** What an execution carries: ids, never documents. */
export const ExecutionInputSchema = z.object({
  queueUrl: z.string(),
  allocation: AllocationRefSchema,
});
export type ExecutionInput = z.infer<typeof ExecutionInputSchema>;

/** What the state machine hands Finalize: its input plus the builder's result or the error. */
export const FinalizeInputSchema = ExecutionInputSchema.extend({
  result: z.object({ status: z.string() }).optional(),
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
});
export type FinalizeInput = z.infer<typeof FinalizeInputSchema>;

/** The error a lost node's execution is failed with. */
export const NODE_LOST = "Gyre.NodeLost";

/** The resource class whose queue takes jobs naming a class with no queue of its own. */
export const FALLBACK_RESOURCE_CLASS = "medium";

export const executionName = (ref: AllocationRef) => `${ref.jobId}-${ref.attempt}-${ref.index}`;

export function executionArn(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

/** The class whose queue carries a job of `resourceClass`: its own, or the fallback's. */
export function queueClassFor(gyre: Gyre, resourceClass: string): string {
  return Object.hasOwn(gyre.resources.jobQueueUrls, queueKey(resourceClass))
    ? resourceClass
    : FALLBACK_RESOURCE_CLASS;
}

/** The class names known to have a queue of their own (every other class waits on the fallback's). */
function queuedClasses(gyre: Gyre, offered: readonly string[]): string[] {
  return [...new Set([...DEFAULT_RESOURCE_CLASSES, ...offered])].filter((c) => queueClassFor(gyre, c) === c);
}

/**
 * Whether a node that offers `offered` may claim a job of `resourceClass`: one of a class it
 * offers, or, when it offers the fallback class, one of a class no queue of its own carries (it
 * waits on the fallback's queue). Classes are matched by name. claimableBy is the same rule as a
 * condition on the job item.
 */
export function mayClaim(gyre: Gyre, offered: readonly string[], resourceClass: string): boolean {
  if (offered.includes(resourceClass)) return true;
  return offered.includes(FALLBACK_RESOURCE_CLASS) && !queuedClasses(gyre, offered).includes(resourceClass);
}

export function claimableBy(gyre: Gyre, offered: readonly string[]): Condition {
  const path = ["plan", "resourceClass"];
  if (!offered.includes(FALLBACK_RESOURCE_CLASS)) return { path, in: offered };
  return { or: [{ path, in: offered }, { not: { path, in: queuedClasses(gyre, offered) } }] };
}

export function queueUrlFor(gyre: Gyre, resourceClass: string): string {
  const url = gyre.resources.jobQueueUrls[queueKey(queueClassFor(gyre, resourceClass))];
  if (!url) throw new GyreError("internal", `No job queue for resource class ${resourceClass}.`);
  return url;
}

export const refsOf = (
  job: Pick<Job, "workflowId" | "name" | "id" | "attempt" | "allocations">,
): AllocationRef[] =>
  Object.keys(job.allocations).map((index) => ({
    workflowId: job.workflowId,
    jobName: job.name,
    jobId: job.id,
    attempt: job.attempt,
    index: Number(index),
  }));

/**
 * Seconds an execution may live (the Dispatch state's `TimeoutSeconds` in
 * infra/job-allocation.asl.json): the queue timeout plus the longest run must fit in it.
 */
export const EXECUTION_TIMEOUT_SECONDS = 7 * 24 * 3600;

/** Starts the execution of one allocation (idempotent by name). */
export async function startExecution(gyre: Gyre, ref: AllocationRef, resourceClass: string): Promise<void> {
  const input: ExecutionInput = {
    queueUrl: queueUrlFor(gyre, resourceClass),
    allocation: ref,
  };
  try {
    await gyre.aws.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: gyre.resources.stateMachineArn,
        name: executionName(ref),
        input: JSON.stringify(input),
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === "ExecutionAlreadyExists")) {
      eventsOf(gyre).count("dispatchErrors", { stage: "start" });
      throw error;
    }
  }
}

/** Starts one execution per queued allocation of the job's current attempt. */
export async function startAllocations(gyre: Gyre, job: Job): Promise<void> {
  if (!job.plan) return;
  const plan = job.plan;
  const queued = refsOf(job).filter((ref) => job.allocations[String(ref.index)]?.status === "queued");
  if (queued.length === 0) return;
  // A replay (a redelivered intake message, the reconciler) may record it again, as the
  // reference warns its audit log does; each record has its own id.
  await Promise.all([
    ...queued.map((ref) => startExecution(gyre, ref, plan.resourceClass)),
    auditJob(gyre, "workflow.job.scheduled", job),
  ]);
}

const gone = (error: unknown) =>
  error instanceof Error && /TaskDoesNotExist|TaskTimedOut|InvalidToken/.test(error.name);

/** Lets the execution waiting on `taskToken` go on to Finalize with the builder's result. */
export async function releaseExecution(gyre: Gyre, taskToken: string, status: string): Promise<void> {
  try {
    await gyre.aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ status }) }));
  } catch (error) {
    if (!gone(error)) throw error;
  }
}

/** Fails the execution waiting on `taskToken` (its Catch runs Finalize with the error). */
export async function failExecution(
  gyre: Gyre,
  taskToken: string,
  error: string,
  cause: string,
): Promise<void> {
  try {
    await gyre.aws.sfn.send(new SendTaskFailureCommand({ taskToken, error, cause }));
  } catch (e) {
    if (!gone(e)) throw e;
  }
}

/** Stops an execution nobody holds a token for (a queued allocation that timed out). */
export async function stopExecution(gyre: Gyre, ref: AllocationRef, cause: string): Promise<void> {
  try {
    await gyre.aws.sfn.send(
      new StopExecutionCommand({
        executionArn: executionArn(gyre.resources.stateMachineArn, executionName(ref)),
        error: "Gyre.QueueTimeout",
        cause,
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === "ExecutionDoesNotExist")) throw error;
  }
}

/** `running`, `ended` (it exists but is over) or `missing` (never started, or forgotten locally). */
export async function executionState(
  gyre: Gyre,
  ref: AllocationRef,
): Promise<"running" | "ended" | "missing"> {
  try {
    const out = await gyre.aws.sfn.send(
      new DescribeExecutionCommand({
        executionArn: executionArn(gyre.resources.stateMachineArn, executionName(ref)),
      }),
    );
    return out.status === "RUNNING" ? "running" : "ended";
  } catch (error) {
    if (error instanceof Error && error.name === "ExecutionDoesNotExist") return "missing";
    throw error;
  }
}
