/**
 * Builder nodes (Nomad's clients): a node exists from its first heartbeat; it stays `ready`
 * while it heartbeats and goes `down` when it misses the deadline (`heartbeatSeconds`), and
 * then its running allocations are lost (dispatch/reconcile.ts). One write per node per
 * heartbeat, however many allocations it runs.
 */
import type { Gyre } from "../context.ts";
import { holds } from "../dispatch/allocation.ts";
import { executionName } from "../dispatch/execution.ts";
import { findJob } from "../job/index.ts";
import { nodeMove } from "../job/transitions.ts";
import type { AllocationRef, HeartbeatAnswer, HeartbeatRequest } from "../protocol/agent.ts";
import { z } from "../protocol/schema.ts";
import { queryAll, tryUpdate } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

export const NodeSchema = z.object({
  id: z.string(),
  status: z.enum(["ready", "down"]),
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: z.number(),
  downAt: z.number().optional(),
  /** The allocations (execution names) the node said it runs at its last heartbeat. */
  allocations: z.array(z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.number(),
});
export type Node = z.infer<typeof NodeSchema>;

/**
 * A node's heartbeat: it is (again) `ready`, and it learns which of the allocations it runs are
 * no longer its (ended, retried, lost): those it must stop at once.
 */
export async function heartbeatNode(gyre: Gyre, request: HeartbeatRequest): Promise<HeartbeatAnswer> {
  const now = gyre.now();
  const spec = nodeMove(
    "heartbeat",
    { heartbeatAt: now, allocations: request.allocations.map(executionName) },
    now,
  );
  // The first heartbeat registers the node (the move's `from` does not hold for a new item).
  await tryUpdate(gyre, Keys.node(request.node_id), {
    set: [
      ...(Array.isArray(spec.set) ? spec.set : []),
      [["id"], request.node_id],
      [["gsi1pk"], Index.nodes()],
      [["gsi1sk"], request.node_id],
    ],
    setIfMissing: { createdAt: new Date(now).toISOString() },
  });
  const stop: AllocationRef[] = [];
  await Promise.all(
    request.allocations.map(async (ref) => {
      const job = await findJob(gyre, ref.workflowId, ref.jobName);
      if (!holds(job, ref, request.node_id)) stop.push(ref);
    }),
  );
  return { stop, heartbeat_seconds: gyre.resources.heartbeatSeconds };
}

export async function listNodes(gyre: Gyre): Promise<Node[]> {
  const nodes: Node[] = [];
  for await (const node of queryAll(gyre, { index: "gsi1", partition: Index.nodes() }, NodeSchema, "node"))
    nodes.push(node);
  return nodes;
}

/** Marks a node down, only if it has not heartbeated since `cutoff` (a heartbeat in between wins). */
export async function markNodeDown(gyre: Gyre, id: string, cutoff: number): Promise<boolean> {
  return tryUpdate(
    gyre,
    Keys.node(id),
    nodeMove("miss", { downAt: gyre.now() }, gyre.now(), [{ path: "heartbeatAt", lt: cutoff }]),
  );
}
