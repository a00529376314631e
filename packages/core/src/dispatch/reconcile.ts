/**
 * The reconciler: nothing stays queued, running or pending forever, and nothing is retried for
 * waiting. On a schedule (and at every local start) it
 * - marks down the nodes that missed their heartbeat deadline, and loses their running
 *   allocations (a new attempt, or `infrastructure_fail` past the retry budget); removes nodes
 *   down for a day;
 * - ends allocations that waited in their queue past the queue timeout, with a message;
 * - re-starts the execution of a queued allocation whose execution is gone (the local runtime
 *   keeps executions in memory), with the same attempt;
 * - settles jobs whose allocations are all done and advances workflows with blocked jobs
 *   (repairing a crash between a job's terminal write and its finalize);
 * - re-enqueues the intake of API-triggered pipelines still pending (a lost intake message).
 */
import type { Gyre } from "../context.ts";
import { type AllocationState, type Job, JobSchema, TERMINAL_ALLOCATION } from "../job/index.ts";
import { eventsOf } from "../metrics/events.ts";
import { forgetNode, listNodes, markNodeDown, type Node } from "../node/index.ts";
import { settleTerminations } from "../node/termination.ts";
import { enqueuePending } from "../pipeline/intake.ts";
import { PipelineSchema } from "../pipeline/model.ts";
import type { AllocationRef } from "../protocol/agent.ts";
import { parseStored } from "../protocol/schema.ts";
import { queryRaw } from "../store/index.ts";
import { ACTIVE_SHARDS } from "../table.ts";
import { advanceWorkflow } from "./advance.ts";
import { loseAllocation, settleJob } from "./allocation.ts";
import { executionName, executionState, refsOf, startExecution } from "./execution.ts";

export interface ReconcileReport {
  checked: number;
  /** Allocations lost with their node, or whose execution had ended. */
  redriven: number;
  /** Executions started again for queued allocations whose execution was gone. */
  restarted: number;
  expired: number;
  nodesDown: number;
  /** Nodes removed after a day down (DOWN_NODE_RETENTION_MS). */
  nodesRemoved: number;
  workflowsAdvanced: number;
  pipelinesRequeued: number;
  /** Instances whose termination waited for their node to run nothing, let go (node/termination.ts). */
  terminationsCompleted: number;
  /** Items it could not repair this pass, and why (the next pass tries again). */
  failures: string[];
}

