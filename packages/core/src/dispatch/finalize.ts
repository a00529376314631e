/**
 * The state machine's Finalize step. An error from Dispatch means the execution gave up on
 * the allocation (its whole-life timeout) or a lost node's allocation was failed by the
 * reconciler, which has already retried or failed the job: then only a still-live allocation
 * of the same attempt is settled here. Either way the workflow advances.
 */
import type { Gyre } from "../context.ts";
import { findJob, TERMINAL_ALLOCATION } from "../job/index.ts";
import { eventsOf } from "../metrics/events.ts";
import { parseStored } from "../protocol/schema.ts";
import type { WorkflowStatus } from "../workflow/index.ts";
import { advanceWorkflow } from "./advance.ts";
import { loseAllocation } from "./allocation.ts";
import { FinalizeInputSchema } from "./execution.ts";

export async function finalizeAllocation(
  gyre: Gyre,
  raw: unknown,
): Promise<{ workflowStatus: WorkflowStatus }> {
  try {
    return await finalize(gyre, raw);
  } catch (error) {
    eventsOf(gyre).count("dispatchErrors", { stage: "finalize" });
    throw error;
  }
}

async function finalize(gyre: Gyre, raw: unknown): Promise<{ workflowStatus: WorkflowStatus }> {
  const input = parseStored(FinalizeInputSchema, raw, "finalize input");
  const ref = input.allocation;
  if (input.error) {
    const job = await findJob(gyre, ref.workflowId, ref.jobName);
    const alloc = job?.allocations[String(ref.index)];
    if (job && job.attempt === ref.attempt && alloc && !TERMINAL_ALLOCATION.has(alloc.status)) {
      const timedOut = input.error.Error === "States.Timeout";
      await loseAllocation(
        gyre,
        job,
        ref,
        timedOut ? "timedout" : "infrastructure_fail",
        timedOut
          ? "The allocation reached its execution's time limit."
          : `The allocation's execution failed: ${input.error.Error}.`,
      );
    }
  }
  return { workflowStatus: await advanceWorkflow(gyre, ref.workflowId) };
}
