import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from "@aws-sdk/client-auto-scaling";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { heartbeatNode, listNodes, registerNode } from "./index.ts";
import {
  beginTermination,
  interruptInstance,
  LIFECYCLE_HEARTBEAT_MS,
  SPOT_NOTICE_MS,
  settleAfterMs,
  settleTerminations,
} from "./termination.ts";

const autoScaling = mockClient(AutoScalingClient);
let table: TestTable;
const INSTANCE = "i-0123456789abcdef0";
const action = { instanceId: INSTANCE, group: "gyre-prod-builders-medium", hook: "drain", token: "tok-1" };
const ref = {
  workflowId: "6f1c2b1e-1111-4222-8333-444455556666",
  jobName: "build",
  jobId: "7f1c2b1e-1111-4222-8333-444455556666",
  attempt: 1,
  index: 0,
};
const completion = {
  AutoScalingGroupName: action.group,
  LifecycleHookName: "drain",
  LifecycleActionToken: "tok-1",
  InstanceId: INSTANCE,
  LifecycleActionResult: "CONTINUE",
};

beforeEach(async () => {
  autoScaling.reset();
  table = await memoryTable();
});
afterEach(async () => {
  await table.close();
});

async function instanceNode() {
  return registerNode(
    table.gyre,
    { name: "builder" },
    { arn: "arn", account: "1", role: "r", instanceId: INSTANCE },
  );
}

describe("scale-in waits for the node to run nothing (Auto Scaling API mocked at the SDK boundary)", () => {
  it("drains the instance's node and completes the lifecycle action only after a heartbeat since reports no allocation", async () => {
    const { node_id } = await instanceNode();
    await heartbeatNode(table.gyre, { node_id, allocations: [ref] });
    table.setNow(table.gyre.now() + 1000);
    expect(await beginTermination(table.gyre, action, 3_600_000)).toEqual({
      drained: [node_id],
      completed: false,
    });
    const [drained] = await listNodes(table.gyre);
    expect(drained).toMatchObject({
      drainedAt: table.gyre.now(),
      drainDeadline: table.gyre.now() + 3_600_000,
    });
    expect(drained?.termination).toMatchObject({ ...action, since: table.gyre.now() });

    // Still running: nothing completes.
    table.setNow(table.gyre.now() + 1000);
    await heartbeatNode(table.gyre, { node_id, allocations: [ref] });
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);

    table.setNow(table.gyre.now() + settleAfterMs(table.gyre));
    await heartbeatNode(table.gyre, { node_id, allocations: [] });
    expect(await settleTerminations(table.gyre)).toEqual({ completed: [INSTANCE], failures: [] });
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input)).toEqual([
      completion,
    ]);
    expect((await listNodes(table.gyre))[0]?.termination).toBeUndefined();
    // Settled once: a later pass has nothing to do.
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
  });

  it("waits for a heartbeat a period after the drain, and for claims in flight to become runs or go", async () => {
    const { node_id } = await instanceNode();
    await beginTermination(table.gyre, action);
    // Soon after the drain: a claim the server accepted may not be in this heartbeat yet.
    table.setNow(table.gyre.now() + settleAfterMs(table.gyre) - 1);
    await heartbeatNode(table.gyre, { node_id, allocations: [], claiming: 0 });
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
    table.setNow(table.gyre.now() + 1);
    await heartbeatNode(table.gyre, { node_id, allocations: [], claiming: 1 });
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
    await heartbeatNode(table.gyre, { node_id, allocations: [], claiming: 0 });
    expect((await settleTerminations(table.gyre)).completed).toEqual([INSTANCE]);
  });

  it("does not trust a heartbeat sent before the drain began (a claim may have been won since)", async () => {
    const { node_id } = await instanceNode();
    await heartbeatNode(table.gyre, { node_id, allocations: [] });
    await beginTermination(table.gyre, action);
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
  });

  it("lets an instance go at once when no live node runs on it", async () => {
    expect(await beginTermination(table.gyre, action)).toEqual({ drained: [], completed: true });
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input)).toEqual([
      completion,
    ]);
  });

  it("keeps a long wait alive with lifecycle heartbeats, one per period", async () => {
    const { node_id } = await instanceNode();
    await beginTermination(table.gyre, action);
    table.setNow(table.gyre.now() + LIFECYCLE_HEARTBEAT_MS - 1);
    await heartbeatNode(table.gyre, { node_id, allocations: [ref] });
    await settleTerminations(table.gyre);
    expect(autoScaling.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(0);
    table.setNow(table.gyre.now() + 1);
    await settleTerminations(table.gyre);
    await settleTerminations(table.gyre);
    expect(
      autoScaling.commandCalls(RecordLifecycleActionHeartbeatCommand).map((c) => c.args[0].input),
    ).toEqual([
      {
        AutoScalingGroupName: action.group,
        LifecycleHookName: "drain",
        LifecycleActionToken: "tok-1",
        InstanceId: INSTANCE,
      },
    ]);
  });

  it("takes an action AWS no longer holds (it timed out) as done", async () => {
    autoScaling.on(CompleteLifecycleActionCommand).rejects(
      Object.assign(new Error("No active Lifecycle Action found with token tok-1"), {
        name: "ValidationError",
      }),
    );
    expect(await beginTermination(table.gyre, action)).toEqual({ drained: [], completed: true });
  });

  it("a repeated event for the same action does not drain again or reset the wait", async () => {
    const { node_id } = await instanceNode();
    await beginTermination(table.gyre, action);
    const first = (await listNodes(table.gyre))[0]!;
    table.setNow(table.gyre.now() + 5000);
    expect(await beginTermination(table.gyre, action)).toEqual({ drained: [node_id], completed: false });
    expect((await listNodes(table.gyre))[0]?.drainedAt).toBe(first.drainedAt);
  });
});

