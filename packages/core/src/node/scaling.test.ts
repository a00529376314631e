import { describe, expect, it } from "vitest";
import type { Node } from "./index.ts";
import { decideScaling, type GroupState } from "./scaling.ts";

const NOW = Date.parse("2026-12-01T10:00:00Z");
const ref = (i: number) => ({
  workflowId: "6f1c2b1e-1111-4222-8333-444455556666",
  jobName: `job${i}`,
  jobId: "7f1c2b1e-1111-4222-8333-444455556666",
  attempt: 1,
  index: 0,
});
const node = (
  instanceId: string,
  running: number,
  idleSince = NOW - 3_600_000,
  extra: Partial<Node> = {},
): Node =>
  ({
    id: `node-${instanceId}`,
    instanceId,
    status: "ready",
    heartbeatAt: NOW,
    createdAt: new Date(idleSince).toISOString(),
    running: Array.from({ length: running }, (_, i) => ref(i)),
    ...extra,
  }) as Node;
const group = (desired: number, instances: string[], min = 0, max = 10): GroupState => ({
  name: "builders-medium",
  resourceClass: "medium",
  min,
  max,
  desired,
  instances,
});
const policy = { slotsPerInstance: 3, idleMs: 600_000 };
const since = (n: Node) => Date.parse(n.createdAt);

describe("decideScaling", () => {
  it("scales out to fit the queued and running jobs, slots per instance, up to the maximum", () => {
    expect(decideScaling(group(0, []), 7, [], policy, NOW, since)).toEqual({
      group: "builders-medium",
      desired: 3,
      terminate: [],
      queued: 7,
      running: 0,
      needed: 3,
    });
    expect(decideScaling(group(1, ["i-a"]), 2, [node("i-a", 3)], policy, NOW, since).desired).toBe(2);
    expect(decideScaling(group(0, [], 0, 2), 100, [], policy, NOW, since).desired).toBe(2);
  });

  it("keeps the group's minimum (the schedule's working-hours floor) however idle it is", () => {
    const d = decideScaling(
      group(2, ["i-a", "i-b"], 2),
      0,
      [node("i-a", 0), node("i-b", 0)],
      policy,
      NOW,
      since,
    );
    expect([d.desired, d.terminate, d.needed]).toEqual([undefined, [], 2]);
  });

  it("scales in only by terminating idle nodes, longest idle first, never a busy one", () => {
    const nodes = [node("i-busy", 1), node("i-old", 0, NOW - 7_200_000), node("i-new", 0, NOW - 900_000)];
    const d = decideScaling(group(3, ["i-busy", "i-old", "i-new"]), 0, nodes, policy, NOW, since);
    expect(d).toMatchObject({ needed: 1, terminate: ["i-old", "i-new"] });
    expect(d.desired).toBeUndefined();
  });

  it("lets no node go before it has been idle for the idle period, nor while jobs wait", () => {
    const recent = [node("i-a", 0, NOW - 599_999), node("i-b", 0, NOW - 599_999)];
    expect(decideScaling(group(2, ["i-a", "i-b"]), 0, recent, policy, NOW, since).terminate).toEqual([]);
    // Waiting jobs will land on the idle node: no scale-in while any is queued.
    const one = [node("i-a", 0), node("i-b", 0)];
    expect(decideScaling(group(2, ["i-a", "i-b"]), 1, one, policy, NOW, since).terminate).toEqual([]);
  });

  it("ignores nodes of other groups, nodes being terminated and nodes that are down", () => {
    const nodes = [
      node("i-other", 3),
      node("i-a", 0, NOW - 7_200_000, {
        termination: { instanceId: "i-a", group: "g", hook: "h", token: "t", since: NOW, heartbeatAt: NOW },
      }),
      node("i-b", 2, NOW, { status: "down" }),
    ];
    const d = decideScaling(group(2, ["i-a", "i-b"]), 0, nodes, policy, NOW, since);
    expect([d.running, d.needed, d.terminate]).toEqual([0, 0, []]);
  });
});
