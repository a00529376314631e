/**
 * The fleet's figures, read from Gyre's own records each time they are asked for: allocations
 * queued and running by resource class (the active index the reconciler reads, `gsi2`
 * ACTIVE#<shard>), builder nodes by status, allocations per node and the poll failures each
 * node reported (the node items), and each job queue's depth (SQS GetQueueAttributes). Event
 * figures (queue time, job duration, intake and dispatch errors) are recorded where they happen
 * (events.ts). The local runtime serves both at `GET /metrics` (prometheus.ts); on AWS the
 * reconciler emits the fleet's figures every minute as EMF (functions/src/metrics.ts).
 */
import type { Gyre } from "../context.ts";
import { readActive, readJobQueues } from "../doctor/index.ts";
import type { Job } from "../job/index.ts";
import { listNodes, type Node } from "../node/index.ts";

export * from "./catalog.ts";
export * from "./events.ts";

export const NODE_STATUSES = ["ready", "draining", "ineligible", "down"] as const;
export type NodeMetricStatus = (typeof NODE_STATUSES)[number];

export interface ClassFigures {
  /** Allocations queued (the reference's jobs.pending). */
  pending: number;
  /** Allocations running on a node (jobs.running). */
  running: number;
  /** Messages waiting in the class's job queue; undefined when the class has no queue. */
  queueDepth?: number;
  /** Messages in the queue's dead-letter queue, when it has one. */
  deadLetters?: number;
  /** Why the queue could not be read. */
  queueError?: string;
}

export interface FleetFigures {
  /** Epoch ms of the reading. */
  at: number;
  /** Resource class → its figures: every class with a job queue, and every class a job names. */
  classes: Record<string, ClassFigures>;
  nodes: Record<NodeMetricStatus, number>;
  /** Live nodes (not down) and what each said it runs at its last heartbeat. */
  allocations: { node: string; count: number }[];
  /** Every node that reported poll failures, with its running total. */
  pollFailures: { node: string; count: number }[];
}

/** How a node counts: down (silent, left or revoked), draining, marked ineligible, or ready. */
export function nodeMetricStatus(node: Node): NodeMetricStatus {
  if (node.status === "down" || node.revokedAt !== undefined) return "down";
  if (node.drainedAt !== undefined) return "draining";
  if (node.ineligibleAt !== undefined) return "ineligible";
  return "ready";
}

/** The figures of what the records say, purely: jobs of the active index, nodes, queue readings. */
export function fleetFigures(
  now: number,
  jobs: readonly Job[],
  nodes: readonly Node[],
  queues: Record<string, { visible: number; deadLetter?: { visible: number }; error?: string }>,
): FleetFigures {
  const classes: Record<string, ClassFigures> = {};
  const of = (resourceClass: string) => {
    classes[resourceClass] ??= { pending: 0, running: 0 };
    return classes[resourceClass];
  };
  for (const [resourceClass, reading] of Object.entries(queues)) {
    const figures = of(resourceClass);
    if (reading.error) figures.queueError = reading.error;
    else figures.queueDepth = reading.visible;
    if (reading.deadLetter) figures.deadLetters = reading.deadLetter.visible;
  }
  for (const job of jobs) {
    // A blocked job's allocations are not placed yet; an approval on hold has none to place.
    if (job.status !== "queued" && job.status !== "running") continue;
    const figures = of(job.plan?.resourceClass ?? "medium");
    for (const alloc of Object.values(job.allocations)) {
      if (alloc.status === "queued") figures.pending++;
      else if (alloc.status === "running") figures.running++;
    }
  }
  const byStatus = Object.fromEntries(NODE_STATUSES.map((s) => [s, 0])) as Record<NodeMetricStatus, number>;
  const allocations: FleetFigures["allocations"] = [];
  const pollFailures: FleetFigures["pollFailures"] = [];
  for (const node of nodes) {
    const status = nodeMetricStatus(node);
    byStatus[status]++;
    if (status !== "down") allocations.push({ node: node.id, count: (node.running ?? []).length });
    if (node.pollFailures !== undefined) pollFailures.push({ node: node.id, count: node.pollFailures });
  }
  return { at: now, classes, nodes: byStatus, allocations, pollFailures };
}

/** Reads the records and the queues, and computes the figures. */
export async function readFleetFigures(gyre: Gyre): Promise<FleetFigures> {
  const [active, nodes, queues] = await Promise.all([readActive(gyre), listNodes(gyre), readJobQueues(gyre)]);
  return fleetFigures(gyre.now(), active.jobs, nodes, queues);
}
