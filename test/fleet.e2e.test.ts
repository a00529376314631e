/**
 * The AWS fleet's control loop on the local stack: the scaler sizes a builder group from its
 * class's real queue and the real nodes, and a terminating instance's lifecycle action waits
 * until its node's running job has finished. The Auto Scaling API has no local stand-in: it is
 * mocked at the SDK boundary (aws-sdk-client-mock); STS is stood in by a local server that
 * verifies SigV4, so the builder is a real agent registered with an instance role: the bundle
 * the deploy builds (infra/agent-bundle.ts), fetched through the API as a booting instance does.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleAgent } from "../infra/agent-bundle.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { listNodes } from "../packages/core/src/node/index.ts";
import { scaleFleet } from "../packages/core/src/node/scaling.ts";
import { type StsStandIn, startStsStandIn } from "../packages/core/src/node/sts-stand-in.ts";
import { beginTermination } from "../packages/core/src/node/termination.ts";
import type { FleetSettings } from "../packages/core/src/resources.ts";
import { api, gitRepo, tempDir, trigger, waitFor } from "./support.ts";

const INSTANCE = "i-0aaaaaaaaaaaaaaa1";
const GROUP = "gyre-test-builders-medium";
const autoScaling = mockClient(AutoScalingClient);
let runtime: LocalRuntime;
let sts: StsStandIn;
let client: ReturnType<typeof api>;

const describeGroup = (desired: number, instances: string[]) =>
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: GROUP,
        MinSize: 0,
        MaxSize: 4,
        DesiredCapacity: desired,
        Instances: instances.map((InstanceId) => ({ InstanceId, LifecycleState: "InService" })),
      } as never,
    ],
  });

beforeAll(async () => {
  sts = await startStsStandIn("sts.us-east-1.amazonaws.com", [
    {
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      arn: `arn:aws:sts::123456789012:assumed-role/gyre-test-builder/${INSTANCE}`,
    },
  ]);
  runtime = await startLocalRuntime({
    dataDir: tempDir("fleet"),
    port: 0,
    agents: 0,
    heartbeatSeconds: 3,
    builderIam: {
      serverId: "gyre-test",
      roleArns: ["arn:aws:iam::123456789012:role/gyre-test-builder"],
      stsEndpoint: sts.url,
    },
  });
  client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({
    ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    resource_class: medium
    steps:
      - run: sleep 3 && echo built
workflows:
  main:
    jobs: [build]
`,
  });
  expect(
    (await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/fleet" })).status,
  ).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
  await sts?.close();
  autoScaling.restore();
});

const groups = [{ name: GROUP, resourceClass: "medium", slotsPerInstance: 3 }];

async function jobOf(pipelineId: string) {
  const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
  if (!workflow) return undefined;
  return (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items![0];
}

describe("the builder fleet's control loop (Auto Scaling mocked at the SDK boundary)", () => {
  let pipelineId = "";

  it("scales an empty group out when a job waits in its class's queue", async () => {
    ({ id: pipelineId } = await trigger(client, "gh/acme/fleet", { branch: "main" }));
    await waitFor("the job to be queued", async () =>
      (await jobOf(pipelineId))?.status === "queued" ? true : undefined,
    );
    describeGroup(0, []);
    const pass = await waitFor("the queued message", async () => {
      const p = await scaleFleet(runtime.gyre, groups, 600_000);
      return p.decisions[0]?.queued ? p : undefined;
    });
    expect(pass).toEqual({
      decisions: [{ group: GROUP, desired: 1, terminate: [], queued: 1, running: 0, needed: 1 }],
      failures: [],
    });
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((c) => c.args[0].input)).toEqual([
      { AutoScalingGroupName: GROUP, DesiredCapacity: 1, HonorCooldown: false },
    ]);
  });

  it("serves booting instances the agent bundle the deploy uploaded, and that bundle joins and runs the job", async () => {
    // What the deploy does (infra/fleet.ts): bundle the agent and put it in the bucket.
    const built = join(tempDir("bundle"), "agent.mjs");
    bundleAgent(built);
    (runtime.gyre.resources as { fleet?: FleetSettings }).fleet = {
      groups,
      idleSeconds: 600,
      agentBundleKey: "fleet/gyre-agent.mjs",
    };
    await runtime.gyre.aws.s3.send(
      new PutObjectCommand({
        Bucket: runtime.gyre.resources.bucketName,
        Key: "fleet/gyre-agent.mjs",
        Body: readFileSync(built),
      }),
    );
    // What the boot script does: fetch it through the API (no credential), run it with the role.
    const response = await fetch(`${runtime.url}/agent/v1/bundle`);
    expect(response.status).toBe(200);
    const fetched = join(tempDir("instance"), "agent.mjs");
    writeFileSync(fetched, Buffer.from(await response.arrayBuffer()));
    expect(readFileSync(fetched).equals(readFileSync(built))).toBe(true);
    // Its credentials as the boot script gives them: credential_process over a root-written
    // copy of the role's (here the SQS stand-in's key), none in the environment.
    const dir = tempDir("instance-credentials");
    writeFileSync(
      join(dir, "aws-credentials.json"),
      JSON.stringify({ Version: 1, AccessKeyId: "S3RVER", SecretAccessKey: "S3RVER" }),
    );
    writeFileSync(
      join(dir, "aws-config"),
      `[default]\ncredential_process = /bin/cat ${join(dir, "aws-credentials.json")}\n`,
    );
    runtime.agents.start(
      "i-1",
      {
        GYRE_AUTH: "aws-iam",
        GYRE_IAM_SERVER_ID: "gyre-test",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "",
        AWS_SECRET_ACCESS_KEY: "",
        AWS_CONFIG_FILE: join(dir, "aws-config"),
      },
      fetched,
    );
    await waitFor("the job to run", async () =>
      (await jobOf(pipelineId))?.status === "running" ? true : undefined,
    );
    const [node] = await listNodes(runtime.gyre);
    expect(node?.instanceId).toBe(INSTANCE);
  });

  it("lets a terminating instance go only once the job its node runs has finished", async () => {
    await waitFor("the job to run", async () =>
      (await jobOf(pipelineId))?.status === "running" ? true : undefined,
    );
    const [node] = await listNodes(runtime.gyre);
    expect(node?.instanceId).toBe(INSTANCE);
    const completedWhile: string[] = [];
    autoScaling.on(CompleteLifecycleActionCommand).callsFake(async () => {
      completedWhile.push((await jobOf(pipelineId))?.status as string);
      return {};
    });
    const action = { instanceId: INSTANCE, group: GROUP, hook: "drain-before-terminate", token: "tok-1" };
    expect(await beginTermination(runtime.gyre, action)).toEqual({ drained: [node!.id], completed: false });
    await waitFor(
      "the lifecycle action to complete",
      async () => (completedWhile.length ? true : undefined),
      30_000,
    );
    expect(completedWhile).toEqual(["success"]);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input)).toEqual([
      {
        AutoScalingGroupName: GROUP,
        LifecycleHookName: "drain-before-terminate",
        LifecycleActionToken: "tok-1",
        InstanceId: INSTANCE,
        LifecycleActionResult: "CONTINUE",
      },
    ]);
  });

  it("scales in by terminating the idle instance by name, lowering the desired capacity", async () => {
    describeGroup(1, [INSTANCE]);
    const pass = await scaleFleet(runtime.gyre, groups, 0);
    expect(pass.decisions).toEqual([
      { group: GROUP, terminate: [INSTANCE], queued: 0, running: 0, needed: 0 },
    ]);
    expect(
      autoScaling.commandCalls(TerminateInstanceInAutoScalingGroupCommand).map((c) => c.args[0].input),
    ).toEqual([{ InstanceId: INSTANCE, ShouldDecrementDesiredCapacity: true }]);
  });

  it("reports a group it cannot find and still sizes the others", async () => {
    describeGroup(0, []);
    const pass = await scaleFleet(
      runtime.gyre,
      [{ name: "missing", resourceClass: "small", slotsPerInstance: 6 }, ...groups],
      600_000,
    );
    expect(pass.failures).toEqual(["missing: Auto Scaling group missing not found."]);
    expect(pass.decisions.map((d) => d.group)).toEqual([GROUP]);
  });
});
