/**
 * Builders on AWS register with their instance role: the agent signs an STS GetCallerIdentity
 * request (the SDK's signer) and the server has STS check it. STS has no local stand-in, so a
 * local server stands in for it that verifies each SigV4 signature by signing the request again
 * with the access key's secret (packages/core/src/node/sts-stand-in.ts): a wrong key, a stale
 * or replayed signature, another installation's server id all fail for real. The last test runs
 * a real agent with GYRE_AUTH=aws-iam on the local stack through a job.
 */
import { AutoScalingClient, DescribeAutoScalingInstancesCommand } from "@aws-sdk/client-auto-scaling";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { signRegistration, stsUrl } from "../packages/agent/src/iam.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { GyreError } from "../packages/core/src/error.ts";
import type { BuilderIamSettings } from "../packages/core/src/node/iam.ts";
import { verifyIamRegistration } from "../packages/core/src/node/iam.ts";
import { authenticateNode, listNodes, registerNode } from "../packages/core/src/node/index.ts";
import { type StsStandIn, startStsStandIn } from "../packages/core/src/node/sts-stand-in.ts";
import { memoryTable, type TestTable } from "../packages/core/src/store/test-table.ts";
import { api, gitRepo, runPipeline, tempDir, waitFor } from "./support.ts";

const REGION = "eu-west-1";
const HOST = `sts.${REGION}.amazonaws.com`;
const INSTANCE = "i-0123456789abcdef0";
const BUILDER = {
  accessKeyId: "ASIABUILDER",
  secretAccessKey: "builder-secret",
  sessionToken: "builder-session",
  arn: `arn:aws:sts::123456789012:assumed-role/gyre-prod-builder/${INSTANCE}`,
};
const OTHER_ROLE = {
  accessKeyId: "ASIAOTHER",
  secretAccessKey: "other-secret",
  arn: "arn:aws:sts::123456789012:assumed-role/some-app/i-0fedcba9876543210",
};

let sts: StsStandIn;
let table: TestTable;
let settings: BuilderIamSettings;
const request = { name: "builder-1" };

/** The error a promise rejects with: its code and message. */
async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GyreError);
  return { code: (error as GyreError).code, message: (error as GyreError).message };
}