export interface ReconcileOptions {
  /** Records changed more recently than this are left alone (default 30 s). */
  graceMs?: number;
  /** A node is down when it has not heartbeated for this long (default: heartbeatSeconds). */
  heartbeatDeadlineMs?: number;
  /**
   * Ask Step Functions whether the execution of a queued allocation still runs once it has
   * waited this long (default 10 minutes; the local runtime, whose executions live in memory,
   * asks after the grace period). A missing execution is started again; an ended one retried.
   */
  checkExecutionsAfterMs?: number;
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
    nodesRemoved: 0,
    workflowsAdvanced: 0,
    pipelinesRequeued: 0,
    terminationsCompleted: 0,
    failures: [],
  };
  const alive = new Map<string, Node>();
  const revoked = new Set<string>();
  const nodes = await listNodes(gyre);
  for (const node of nodes) {
    if (await forgetNode(gyre, node)) {
      report.nodesRemoved++;
      continue;
    }
    // Its credential is refused: what it runs is lost, at no cost to the job's retry budget.
    if (node.revokedAt !== undefined) {
      revoked.add(node.id);
      continue;
    }
    if (node.heartbeatAt >= deadline) alive.set(node.id, node);
    else if (node.status === "ready") {
      if (await markNodeDown(gyre, node.id, deadline)) report.nodesDown++;
      // A heartbeat in between (the list read is not consistent): the node is alive after all.
      else alive.set(node.id, { ...node, heartbeatAt: now, allocations: undefined });
    }
  }
  // Before the job scan, which may take the rest of the pass: a terminating builder's lifecycle
  // action must get its heartbeat in time.
  if (nodes.some((n) => n.termination)) {
    const settled = await settleTerminations(gyre, nodes);
    report.terminationsCompleted += settled.completed.length;
    report.failures.push(...settled.failures);
  }
  const workflows = new Set<string>();
  // One item that cannot be repaired (unreadable, a throttled call) never stops the others.
  const each = async (what: string, repair: () => Promise<void>) => {
    try {
      await repair();
    } catch (error) {
      report.failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  for (let shard = 0; shard < ACTIVE_SHARDS; shard++) {
    for await (const item of queryRaw(gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
      await each(`${item.pk}/${item.sk}`, async () => {
        if (item.sk === "PIPELINE") {
          const pipeline = parseStored(PipelineSchema, item, "pipeline");
          if (Date.parse(pipeline.updatedAt) < cutoff && (await enqueuePending(gyre, pipeline)))
            report.pipelinesRequeued++;
          return;
        }
        if (item.sk === "WORKFLOW") return; // left by earlier versions: workflows are not indexed
        const job = parseStored(JobSchema, item, "job");
        report.checked++;
        workflows.add(job.workflowId);
        if (job.status === "blocked" || job.updatedAt >= cutoff) return;
        await reconcileJob(gyre, job, { alive, revoked }, now - deadline, options, report);
      });
    }
  }
  for (const id of workflows) {
    await each(`workflow ${id}`, async () => {
      await advanceWorkflow(gyre, id);
      report.workflowsAdvanced++;
    });
  }
  eventsOf(gyre).count("dispatchErrors", { stage: "reconcile" }, report.failures.length);
  return report;
}

/** Why a running allocation is over although its record says `running`, if it is. */
function lostReason(
  gyre: Clock,
  alloc: AllocationState,
  ref: AllocationRef,
  alive: Map<string, Node>,
  deadlineMs: number,
) {
  const node = alive.get(alloc.nodeId ?? "");
  const where = `allocation ${ref.index} (attempt ${ref.attempt})`;
  if (!node) return `Builder node ${alloc.nodeId} stopped heartbeating while it ran ${where}.`;
  // A live node that has heartbeated a whole deadline since the claim without naming it: it
  // restarted under the same id, or never got the claim's answer.
  const startedAt = Date.parse(alloc.startedAt ?? "") || 0;
  if (
    node.allocations &&
    node.heartbeatAt - startedAt > deadlineMs &&
    !node.allocations.includes(executionName(ref))
  )
    return `Builder node ${alloc.nodeId} no longer runs ${where}.`;
  // The backstop: nothing runs longer than the maximum run time.
  if (gyre.now() - startedAt > (gyre.resources.maxJobSeconds + 600) * 1000)
    return `${where} ran past the maximum run time (${gyre.resources.maxJobSeconds} s) without its node ending it.`;
  return undefined;
}

/** What lostAllocation reads of the context: the clock and the maximum run time. */
type Clock = Pick<Gyre, "now"> & { resources: Pick<Gyre["resources"], "maxJobSeconds"> };

/** The nodes as a pass sees them: those heartbeating within the deadline, and the revoked. */
export interface Fleet {
  alive: Map<string, Node>;
  /** Nodes whose credential an operator revoked. */
  revoked: Set<string>;
}

/**
 * Why the allocation `ref` of a job, recorded `running`, is over (its node revoked, drained past
 * its deadline, silent, no longer running it, or the run past the maximum time), and whether
 * that costs the job none of its retries (`free`: an operator's decision). Undefined when it
 * still runs. The reconciler acts on it; `gyre doctor` reports it as what the next pass will do.
 */
export function lostAllocation(
  gyre: Clock,
  alloc: AllocationState,
  ref: AllocationRef,
  { alive, revoked }: Fleet,
  deadlineMs: number,
): { message: string; free: boolean } | undefined {
  if (alloc.status !== "running") return undefined;
  const where = `allocation ${ref.index} (attempt ${ref.attempt})`;
  if (revoked.has(alloc.nodeId ?? ""))
    return { message: `Builder node ${alloc.nodeId} was revoked while it ran ${where}.`, free: true };
  const drainDeadline = alive.get(alloc.nodeId ?? "")?.drainDeadline;
  if (drainDeadline !== undefined && drainDeadline <= gyre.now())
    return {
      message: `Builder node ${alloc.nodeId} was drained, and its deadline passed while it ran ${where}.`,
      free: true,
    };
  const reason = lostReason(gyre, alloc, ref, alive, deadlineMs);
  return reason === undefined ? undefined : { message: reason, free: false };
}

async function reconcileJob(
  gyre: Gyre,
  job: Job,
  fleet: Fleet,
  deadlineMs: number,
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
    // An operator's decision (a revoke, a drain's deadline) costs the job none of its retries.
    const lost = lostAllocation(gyre, alloc, ref, fleet, deadlineMs);
    if (lost) {
      if (
        await loseAllocation(
          gyre,
          job,
          ref,
          "infrastructure_fail",
          lost.message,
          lost.free ? { free: true } : {},
        )
      )
        report.redriven++;
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
    const checkAfter = options.checkExecutionsAfterMs ?? 600_000;
    if (!job.plan || !job.queuedAt || Date.parse(job.queuedAt) > gyre.now() - checkAfter) continue;
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
