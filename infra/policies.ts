/**
 * What each AWS principal in Gyre may do, and how the state-machine document is filled in, as
 * plain functions. No SST or Pulumi globals here: infra/ calls these with Pulumi outputs inside
 * `.apply`, and test/infra calls them with strings, so least privilege is checked offline.
 */

/** One IAM allow statement: the `{ actions, resources }` shape `sst.aws.permission` takes. */
export interface Grant<R = string> {
  actions: string[];
  resources: R[];
}

export interface PolicyStatement {
  Effect: "Allow";
  Action: string[];
  Resource: string[];
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** The state machine's role: hand allocations to the job queues, invoke finalize. Nothing else. */
export function stateMachineGrants<R>(target: { jobQueueArns: R[]; finalizeFunctionArn: R }): Grant<R>[] {
  return [
    { actions: ["sqs:SendMessage"], resources: target.jobQueueArns },
    { actions: ["lambda:InvokeFunction"], resources: [target.finalizeFunctionArn] },
  ];
}

/** An identity policy document from grants (for raw `aws.iam.RolePolicy` resources). */
export function policyDocument(grants: Grant<string>[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: grants.map((grant) => ({ Effect: "Allow", Action: grant.actions, Resource: grant.resources })),
  };
}

/** Lets Step Functions assume the role, only on behalf of this account (confused-deputy guard). */
export function stateMachineTrustPolicy(accountId: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "states.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": accountId } },
      },
    ],
  };
}

/** `arn:…:stateMachine:NAME` → `arn:…:execution:NAME:*`, the resource of execution-level actions. */
export function executionArnPattern(stateMachineArn: string): string {
  const parts = stateMachineArn.split(":");
  if (parts.length !== 7 || parts[0] !== "arn" || parts[2] !== "states" || parts[5] !== "stateMachine") {
    throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  }
  parts[5] = "execution";
  return `${parts.join(":")}:*`;
}

/** Task-token calls: IAM cannot scope tokens issued by a service-integration Task state, hence `*`. */
export const TASK_TOKEN_ACTIONS = [
  "states:SendTaskSuccess",
  "states:SendTaskFailure",
  "states:SendTaskHeartbeat",
];

/**
 * Functions linked to JobStateMachine: start and inspect allocations, report builders' results,
 * fail a lost node's tasks, stop the executions of allocations nobody will claim.
 */
export function jobStateMachineGrants<R>(target: { stateMachineArn: R; executionArns: R }): Grant<R | "*">[] {
  return [
    { actions: ["states:StartExecution"], resources: [target.stateMachineArn] },
    { actions: ["states:DescribeExecution", "states:StopExecution"], resources: [target.executionArns] },
    { actions: TASK_TOKEN_ACTIONS, resources: ["*"] },
  ];
}

/**
 * Functions linked to JobQueues: re-drive allocations (reconciler), hand them to builders that
 * poll through the API (receive, extend the lease, delete on claim), read queue depth.
 */
export function jobQueueGrants<R>(queueArns: R[]): Grant<R>[] {
  return [
    {
      actions: [
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
      ],
      resources: queueArns,
    },
  ];
}

/** Functions linked to DataKey: envelope encryption of secrets (contexts, project variables). */
export function dataKeyGrants<R>(keyArn: R): Grant<R>[] {
  return [{ actions: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], resources: [keyArn] }];
}

const PLACEHOLDER = /\$\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The `${Name}` placeholders an ASL template leaves for infra to fill in. */
export function definitionPlaceholders(template: string): Set<string> {
  return new Set(Array.from(template.matchAll(PLACEHOLDER), (match) => match[1]!));
}

/** Fills every placeholder of an ASL template; a placeholder without a value is an error, not a deploy. */
export function renderDefinition(template: string, values: Record<string, string>): string {
  const missing = [...definitionPlaceholders(template)].filter((name) => values[name] === undefined);
  if (missing.length > 0) throw new Error(`state-machine definition needs values for: ${missing.join(", ")}`);
  const rendered = template.replace(PLACEHOLDER, (_, name: string) => values[name]!);
  JSON.parse(rendered);
  return rendered;
}