describe("IAM registration (STS stood in by a local server that verifies SigV4)", () => {
  beforeAll(async () => {
    sts = await startStsStandIn(HOST, [BUILDER, OTHER_ROLE], () => table.gyre.now());
  });
  afterAll(async () => {
    await sts?.close();
  });
  beforeEach(async () => {
    await table?.close();
    settings = {
      serverId: "gyre-prod",
      roleArns: ["arn:aws:iam::123456789012:role/ci/gyre-prod-builder"],
      stsEndpoint: sts.url,
    };
    table = await memoryTable({ builderIam: settings, region: REGION });
    table.setNow(Date.now());
    sts.calls.length = 0;
  });

  const sign = (overrides: Partial<Parameters<typeof signRegistration>[0]> = {}) =>
    signRegistration({ region: REGION, serverId: "gyre-prod", credentials: BUILDER, ...overrides });

  it("registers a node for an instance of a builder role, recording its instance and role session", async () => {
    const identity = await verifyIamRegistration(table.gyre, await sign());
    expect(identity).toEqual({
      arn: BUILDER.arn,
      account: "123456789012",
      role: "gyre-prod-builder",
      instanceId: INSTANCE,
    });
    const answer = await registerNode(table.gyre, request, identity);
    expect(await authenticateNode(table.gyre, answer.credential)).toEqual({
      id: answer.node_id,
      draining: false,
      eligible: true,
    });
    const [node] = await listNodes(table.gyre);
    expect(node).toMatchObject({ id: answer.node_id, instanceId: INSTANCE, iamArn: BUILDER.arn });
    expect(sts.calls).toEqual([{ ok: true }]);
  });

  it("accepts each signed request once: a replay is refused", async () => {
    const signed = await sign();
    await verifyIamRegistration(table.gyre, signed);
    expect(await refusal(verifyIamRegistration(table.gyre, signed))).toEqual({
      code: "unauthorized",
      message: "This signed registration was used already: sign a new one.",
    });
  });

  it("refuses a request signed for another installation's server id without calling STS", async () => {
    expect(
      await refusal(verifyIamRegistration(table.gyre, await sign({ serverId: "gyre-staging" }))),
    ).toEqual({
      code: "unauthorized",
      message:
        "The registration was signed for another server id: set GYRE_IAM_SERVER_ID on the builder to this installation's.",
    });
    expect(sts.calls).toEqual([]);
  });

  it("refuses a server id header the signature does not cover", async () => {
    const signed = await sign();
    const authorization = signed.headers.authorization!.replace(";x-gyre-server-id", "");
    expect(
      await refusal(
        verifyIamRegistration(table.gyre, { ...signed, headers: { ...signed.headers, authorization } }),
      ),
    ).toEqual({
      code: "unauthorized",
      message: "The registration's signature does not cover x-gyre-server-id.",
    });
  });

  it("refuses what STS refuses (a wrong secret) and a signature more than 5 minutes from the server's clock", async () => {
    const wrong = await sign({ credentials: { ...BUILDER, secretAccessKey: "guess" } });
    expect(await refusal(verifyIamRegistration(table.gyre, wrong))).toEqual({
      code: "unauthorized",
      message:
        "STS refused the registration's signature: SignatureDoesNotMatch The request signature we calculated does not match the signature you provided.",
    });
    const stale = await sign({ now: () => new Date(table.gyre.now() - 6 * 60_000) });
    expect((await refusal(verifyIamRegistration(table.gyre, stale))).message).toBe(
      "The registration was not signed within 5 minutes of this server's clock: sign a new one.",
    );
    expect(await listNodes(table.gyre)).toEqual([]);
  });

  it("refuses a role that is not a builder role of this installation", async () => {
    expect(await refusal(verifyIamRegistration(table.gyre, await sign({ credentials: OTHER_ROLE })))).toEqual(
      {
        code: "unauthorized",
        message: "Role some-app of account 123456789012 is not a builder role of this installation.",
      },
    );
  });

  it("never sends a request anywhere but STS, nor any other action", async () => {
    const signed = await sign();
    expect(
      await refusal(verifyIamRegistration(table.gyre, { ...signed, url: "https://169.254.169.254/" })),
    ).toEqual({
      code: "bad_request",
      message: `aws_iam.url must be this region's STS endpoint, https://${HOST}/.`,
    });
    // Another region's STS is refused too: the signature must be this server's region's.
    expect(
      (
        await refusal(
          verifyIamRegistration(table.gyre, { ...signed, url: "https://sts.us-east-1.amazonaws.com/" }),
        )
      ).message,
    ).toBe(`aws_iam.url must be this region's STS endpoint, https://${HOST}/.`);
    expect(
      (
        await refusal(
          verifyIamRegistration(table.gyre, { ...signed, body: "Action=AssumeRole&Version=2011-06-15" }),
        )
      ).message,
    ).toBe('aws_iam.body must be "Action=GetCallerIdentity&Version=2011-06-15".');
    expect(sts.calls).toEqual([]);
    expect(stsUrl(REGION)).toBe(`https://${HOST}/`);
  });

  it("forwards only known headers, once each: an unknown or doubled header, or a padded signature, is refused", async () => {
    const signed = await sign();
    const headers = (extra: Record<string, string>) => ({
      ...signed,
      headers: { ...signed.headers, ...extra },
    });
    expect(
      await refusal(verifyIamRegistration(table.gyre, headers({ "x-forwarded-for": "1.2.3.4" }))),
    ).toEqual({
      code: "bad_request",
      message:
        "aws_iam.headers may hold only authorization, content-type, host, x-amz-content-sha256, x-amz-date, x-amz-security-token, x-gyre-server-id; not x-forwarded-for.",
    });
    const twice = headers({ Authorization: signed.headers.authorization! });
    expect((await refusal(verifyIamRegistration(table.gyre, twice))).message).toBe(
      "aws_iam.headers names authorization twice.",
    );
    const padded = headers({ authorization: `${signed.headers.authorization} ` });
    expect((await refusal(verifyIamRegistration(table.gyre, padded))).message).toBe(
      "aws_iam.headers.authorization has stray whitespace.",
    );
    expect(sts.calls).toEqual([]);
  });

  it("answers 503 when STS does not answer, so the builder tries again", async () => {
    const down = await memoryTable({
      builderIam: { ...settings, stsEndpoint: "http://127.0.0.1:9/" },
      region: REGION,
    });
    try {
      down.setNow(Date.now());
      expect(await refusal(verifyIamRegistration(down.gyre, await sign()))).toEqual({
        code: "unavailable",
        message: "STS did not answer the registration check: try again.",
      });
    } finally {
      await down.close();
    }
  });

  it("pins the role's unique id, so a role made again under the same name is refused", async () => {
    const pinned = await memoryTable({
      builderIam: { ...settings, roleIds: ["AROAEXAMPLE"] },
      region: REGION,
    });
    const remade = await memoryTable({
      builderIam: { ...settings, roleIds: ["AROANEWROLE"] },
      region: REGION,
    });
    try {
      pinned.setNow(Date.now());
      remade.setNow(Date.now());
      expect((await verifyIamRegistration(pinned.gyre, await sign())).instanceId).toBe(INSTANCE);
      expect(await refusal(verifyIamRegistration(remade.gyre, await sign()))).toEqual({
        code: "unauthorized",
        message:
          "Role gyre-prod-builder is not the builder role this installation made (its id changed: was it made again?).",
      });
    } finally {
      await pinned.close();
      await remade.close();
    }
  });

  it("admits only an instance InService in one of the installation's builder groups (Auto Scaling mocked at the SDK boundary)", async () => {
    const grouped = await memoryTable({
      builderIam: { ...settings, groupPrefix: "gyre-prod-builders-" },
      region: REGION,
    });
    const asg = mockClient(AutoScalingClient);
    try {
      grouped.setNow(Date.now());
      const answer = (group: string, state: string) =>
        asg.on(DescribeAutoScalingInstancesCommand, { InstanceIds: [INSTANCE] }).resolves({
          AutoScalingInstances: [
            { InstanceId: INSTANCE, AutoScalingGroupName: group, LifecycleState: state } as never,
          ],
        });
      answer("gyre-prod-builders-medium", "InService");
      expect((await verifyIamRegistration(grouped.gyre, await sign())).instanceId).toBe(INSTANCE);
      for (const [group, state] of [
        ["gyre-staging-builders-medium", "InService"],
        ["gyre-prod-builders-medium", "Warmed:Stopped"],
      ] as const) {
        answer(group, state);
        expect(await refusal(verifyIamRegistration(grouped.gyre, await sign()))).toEqual({
          code: "unauthorized",
          message: `Instance ${INSTANCE} is not in service in a builder group of this installation.`,
        });
      }
      asg.on(DescribeAutoScalingInstancesCommand).rejects(new Error("Rate exceeded"));
      expect((await refusal(verifyIamRegistration(grouped.gyre, await sign()))).code).toBe("unavailable");
    } finally {
      asg.restore();
      await grouped.close();
    }
  });

  it("refuses IAM registrations where no builder role is configured", async () => {
    const plain = await memoryTable({ region: REGION });
    try {
      expect(await refusal(verifyIamRegistration(plain.gyre, await sign()))).toEqual({
        code: "unauthorized",
        message: "This server does not accept IAM registrations (no builder role is configured).",
      });
    } finally {
      await plain.close();
    }
  });
});

