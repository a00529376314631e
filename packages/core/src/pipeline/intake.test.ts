import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProject } from "../project/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { parseIntakeMessage, triggerPipeline } from "./intake.ts";
import { findPipeline } from "./read.ts";

describe("triggerPipeline under a burst (dynalite and fauxqs in this process)", () => {
  let table: TestTable;
  let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
  let queueUrl: string;

  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    queueUrl = fauxqs.createQueue("gyre-intake").queueUrl;
    table = await memoryTable({ intakeQueueUrl: queueUrl, endpoints: { sqs: fauxqs.address } });
  });
  afterAll(async () => {
    await table.close();
    await fauxqs.stop();
  });

  it("answers every trigger of a burst with its own pending pipeline and number, and enqueues each once, in fewer requests than triggers", async () => {
    const { gyre } = table;
    const { project } = await createProject(gyre, { repoUrl: "/src/burst", slug: "local/src/burst" });
    const requests = new Map<string, number>();
    const count =
      (service: string) =>
      (next: (a: unknown) => Promise<unknown>, ctx: { commandName?: string }) =>
      (args: unknown) => {
        const name = `${service} ${ctx.commandName}`;
        requests.set(name, (requests.get(name) ?? 0) + 1);
        return next(args);
      };
    const options = { step: "initialize", name: "countRequests" } as const;
    gyre.aws.dynamo.middlewareStack.add(count("DynamoDB") as never, options);
    gyre.aws.sqs.middlewareStack.add(count("SQS") as never, options);
    const N = 30;
    const pipelines = await Promise.all(
      Array.from({ length: N }, (_, i) => triggerPipeline(gyre, project, { actor: `user-${i}` })),
    );
    gyre.aws.dynamo.middlewareStack.remove("countRequests");
    gyre.aws.sqs.middlewareStack.remove("countRequests");

    expect(new Set(pipelines.map((p) => p.id)).size).toBe(N);
    expect(pipelines.map((p) => p.number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: N }, (_, i) => i + 1),
    );
    // Each one is stored as it was answered, pending, on the default branch.
    for (const p of pipelines) {
      const stored = await findPipeline(gyre, p.id);
      expect(stored).toMatchObject({ id: p.id, number: p.number, state: "pending", vcs: { branch: "main" } });
    }
    // One intake message per pipeline, naming it.
    const ids: string[] = [];
    for (let empty = 0; empty < 2 && ids.length <= N; ) {
      const out = await gyre.aws.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (!out.Messages?.length) empty++;
      for (const m of out.Messages ?? []) ids.push(parseIntakeMessage(m.Body ?? "").pipelineId);
    }
    expect(ids.sort()).toEqual(pipelines.map((p) => p.id).sort());
    // Batched: fewer counter writes, pipeline writes and sends than triggers.
    const of = (name: string) => requests.get(name) ?? 0;
    const writes =
      of("DynamoDB UpdateItemCommand") + of("DynamoDB PutItemCommand") + of("DynamoDB BatchWriteItemCommand");
    expect(writes).toBeLessThan(N);
    expect(of("SQS SendMessageCommand") + of("SQS SendMessageBatchCommand")).toBeLessThan(N);
    expect(of("DynamoDB BatchWriteItemCommand")).toBeGreaterThan(0);
  });
});
