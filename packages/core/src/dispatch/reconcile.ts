/**
 * The reconciler: nothing stays queued, running or pending forever, and nothing is retried for
 * waiting. On a schedule (and at every local start) it
 * - marks down the nodes that missed their heartbeat deadline, and loses their running
 *   allocations (a new attempt, or `infrastructure_fail` past the retry budget);
 * - ends allocations that waited in their queue past the queue timeout, with a message;
 * - re-starts the execution of a queued allocation whose execution is gone (the local runtime
 *   keeps executions in memory), with the same attempt;
 * - settles jobs whose allocations are all done and advances workflows with blocked jobs
 *   (repairing a crash between a job's terminal write and its finalize);
 * - re-enqueues the intake of API-triggered pipelines still pending (a lost intake message).
 */
import type { Gyre } from "../context.ts";
import { type Job, JobSchema, TERMINAL_ALLOCATION } from "../job/index.ts";
import { listNodes, markNodeDown } from "../node/index.ts";
import { enqueuePending } from "../pipeline/intake.ts";
import { PipelineSchema } from "../pipeline/model.ts";
import { parseStored } from "../protocol/schema.ts";
import { queryRaw } from "../store/index.ts";
import { ACTIVE_SHARDS } from "../table.ts";
import { advanceWorkflow } from "./advance.ts";
import { loseAllocation, settleJob } from "./allocation.ts";
import { executionState, refsOf, startExecution } from "./execution.ts";

export interface ReconcileReport {
  checked: number;
  /** Allocations lost with their node, or whose execution had ended. */
  redriven: number;
  /** Executions started again for queued allocations whose execution was gone. */
  restarted: number;
  expired: number;
  nodesDown: number;
  workflowsAdvanced: number;
  pipelinesRequeued: number;
}

export interface ReconcileOptions {
  /** Records changed more recently than this are left alone (default 30 s). */
  graceMs?: number;
  /** A node is down when it has not heartbeated for this long (default: heartbeatSeconds). */
  heartbeatDeadlineMs?: number;
  /** Ask Step Functions whether each queued allocation's execution still runs (local runtime). */
  checkExecutions?: boolean;
}

export async function reconcile(gyre: Gyre, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const now = gyre.now();
  const cutoff = now - (options.graceMs ?? 30_000);
  const deadline = now - (options.heartbeatDeadlineMs ?? gyre.resources.heartbeatSeconds * 1000);
  const report: ReconcileReport = {
    checked: 0,
    redriven: 0,
    restarted: 0,
    expired: 0,
    nodesDown: 0,
    workflowsAdvanced: 0,
    pipelinesRequeued: 0,
  };
  const alive = new Set<string>();
  for (const node of await listNodes(gyre)) {
    if (node.heartbeatAt >= deadline) alive.add(node.id);
    else if (node.status === "ready" && (await markNodeDown(gyre, node.id, deadline))) report.nodesDown++;
  }
  const workflows = new Set<string>();
  for (let shard = 0; shard < ACTIVE_SHARDS; shard++) {
    for await (const item of queryRaw(gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
      if (item.sk === "PIPELINE") {
        const pipeline = parseStored(PipelineSchema, item, "pipeline");
        if (Date.parse(pipeline.updatedAt) < cutoff && (await enqueuePending(gyre, pipeline)))
          report.pipelinesRequeued++;
        continue;
      }
      if (item.sk === "WORKFLOW") continue; // left by earlier versions: workflows are not indexed
      const job = parseStored(JobSchema, item, "job");
      report.checked++;
      workflows.add(job.workflowId);
      if (job.status === "blocked" || job.updatedAt >= cutoff) continue;
      await reconcileJob(gyre, job, alive, options, report);
    }
  }
  for (const id of workflows) {
    await advanceWorkflow(gyre, id);
    report.workflowsAdvanced++;
  }
  return report;
}

async function reconcileJob(
  gyre: Gyre,
  job: Job,
  alive: Set<string>,
  options: ReconcileOptions,
  report: ReconcileReport,
): Promise<void> {
  // Every allocation done but the job not: a report died between its two writes. Settle it.
  if (Object.values(job.allocations).every((a) => TERMINAL_ALLOCATION.has(a.status))) {
    await settleJob(gyre, job);
    return;
  }
  const queueTimeoutMs = gyre.resources.queueTimeoutSeconds * 1000;
  for (const ref of refsOf(job)) {
    const alloc = job.allocations[String(ref.index)]!;
    if (alloc.status === "running" && !alive.has(alloc.nodeId ?? "")) {
      const lost = await loseAllocation(
        gyre,
        job,
        ref,
        "infrastructure_fail",
        `Builder node ${alloc.nodeId} stopped heartbeating while it ran allocation ${ref.index} (attempt ${ref.attempt}).`,
      );
      if (lost) report.redriven++;
      return; // a retry restarts every allocation of the job
    }
    if (alloc.status !== "queued") continue;
    if (job.queuedAt && Date.parse(job.queuedAt) < gyre.now() - queueTimeoutMs) {
      const resourceClass = job.plan?.resourceClass ?? "medium";
      const expired = await loseAllocation(
        gyre,
        job,
        ref,
        "expired",
        `No builder offering resource class ${resourceClass} took this job within the queue timeout (${gyre.resources.queueTimeoutSeconds} s).`,
      );
      if (expired) report.expired++;
      return;
    }
    if (!options.checkExecutions || !job.plan) continue;
    const state = await executionState(gyre, ref);
    if (state === "missing") {
      await startExecution(gyre, ref, job.plan.resourceClass);
      report.restarted++;
    } else if (state === "ended") {
      if (
        await loseAllocation(
          gyre,
          job,
          ref,
          "infrastructure_fail",
          "The allocation's execution ended before any builder took it.",
          { free: false },
        )
      )
        report.redriven++;
      return;
    }
  }
}
