import { readFileSync } from "node:fs";
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASL_PATH, LocalStepFunctions } from "./local-stepfunctions.ts";

const ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:test";
const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
let sqs: SQSClient;
let sfn: SFNClient;
const adapters: LocalStepFunctions[] = [];
const finalized: unknown[] = [];
const DOCUMENT = readFileSync(ASL_PATH, "utf8");

/** An adapter running `definition` (the real document unless a test changes one of its fields). */
async function adapterFor(definition: string): Promise<SFNClient> {
  const adapter = new LocalStepFunctions({
    definition,
    stateMachineArn: ARN,
    substitutions: { FinalizeFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:finalize" },
    functions: {
      finalize: async (input) => {
        finalized.push(input);
        return { finalized: true };
      },
    },
    sqs,
  });
  adapters.push(adapter);
  return new SFNClient({ region: "us-east-1", endpoint: await adapter.listen(), credentials });
}

/** The real document with its Dispatch state's fields changed. */
function withDispatch(fields: Record<string, unknown>): string {
  const doc = JSON.parse(DOCUMENT);
  Object.assign(doc.States.Dispatch, fields);
  return JSON.stringify(doc);
}

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({ region: "us-east-1", endpoint: fauxqs.address, credentials });
  sfn = await adapterFor(DOCUMENT);
});

afterAll(async () => {
  for (const adapter of adapters) await adapter.close();
  await fauxqs.stop();
});

async function start(name: string, client = sfn) {
  const queueUrl = fauxqs.createQueue(`jobs-${name}`).queueUrl;
  const input = { queueUrl, allocation: { jobId: name } };
  await client.send(new StartExecutionCommand({ stateMachineArn: ARN, name, input: JSON.stringify(input) }));
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 1 }),
  );
  const message = JSON.parse(out.Messages![0]!.Body!) as { taskToken: string; allocation: { jobId: string } };
  return { input, message };
}

async function finished(name: string, client = sfn) {
  for (;;) {
    const d = await client.send(
      new DescribeExecutionCommand({
        executionArn: `${ARN.replace(":stateMachine:", ":execution:")}:${name}`,
      }),
    );
    if (d.status !== "RUNNING") return d;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const finalizedFor = (name: string) =>
  finalized.find((f) => (f as { allocation: { jobId: string } }).allocation.jobId === name);

describe("the local Step Functions adapter running infra/job-allocation.asl.json", () => {
  it("sends the allocation with a task token and finalizes with the builder's result", async () => {
    const { input, message } = await start("ok");
    expect(message.allocation).toEqual({ jobId: "ok" });
    await sfn.send(
      new SendTaskSuccessCommand({
        taskToken: message.taskToken,
        output: JSON.stringify({ status: "success" }),
      }),
    );
    const d = await finished("ok");
    expect(d.status).toBe("SUCCEEDED");
    expect(JSON.parse(d.output!)).toEqual({ finalized: true });
    expect(finalizedFor("ok")).toEqual({ ...input, result: { status: "success" } });
  });

  it("keeps an allocation nobody has claimed waiting: the document has no heartbeat clock", async () => {
    const { message } = await start("waiting");
    await new Promise((r) => setTimeout(r, 1500));
    const d = await sfn.send(
      new DescribeExecutionCommand({
        executionArn: `${ARN.replace(":stateMachine:", ":execution:")}:waiting`,
      }),
    );
    expect(d.status).toBe("RUNNING");
    await sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: "{}" }));
    expect((await finished("waiting")).status).toBe("SUCCEEDED");
  });

  it("fails a task past its TimeoutSeconds with States.Timeout, and the document's Catch finalizes", async () => {
    const client = await adapterFor(withDispatch({ TimeoutSeconds: 1 }));
    const { message } = await start("too-long", client);
    const d = await finished("too-long", client);
    expect(d.status).toBe("SUCCEEDED");
    expect(finalizedFor("too-long")).toMatchObject({ error: { Error: "States.Timeout" } });
    await expect(
      client.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: "{}" })),
    ).rejects.toMatchObject({
      name: "TaskDoesNotExist",
    });
  });

  it("raises States.HeartbeatTimeout for a task with HeartbeatSeconds that goes silent, and keeps one alive while heartbeats arrive", async () => {
    const client = await adapterFor(withDispatch({ HeartbeatSeconds: 1 }));
    await start("silent", client);
    await finished("silent", client);
    expect(finalizedFor("silent")).toMatchObject({ error: { Error: "States.HeartbeatTimeout" } });
    const { message } = await start("alive", client);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      await client.send(new SendTaskHeartbeatCommand({ taskToken: message.taskToken }));
    }
    await client.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: "{}" }));
    expect((await finished("alive", client)).status).toBe("SUCCEEDED");
    expect(finalizedFor("alive")).not.toHaveProperty("error");
  });

  it("passes a builder's failure to Finalize under the error name it gave", async () => {
    const { message } = await start("broken");
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: message.taskToken, error: "Gyre.Canceled", cause: "by user" }),
    );
    await finished("broken");
    expect(finalizedFor("broken")).toMatchObject({ error: { Error: "Gyre.Canceled", Cause: "by user" } });
  });

  it("treats a second start with the same name and input as a no-op, and other input as a conflict", async () => {
    const queueUrl = fauxqs.createQueue("jobs-dup").queueUrl;
    const input = JSON.stringify({ queueUrl, allocation: { jobId: "dup" } });
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "dup", input }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "dup", input }));
    expect(again.executionArn).toBe(first.executionArn);
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: ARN, name: "dup", input: "{}" })),
    ).rejects.toMatchObject({
      name: "ExecutionAlreadyExists",
    });
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }),
    );
    expect(out.Messages).toHaveLength(1);
  });

  it("answers ExecutionDoesNotExist and TaskDoesNotExist for unknown names and tokens", async () => {
    await expect(
      sfn.send(
        new DescribeExecutionCommand({
          executionArn: `${ARN.replace(":stateMachine:", ":execution:")}:nope`,
        }),
      ),
    ).rejects.toMatchObject({ name: "ExecutionDoesNotExist" });
    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: "nope", output: "{}" })),
    ).rejects.toMatchObject({
      name: "TaskDoesNotExist",
    });
  });
});
