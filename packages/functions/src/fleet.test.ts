import type { Context, EventBridgeEvent } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { fleetHandler, TERMINATE_ACTION } from "./fleet.ts";

const context = {} as Context;
const event = (detailType: string, transition: string) =>
  ({
    "detail-type": detailType,
    detail: {
      EC2InstanceId: "i-0123456789abcdef0",
      AutoScalingGroupName: "gyre-prod-builders-medium",
      LifecycleHookName: "drain-before-terminate",
      LifecycleActionToken: "tok-1",
      LifecycleTransition: transition,
    },
  }) as unknown as EventBridgeEvent<string, never>;

describe("fleet lifecycle handler", () => {
  it("hands a terminating instance's lifecycle action to the drain, and logs the outcome", async () => {
    const begin = vi.fn(async () => ({ drained: ["node-1"], completed: false }));
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const outcome = await fleetHandler(begin)(
        event(TERMINATE_ACTION, "autoscaling:EC2_INSTANCE_TERMINATING"),
        context,
      );
      expect(outcome).toEqual({ drained: ["node-1"], completed: false });
      expect(begin.mock.calls).toEqual([
        [
          {
            instanceId: "i-0123456789abcdef0",
            group: "gyre-prod-builders-medium",
            hook: "drain-before-terminate",
            token: "tok-1",
          },
        ],
      ]);
      expect(logged).toHaveBeenCalledWith(
        JSON.stringify({ fleet: { instance: "i-0123456789abcdef0", drained: ["node-1"], completed: false } }),
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("ignores any other event", async () => {
    const begin = vi.fn();
    expect(
      await fleetHandler(begin)(
        event("EC2 Instance-launch Lifecycle Action", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        context,
      ),
    ).toBeUndefined();
    expect(begin).not.toHaveBeenCalled();
  });

  it("logs a failure's name and message and rethrows it, so EventBridge retries the event", async () => {
    const lines: string[] = [];
    const failure = new Error("throttled");
    const handler = fleetHandler(
      async () => {
        throw failure;
      },
      (line) => lines.push(line),
    );
    await expect(
      handler(event(TERMINATE_ACTION, "autoscaling:EC2_INSTANCE_TERMINATING"), context),
    ).rejects.toBe(failure);
    expect(lines).toEqual(["fleet: failed: Error: throttled"]);
  });
});

describe("fleet spot interruption", () => {
  it("drains the interrupted instance's nodes", async () => {
    const interrupt = vi.fn(async () => ["node-1"]);
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const notice = {
        "detail-type": "EC2 Spot Instance Interruption Warning",
        detail: { "instance-id": "i-0123456789abcdef0", "instance-action": "terminate" },
      } as unknown as EventBridgeEvent<string, never>;
      expect(await fleetHandler(vi.fn(), undefined, interrupt)(notice, context)).toEqual({
        drained: ["node-1"],
        completed: false,
      });
      expect(interrupt.mock.calls).toEqual([["i-0123456789abcdef0"]]);
    } finally {
      logged.mockRestore();
    }
  });
});
