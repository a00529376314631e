/**
 * Dispatch on AWS: one Step Functions execution per job allocation. The execution puts the
 * allocation on its resource class's job queue with a task token and waits for the builder's
 * result, with no heartbeat clock, then invokes finalize. Liveness is the builder node's: the
 * reconciler marks a silent node down and fails its allocations' tasks; it also ends allocations
 * past the queue timeout and repairs what a lost message, a crash or a restored backup left.
 *
 * The builder fleet (EC2 Auto Scaling groups per resource class) is infra/fleet.ts; the reconciler
 * also completes a terminating builder's lifecycle action once its node runs nothing.
 */
import { readFileSync } from "node:fs";
import { LinkNames } from "../packages/core/src/resources.ts";
import { settings } from "./api.ts";
import { fleetControlGrants, fleetNames } from "./fleet-plan.ts";
import { lambdaDefaults } from "./function.ts";
import {
  executionArnPattern,
  jobStateMachineGrants,
  policyDocument,
  renderDefinition,
  stateMachineGrants,
  stateMachineTrustPolicy,
} from "./policies.ts";
import { jobQueues, jobQueuesLink } from "./queues.ts";
import { bucket, table } from "./storage.ts";

/** The one state-machine document, also run by the local runtime. Paths are relative to the root. */
const definitionTemplate = readFileSync("infra/job-allocation.asl.json", "utf8");

const account = aws.getCallerIdentityOutput({});
const names = fleetNames($app.name, $app.stage);
const region = aws.getRegionOutput({});
const stateMachineName = `${$app.name}-${$app.stage}-job-allocation`.slice(0, 80);
/**
 * The machine's ARN, computed from its fixed name rather than read from the resource: the
 * machine embeds finalize's ARN, and finalize starts executions (retries, unblocked jobs), so
 * reading it from the resource would make the two depend on each other.
 */
const stateMachineArn = $interpolate`arn:aws:states:${region.name}:${account.accountId}:stateMachine:${stateMachineName}`;

export const jobStateMachine = new sst.Linkable(LinkNames.stateMachine, {
  properties: { arn: stateMachineArn },
  include: jobStateMachineGrants({
    stateMachineArn,
    executionArns: stateMachineArn.apply(executionArnPattern),
  }).map((grant) => sst.aws.permission(grant)),
});

/** Records the allocation's outcome, then starts what it unblocks (invoked by the state machine). */
export const finalize = new sst.aws.Function("Finalize", {
  ...lambdaDefaults,
  handler: "packages/functions/src/finalize.handler",
  timeout: "30 seconds",
  // The bucket: where an audit record the table refuses is parked (core/src/audit).
  link: [table, bucket, jobQueuesLink, jobStateMachine, settings],
});

const stateMachineRole = new aws.iam.Role("JobStateMachineRole", {
  name: `${$app.name}-${$app.stage}-job-allocation`.slice(0, 64),
  assumeRolePolicy: account.accountId.apply((accountId) =>
    JSON.stringify(stateMachineTrustPolicy(accountId)),
  ),
});

/** Exactly sqs:SendMessage on the job queues and lambda:InvokeFunction on finalize. */
const stateMachineRolePolicy = new aws.iam.RolePolicy("JobStateMachineRolePolicy", {
  role: stateMachineRole.id,
  policy: $resolve({
    jobQueueArns: Object.values(jobQueues).map((queue) => queue.arn),
    finalizeFunctionArn: finalize.arn,
  }).apply((target) => JSON.stringify(policyDocument(stateMachineGrants(target)))),
});

export const stateMachine = new aws.sfn.StateMachine(
  "JobStateMachine",
  {
    name: stateMachineName,
    type: "STANDARD",
    roleArn: stateMachineRole.arn,
    definition: finalize.arn.apply((arn) =>
      renderDefinition(definitionTemplate, { FinalizeFunctionArn: arn }),
    ),
  },
  // Step Functions validates the role when the machine is created: attach its policy first.
  { dependsOn: [stateMachineRolePolicy] },
);

/** What the reconciler, the scaler and the lifecycle handler may do to the builder groups. */
export function fleetControlPermissions() {
  const groupArns = $resolve([region.name, account.accountId]).apply(([r, a]) => names.groupArns(r, a));
  return fleetControlGrants({ groupArns: [groupArns] }).map((grant) => sst.aws.permission(grant));
}

/** Every minute: lose the allocations of nodes past their heartbeat deadline, expire the queue, repair. */
export const reconcile = new sst.aws.CronV2("Reconcile", {
  schedule: "rate(1 minute)",
  function: {
    ...lambdaDefaults,
    handler: "packages/functions/src/reconcile.handler",
    timeout: "55 seconds",
    // The bucket: where an audit record the table refuses is parked (core/src/audit).
    link: [table, bucket, jobQueuesLink, jobStateMachine, settings],
    // It completes a terminating builder's lifecycle action once its node runs nothing.
    permissions: fleetControlPermissions(),
  },
});
