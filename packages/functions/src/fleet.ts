/**
 * EventBridge: a builder group wants to terminate an instance (scale-in, a spot rebalance, an
 * instance refresh) and holds it in `Terminating:Wait` (infra/fleet.ts). The instance's node
 * drains; the reconciler lets the instance go once the node runs nothing (node/termination.ts).
 * A failure is logged and rethrown: EventBridge retries the event, and the hook's own timeout
 * (CONTINUE) is the last resort.
 */
import { beginTermination, interruptInstance, type LifecycleAction } from "@gyre/core/node/termination";
import middy from "@middy/core";
import type { EventBridgeEvent } from "aws-lambda";
import { lambdaGyre, logErrors } from "./lambda.ts";

export const TERMINATE_ACTION = "EC2 Instance-terminate Lifecycle Action";
export const SPOT_INTERRUPTION = "EC2 Spot Instance Interruption Warning";

interface TerminateDetail {
  EC2InstanceId: string;
  AutoScalingGroupName: string;
  LifecycleHookName: string;
  LifecycleActionToken: string;
  LifecycleTransition: string;
}

export function fleetHandler(
  begin: (action: LifecycleAction) => Promise<{ drained: string[]; completed: boolean }> = (action) =>
    beginTermination(lambdaGyre(), action),
  log?: (line: string) => void,
  interrupt: (instanceId: string) => Promise<string[]> = (id) => interruptInstance(lambdaGyre(), id),
) {
  return middy<
    EventBridgeEvent<string, TerminateDetail>,
    { drained: string[]; completed: boolean } | undefined
  >()
    .use(logErrors("fleet", log))
    .handler(async (event) => {
      const d = event.detail;
      // A spot instance reclaimed in two minutes: its jobs get a free retry if they cannot finish.
      if (event["detail-type"] === SPOT_INTERRUPTION) {
        const instanceId = (event.detail as unknown as Record<string, string>)["instance-id"];
        if (!instanceId) return undefined;
        const drained = await interrupt(instanceId);
        console.log(JSON.stringify({ fleet: { instance: instanceId, interrupted: drained } }));
        return { drained, completed: false };
      }
      // Otherwise only the termination hook's events are handled; anything else is ignored.
      if (
        event["detail-type"] !== TERMINATE_ACTION ||
        d?.LifecycleTransition !== "autoscaling:EC2_INSTANCE_TERMINATING"
      )
        return undefined;
      const outcome = await begin({
        instanceId: d.EC2InstanceId,
        group: d.AutoScalingGroupName,
        hook: d.LifecycleHookName,
        token: d.LifecycleActionToken,
      });
      console.log(JSON.stringify({ fleet: { instance: d.EC2InstanceId, ...outcome } }));
      return outcome;
    });
}

export const handler = fleetHandler();
