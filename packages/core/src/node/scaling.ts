/**
 * How many builders each resource class needs, decided every minute by the scaler
 * (functions/scaler.ts) for the class's Auto Scaling group (infra/fleet.ts), as Buildkite's
 * agent scaler does: enough instances for the jobs waiting in the class's queue and those
 * running, never fewer than the group's minimum (which the schedule raises in working hours),
 * never more than its maximum.
 *
 * Scale-out sets the group's desired capacity (a warm-pool instance starts in seconds).
 * Scale-in never lowers the desired capacity blindly, which would let the group pick a busy
 * instance: it terminates instances whose node runs nothing, and has been idle a while, by
 * name (decrementing the desired capacity), so a running job is never the one chosen. What the
 * group terminates on its own (a spot rebalance, an instance refresh) is drained first by the
 * lifecycle hook (termination.ts).
 */
import {
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { Gyre } from "../context.ts";
import { queueUrlFor } from "../dispatch/execution.ts";
import { listNodes, type Node } from "./index.ts";

export interface GroupState {
  name: string;
  resourceClass: string;
  min: number;
  max: number;
  desired: number;
  /** Instances in service or on their way (Pending, InService), by id. */
  instances: string[];
}

export interface ScalingPolicy {
  /** Jobs of the class one instance runs at once (instance size less the 2 vCPU / 4 GB reserve). */
  slotsPerInstance: number;
  /** A node idle this long (no allocation since) may be let go. */
  idleMs: number;
}

export interface ScalingDecision {
  group: string;
  /** The capacity to set (scale-out), when it must grow. */
  desired?: number;
  /** Idle instances to terminate (scale-in), each lowering the desired capacity by one. */
  terminate: string[];
  /** For the log: what the decision rests on. */
  queued: number;
  running: number;
  needed: number;
}

/**
 * One group's decision from its queue's depth and the nodes on its instances. `now` and each
 * node's `idleSince` (epoch ms, when it last ran nothing) decide which idle ones may go.
 */
export function decideScaling(
  group: GroupState,
  queued: number,
  nodes: readonly Node[],
  policy: ScalingPolicy,
  now: number,
  idleSince: (node: Node) => number,
): ScalingDecision {
  const mine = nodes.filter(
    (n) => n.instanceId && group.instances.includes(n.instanceId) && n.status === "ready" && !n.termination,
  );
  const running = mine.reduce((sum, n) => sum + (n.running ?? []).length, 0);
  const slots = Math.max(1, policy.slotsPerInstance);
  const needed = Math.min(group.max, Math.max(group.min, Math.ceil((queued + running) / slots)));
  const base = { group: group.name, queued, running, needed };
  if (needed > group.desired) return { ...base, desired: needed, terminate: [] };
  // Instances still starting (no node yet) count as capacity: only registered idle nodes go.
  const surplus = group.desired - needed;
  if (surplus <= 0 || queued > 0) return { ...base, terminate: [] };
  const idle = mine
    .filter((n) => (n.running ?? []).length === 0 && now - idleSince(n) >= policy.idleMs)
    .sort((a, b) => idleSince(a) - idleSince(b))
    .map((n) => n.instanceId!);
  return { ...base, terminate: [...new Set(idle)].slice(0, surplus) };
}

/** A builder group the scaler sizes (Settings `fleet.groups`, from infra/fleet.ts). */
export interface FleetGroup {
  name: string;
  resourceClass: string;
  slotsPerInstance: number;
}

/** When a node last ran something: its last busy heartbeat, else its registration. */
export const idleSince = (node: Node) => node.busyAt ?? Date.parse(node.createdAt);

/**
 * One scaler pass over the fleet's groups: read each group and its queue's depth, decide, and
 * act (set the desired capacity, or terminate idle instances by name). A group that fails is
 * reported and does not stop the others.
 */
export async function scaleFleet(
  gyre: Gyre,
  groups: readonly FleetGroup[],
  idleMs: number,
): Promise<{ decisions: ScalingDecision[]; failures: string[] }> {
  const decisions: ScalingDecision[] = [];
  const failures: string[] = [];
  if (groups.length === 0) return { decisions, failures };
  const described = await gyre.aws.autoScaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: groups.map((g) => g.name) }),
  );
  const nodes = await listNodes(gyre);
  for (const group of groups) {
    try {
      const found = described.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === group.name);
      if (!found) throw new Error(`Auto Scaling group ${group.name} not found.`);
      const attributes = await gyre.aws.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrlFor(gyre, group.resourceClass),
          AttributeNames: ["ApproximateNumberOfMessages"],
        }),
      );
      const state: GroupState = {
        name: group.name,
        resourceClass: group.resourceClass,
        min: found.MinSize ?? 0,
        max: found.MaxSize ?? 0,
        desired: found.DesiredCapacity ?? 0,
        instances: (found.Instances ?? [])
          .filter((i) => /^(Pending|InService)/.test(i.LifecycleState ?? ""))
          .map((i) => i.InstanceId!),
      };
      const queued = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0);
      const decision = decideScaling(
        state,
        queued,
        nodes,
        { slotsPerInstance: group.slotsPerInstance, idleMs },
        gyre.now(),
        idleSince,
      );
      if (decision.desired !== undefined)
        await gyre.aws.autoScaling.send(
          new SetDesiredCapacityCommand({
            AutoScalingGroupName: group.name,
            DesiredCapacity: decision.desired,
            HonorCooldown: false,
          }),
        );
      for (const instance of decision.terminate)
        await gyre.aws.autoScaling.send(
          new TerminateInstanceInAutoScalingGroupCommand({
            InstanceId: instance,
            ShouldDecrementDesiredCapacity: true,
          }),
        );
      decisions.push(decision);
    } catch (error) {
      failures.push(`${group.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { decisions, failures };
}