describe("an agent with GYRE_AUTH=aws-iam (STS stood in by a local server that verifies SigV4)", () => {
  let runtime: LocalRuntime;
  let localSts: StsStandIn;

  beforeAll(async () => {
    // The local agents' AWS credentials (the SQS stand-in's key) sign as an instance role here.
    localSts = await startStsStandIn("sts.us-east-1.amazonaws.com", [
      { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", arn: BUILDER.arn },
    ]);
    runtime = await startLocalRuntime({
      dataDir: tempDir("iam"),
      port: 0,
      agents: 0,
      builderIam: {
        serverId: "gyre-local-test",
        roleArns: ["arn:aws:iam::123456789012:role/gyre-prod-builder"],
        stsEndpoint: localSts.url,
      },
    });
  });
  afterAll(async () => {
    await runtime?.stop();
    await localSts?.close();
  });

  it("registers with its instance role, no join token, and runs a job", async () => {
    runtime.agents.start("iam-1", {
      GYRE_AUTH: "aws-iam",
      GYRE_AGENT_TOKEN: "",
      GYRE_IAM_SERVER_ID: "gyre-local-test",
      AWS_REGION: "us-east-1",
    });
    const client = api(runtime.url, runtime.adminToken);
    const [node] = await waitFor("the IAM node", async () => {
      const items = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
      return items.length ? items : undefined;
    });
    expect(node).toMatchObject({ status: "ready", instance_id: INSTANCE });
    const repo = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\nworkflows:\n  main:\n    jobs: [build]\n",
    });
    expect(
      (await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/iam" })).status,
    ).toBe(201);
    const { workflow, byName } = await runPipeline(client, "gh/acme/iam");
    expect([workflow.status, byName.build?.status]).toEqual(["success", "success"]);
    expect(localSts.calls).toEqual([{ ok: true }]);
  });
});