describe("a failing lifecycle call (Auto Scaling API mocked at the SDK boundary)", () => {
  it("is reported and does not keep the other instances' actions from being settled", async () => {
    const a = await registerNode(
      table.gyre,
      { name: "a" },
      { arn: "arn", account: "1", role: "r", instanceId: "i-0aaaaaaaaaaaaaaa1" },
    );
    const b = await registerNode(
      table.gyre,
      { name: "b" },
      { arn: "arn", account: "1", role: "r", instanceId: "i-0bbbbbbbbbbbbbbb2" },
    );
    await beginTermination(table.gyre, { ...action, instanceId: "i-0aaaaaaaaaaaaaaa1", token: "tok-a" });
    await beginTermination(table.gyre, { ...action, instanceId: "i-0bbbbbbbbbbbbbbb2", token: "tok-b" });
    table.setNow(table.gyre.now() + settleAfterMs(table.gyre));
    await heartbeatNode(table.gyre, { node_id: a.node_id, allocations: [] });
    await heartbeatNode(table.gyre, { node_id: b.node_id, allocations: [] });
    autoScaling
      .on(CompleteLifecycleActionCommand, { LifecycleActionToken: "tok-a" })
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "Throttling" }));
    const settled = await settleTerminations(table.gyre);
    expect(settled).toEqual({
      completed: ["i-0bbbbbbbbbbbbbbb2"],
      failures: ["termination of i-0aaaaaaaaaaaaaaa1: Rate exceeded"],
    });
    // The failed one is still pending: the next pass completes it.
    autoScaling.reset();
    expect((await settleTerminations(table.gyre)).completed).toEqual(["i-0aaaaaaaaaaaaaaa1"]);
  });
});

describe("one live node per instance", () => {
  it("revokes an instance's earlier node when it registers again, and a pending termination carries over drained", async () => {
    const first = await instanceNode();
    await beginTermination(table.gyre, action);
    table.setNow(table.gyre.now() + 1000);
    const second = await instanceNode();
    const nodes = Object.fromEntries((await listNodes(table.gyre)).map((n) => [n.id, n]));
    expect(nodes[first.node_id]?.revokedAt).toBe(table.gyre.now());
    expect(nodes[second.node_id]).toMatchObject({
      status: "ready",
      drainedAt: table.gyre.now(),
      termination: { ...action, since: table.gyre.now() },
    });
    // The replaced node is gone, the new one has not heartbeated since: nothing completes yet.
    expect((await settleTerminations(table.gyre)).completed).toEqual([]);
    table.setNow(table.gyre.now() + settleAfterMs(table.gyre));
    await heartbeatNode(table.gyre, { node_id: second.node_id, allocations: [] });
    expect((await settleTerminations(table.gyre)).completed).toEqual([INSTANCE]);
  });
});

describe("a spot interruption notice", () => {
  it("drains the instance's node with a deadline inside the two minutes, so what runs then is retried free", async () => {
    const { node_id } = await instanceNode();
    expect(await interruptInstance(table.gyre, INSTANCE)).toEqual([node_id]);
    expect((await listNodes(table.gyre))[0]).toMatchObject({
      drainedAt: table.gyre.now(),
      drainDeadline: table.gyre.now() + SPOT_NOTICE_MS,
    });
    expect(await interruptInstance(table.gyre, "i-0ffffffffffffffff")).toEqual([]);
  });
});
