/**
 * Scale-in never kills a running job. The builder groups (infra/fleet.ts) hold every
 * terminating instance in `Terminating:Wait` with a lifecycle hook; its event reaches
 * `beginTermination`, which drains the instance's node (no new allocations; what runs
 * finishes, or is stopped at the deadline and retried elsewhere, free) and records the pending
 * action on the node. The reconciler calls `settleTerminations` every pass: once the node runs
 * nothing (or is down, or has left) it completes the action (CONTINUE) and the instance goes;
 * until then it keeps the action alive with heartbeats.
 */
import {
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from "@aws-sdk/client-auto-scaling";
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import { tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { drainNode, listNodes, NODE_AUTH_CACHE_MS, type Node } from "./index.ts";

/** What EventBridge says of an instance the group wants to terminate. */
export interface LifecycleAction {
  instanceId: string;
  group: string;
  hook: string;
  token: string;
}

/** How long after a drain began a heartbeat must come to show the node idle. */
export const settleAfterMs = (gyre: Gyre) =>
  (gyre.resources.heartbeatSeconds * 1000) / 3 + NODE_AUTH_CACHE_MS;

/** How often a pending action is kept alive: well inside the hook's heartbeat timeout (2 h). */
export const LIFECYCLE_HEARTBEAT_MS = 10 * 60_000;

const isGone = (n: Node) => n.status === "down" || n.revokedAt !== undefined || n.leftAt !== undefined;

/** An action that AWS no longer holds (completed, or timed out) needs nothing more. */
const noActiveAction = (error: unknown) =>
  error instanceof Error &&
  error.name === "ValidationError" &&
  /No active Lifecycle Action/i.test(error.message);

async function complete(gyre: Gyre, action: LifecycleAction): Promise<void> {
  try {
    await gyre.aws.autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: action.group,
        LifecycleHookName: action.hook,
        LifecycleActionToken: action.token,
        InstanceId: action.instanceId,
        LifecycleActionResult: "CONTINUE",
      }),
    );
  } catch (error) {
    if (!noActiveAction(error)) throw error;
  }
}

/**
 * An instance is to be terminated: drain its nodes (deadline: `deadlineMs`, the longest a job
 * may still run) and leave the action pending on them; with no live node there (the agent never
 * registered, or already left) the instance may go at once. Repeated events change nothing.
 */
export async function beginTermination(
  gyre: Gyre,
  action: LifecycleAction,
  deadlineMs = gyre.resources.maxJobSeconds * 1000,
): Promise<{ drained: string[]; completed: boolean }> {
  const nodes = (await listNodes(gyre)).filter((n) => n.instanceId === action.instanceId && !isGone(n));
  const drained: string[] = [];
  for (const node of nodes) {
    drained.push(node.id);
    if (node.termination?.token === action.token) continue; // a repeated event
    try {
      await drainNode(gyre, node.id, true, deadlineMs);
    } catch (error) {
      // Down between the list and the drain: nothing runs there to wait for.
      if (error instanceof GyreError && error.code === "conflict") {
        drained.pop();
        continue;
      }
      throw error;
    }
    await tryUpdate(gyre, Keys.node(node.id), {
      set: [[["termination"], { ...action, since: gyre.now(), heartbeatAt: gyre.now() }]],
      when: [{ path: "pk", exists: true }],
    });
  }
  if (drained.length === 0) await complete(gyre, action);
  return { drained, completed: drained.length === 0 };
}

/**
 * The reconciler's pass over pending terminations: complete those whose node runs nothing any
 * more, heartbeat the others. Returns the instances let go, and what failed (retried next pass).
 */
export async function settleTerminations(
  gyre: Gyre,
  nodes?: readonly Node[],
): Promise<{ completed: string[]; failures: string[] }> {
  const completed: string[] = [];
  const failures: string[] = [];
  // One node that fails (a throttled call) never keeps the others' actions from their heartbeats.
  for (const node of nodes ?? (await listNodes(gyre)))
    if (node.termination)
      await settleOne(gyre, node, completed).catch((error: unknown) =>
        failures.push(
          `termination of ${node.termination?.instanceId}: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
  return { completed, failures };
}

async function settleOne(gyre: Gyre, node: Node, done: string[]): Promise<void> {
  const now = gyre.now();
  {
    const pending = node.termination;
    if (!pending) return;
    // `running` and `claiming` are as of the last heartbeat, which must come a heartbeat period
    // (plus the credential cache, which may accept a claim that long after the drain) after the
    // drain began: built after every claim the server accepted had started, so it counts each,
    // running or still being claimed.
    const idle =
      isGone(node) ||
      (node.heartbeatAt >= pending.since + settleAfterMs(gyre) &&
        (node.running ?? []).length === 0 &&
        !(node.claiming && node.claiming > 0));
    if (idle) {
      await complete(gyre, pending);
      await tryUpdate(gyre, Keys.node(node.id), {
        remove: ["termination"],
        when: [{ path: "pk", exists: true }],
      });
      done.push(pending.instanceId);
    } else if (now - pending.heartbeatAt >= LIFECYCLE_HEARTBEAT_MS) {
      try {
        await gyre.aws.autoScaling.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: pending.group,
            LifecycleHookName: pending.hook,
            LifecycleActionToken: pending.token,
            InstanceId: pending.instanceId,
          }),
        );
      } catch (error) {
        if (!noActiveAction(error)) throw error;
      }
      await tryUpdate(gyre, Keys.node(node.id), {
        set: [[["termination", "heartbeatAt"], now]],
        when: [{ path: "termination", exists: true }],
      });
    }
  }
}

/** How long a spot instance's jobs may still run after its 2-minute interruption notice. */
export const SPOT_NOTICE_MS = 90_000;

/**
 * EC2 reclaims a spot instance in two minutes: its nodes drain with a deadline inside that, so
 * what still runs then is stopped and retried elsewhere at no cost to the job's retries (the
 * reconciler's drain deadline), instead of being lost with the instance and spending one.
 */
export async function interruptInstance(gyre: Gyre, instanceId: string): Promise<string[]> {
  const drained: string[] = [];
  for (const node of await listNodes(gyre)) {
    if (node.instanceId !== instanceId || isGone(node)) continue;
    try {
      await drainNode(gyre, node.id, true, SPOT_NOTICE_MS);
      drained.push(node.id);
    } catch (error) {
      if (!(error instanceof GyreError && error.code === "conflict")) throw error;
    }
  }
  return drained;
}
