/**
 * Offline checks of what infra/ deploys: the one state-machine document, the placeholders infra
 * fills in, the state machine role's grants, the linked grants and the handlers infra points at.
 * The SST-typed infra files themselves are type-checked by `npm run check:infra`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  dataKeyGrants,
  definitionPlaceholders,
  executionArnPattern,
  jobQueueGrants,
  jobStateMachineGrants,
  policyDocument,
  renderDefinition,
  stateMachineGrants,
  stateMachineTrustPolicy,
} from "../../infra/policies.ts";
import { DEFAULT_RESOURCE_CLASSES, LinkNames, queueKey } from "../../packages/core/src/resources.ts";

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)("asl-validator") as AslValidator;

const root = join(import.meta.dirname, "..", "..");
const template = readFileSync(join(root, "infra/job-allocation.asl.json"), "utf8");
const infraSources = Object.fromEntries(
  readdirSync(join(root, "infra"))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => [file, readFileSync(join(root, "infra", file), "utf8")]),
);
const allInfra = [readFileSync(join(root, "sst.config.ts"), "utf8"), ...Object.values(infraSources)].join(
  "\n",
);

const FINALIZE_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:gyre-prod-FinalizeFunction-abcdefgh";
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:gyre-prod-job-allocation";
const JOB_QUEUE_ARNS = DEFAULT_RESOURCE_CLASSES.map(
  (resourceClass) => `arn:aws:sqs:eu-west-1:123456789012:gyre-prod-jobs-${queueKey(resourceClass)}`,
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every [key, value] pair in a JSON document, at any depth. */
function* entries(value: Json): Generator<[string, Json]> {
  if (Array.isArray(value)) for (const item of value) yield* entries(item);
  else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      yield [key, child];
      yield* entries(child);
    }
  }
}

function* strings(value: Json): Generator<string> {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const item of value) yield* strings(item);
  else if (value !== null && typeof value === "object")
    for (const child of Object.values(value)) yield* strings(child);
}

describe("job-allocation state machine", () => {
  const rendered = renderDefinition(template, { FinalizeFunctionArn: FINALIZE_ARN });
  const definition = JSON.parse(rendered) as Json & {
    States: Record<string, { Type: string; Resource?: string }>;
  };

  it("leaves exactly the placeholders infra fills in", () => {
    expect(definitionPlaceholders(template)).toEqual(new Set(["FinalizeFunctionArn"]));
    expect(infraSources["dispatch.ts"]).toContain(
      "renderDefinition(definitionTemplate, { FinalizeFunctionArn: arn })",
    );
    expect(rendered).not.toContain("${");
  });

  it("is valid ASL once rendered", () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("is JSONPath only: no JSONata and no variables, which the local interpreter cannot run", () => {
    for (const [key, value] of entries(definition)) {
      expect(key).not.toBe("Assign");
      expect(["Arguments", "Output"]).not.toContain(key);
      if (key === "QueryLanguage") expect(value).toBe("JSONPath");
    }
    for (const text of strings(definition)) expect(text.startsWith("{%")).toBe(false);
  });

  it("calls only what the role grants: SendMessage to a job queue, Invoke on finalize", () => {
    const resources = Object.values(definition.States)
      .filter((state) => state.Type === "Task")
      .map((state) => state.Resource);
    expect(resources.sort()).toEqual(
      [FINALIZE_ARN, "arn:aws:states:::sqs:sendMessage.waitForTaskToken"].sort(),
    );
  });

  it("refuses to render with a placeholder left unfilled", () => {
    expect(() => renderDefinition(template, {})).toThrow(/FinalizeFunctionArn/);
  });
});

describe("state machine role", () => {
  it("may send to the job queues and invoke finalize, nothing else", () => {
    const document = policyDocument(
      stateMachineGrants({ jobQueueArns: JOB_QUEUE_ARNS, finalizeFunctionArn: FINALIZE_ARN }),
    );
    expect(document).toEqual({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: JOB_QUEUE_ARNS },
        { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [FINALIZE_ARN] },
      ],
    });
  });

  it("is assumed only by Step Functions on behalf of this account", () => {
    expect(stateMachineTrustPolicy("123456789012").Statement).toEqual([
      {
        Effect: "Allow",
        Principal: { Service: "states.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } },
      },
    ]);
  });

  it("gets exactly that one inline policy in infra/dispatch.ts", () => {
    const dispatch = infraSources["dispatch.ts"]!;
    expect(dispatch.match(/new aws\.iam\.RolePolicy\(/g)).toHaveLength(1);
    expect(dispatch).toContain("policyDocument(stateMachineGrants(target))");
    expect(allInfra).not.toMatch(/RolePolicyAttachment|managedPolicyArns|inlinePolicies|PolicyAttachment/);
  });
});

describe("linked grants", () => {
  it("lets functions start and describe allocations and answer task tokens", () => {
    const executions = executionArnPattern(STATE_MACHINE_ARN);
    expect(executions).toBe("arn:aws:states:eu-west-1:123456789012:execution:gyre-prod-job-allocation:*");
    expect(jobStateMachineGrants({ stateMachineArn: STATE_MACHINE_ARN, executionArns: executions })).toEqual([
      { actions: ["states:StartExecution"], resources: [STATE_MACHINE_ARN] },
      { actions: ["states:DescribeExecution", "states:StopExecution"], resources: [executions] },
      {
        actions: ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
        resources: ["*"],
      },
    ]);
    expect(() => executionArnPattern(FINALIZE_ARN)).toThrow(/not a state machine ARN/);
  });

  it("scopes queue and key grants to their resources, without wildcards", () => {
    for (const grant of [
      ...jobQueueGrants(JOB_QUEUE_ARNS),
      ...dataKeyGrants("arn:aws:kms:eu-west-1:1:key/k"),
    ]) {
      for (const action of grant.actions) expect(action).not.toMatch(/\*/);
      for (const resource of grant.resources) expect(resource).not.toMatch(/\*/);
    }
    expect(dataKeyGrants("k")[0]!.actions).toEqual(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]);
  });
});

describe("infra sources", () => {
  it("point at exactly the nine handlers, once each", () => {
    const handlers = [...allInfra.matchAll(/["'`](packages\/functions\/src\/[\w./-]+\.handler)["'`]/g)].map(
      (match) => match[1],
    );
    expect(handlers.sort()).toEqual(
      [
        "packages/functions/src/audit-files.handler",
        "packages/functions/src/finalize.handler",
        "packages/functions/src/fleet.handler",
        "packages/functions/src/http.handler",
        "packages/functions/src/intake.handler",
        "packages/functions/src/reconcile.handler",
        "packages/functions/src/scaler.handler",
        "packages/functions/src/schedules.handler",
        "packages/functions/src/usage.handler",
      ].sort(),
    );
  });

  it("declare every link the handlers read, by its shared name", () => {
    const used = new Set([...allInfra.matchAll(/LinkNames\.(\w+)/g)].map((match) => match[1]));
    expect(used).toEqual(new Set(Object.keys(LinkNames)));
  });

  it("name one valid SQS queue per resource class", () => {
    const keys = DEFAULT_RESOURCE_CLASSES.map(queueKey);
    expect(new Set(keys).size).toBe(DEFAULT_RESOURCE_CLASSES.length);
    for (const key of keys) expect(`gyre-production-jobs-${key}-dlq`).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});
