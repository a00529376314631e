import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendMessages } from "./sqs.ts";

describe("sendMessages (fauxqs in this process)", () => {
  let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
  let sqs: SQSClient;
  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    sqs = new SQSClient({
      endpoint: fauxqs.address,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
  });
  afterAll(async () => {
    sqs.destroy();
    await fauxqs.stop();
  });

  it("sends 25 bodies, two of 100 KiB among them, in requests of at most 10 entries and 256 KiB, each body once", async () => {
    const { queueUrl } = fauxqs.createQueue("split");
    const bodies = Array.from({ length: 25 }, (_, i) =>
      i === 3 || i === 4 ? `${i}:${"x".repeat(100 * 1024)}` : `${i}`,
    );
    let requests = 0;
    sqs.middlewareStack.add(
      (next) => (args) => {
        requests++;
        return next(args);
      },
      { step: "initialize", name: "count" },
    );
    expect(await sendMessages(sqs, queueUrl, bodies)).toEqual(Array(25).fill(undefined));
    sqs.middlewareStack.remove("count");
    expect(requests).toBe(3);
    const received: string[] = [];
    for (let empty = 0; empty < 2; ) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (!out.Messages?.length) empty++;
      for (const m of out.Messages ?? []) received.push(m.Body!);
    }
    expect(received.sort()).toEqual([...bodies].sort());
  });

  it("answers each body of a request that failed with its error, and leaves the others sent", async () => {
    const { queueUrl } = fauxqs.createQueue("half");
    const missing = queueUrl.replace("half", "no-such-queue");
    const [ok] = await sendMessages(sqs, queueUrl, ["fine"]);
    const failed = await sendMessages(sqs, missing, ["a", "b"]);
    expect(ok).toBeUndefined();
    expect(failed.map((e) => e instanceof Error)).toEqual([true, true]);
  });
});
