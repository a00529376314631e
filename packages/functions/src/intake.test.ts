import type { Gyre } from "@gyre/core/context";
import { consumeIntakeMessage } from "@gyre/core/pipeline/index";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { type Consume, intakeHandler } from "./intake.ts";

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "sender",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:1:gyre-intake",
    awsRegion: "eu-west-1",
  };
}

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const context = {} as Context;

/** A trigger for the intake queue, with a commit message that must never reach a log. */
/** A valid intake message; `p-N` names the N-th pipeline id. */
const trigger = (name: string) =>
  JSON.stringify({
    pipelineId: `00000000-0000-4000-8000-${name.replace(/\D/g, "").padStart(12, "0")}`,
    projectSlug: "gh/acme/api",
    ref: { branch: "main" },
    trigger: { type: "webhook", receivedAt: "2026-01-01T00:00:00.000Z", actor: "octocat" },
    commit: { subject: "private commit subject", body: "private commit body" },
  });

/** A context whose first use fails, as an unreachable DynamoDB would: a failure worth retrying. */
const unreachable = new Proxy({} as Gyre, {
  get: () => {
    throw new Error("DynamoDB is unreachable");
  },
});

describe("intake handler", () => {
  it("reports exactly the record whose consumer rejected", async () => {
    const lines: string[] = [];
    const seen: string[] = [];
    const consume: Consume = async (body) => {
      seen.push(body);
      if (body === trigger("p-2")) throw new Error("GitHub answered 502");
    };
    const handler = intakeHandler(consume, (line) => lines.push(line));
    const response = await handler(
      batch(record("m-1", trigger("p-1")), record("m-2", trigger("p-2")), record("m-3", trigger("p-3"))),
      context,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m-2" }] });
    expect(seen).toHaveLength(3);
    expect(lines).toEqual(["intake: message m-2 failed: Error: GitHub answered 502"]);
  });

  it("reports a record whose consumer throws before its first await, and no other", async () => {
    const consume = ((body: string) => {
      if (body === "b") throw new TypeError("boom");
      return Promise.resolve();
    }) as Consume;
    const response = await intakeHandler(consume, () => {})(
      batch(record("m-1", "a"), record("m-2", "b"), record("m-3", "c")),
      context,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m-2" }] });
  });

  it("answers an empty failure list when every record succeeds", async () => {
    const response = await intakeHandler(
      async () => {},
      () => {},
    )(batch(record("m-1", "a"), record("m-2", "b")), context);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it("drops a malformed message instead of having it retried, and retries one that may yet succeed", async () => {
    const warnings: string[] = [];
    const lines: string[] = [];
    // The real consumer: what cannot ever succeed is dropped before the context is touched.
    const consume: Consume = (body) => consumeIntakeMessage(unreachable, body, (line) => warnings.push(line));
    const response = await intakeHandler(consume, (line) => lines.push(line))(
      batch(
        record("not-json", "{this is not json private commit subject"),
        record("no-fields", JSON.stringify({ hello: "private commit subject" })),
        record("valid", trigger("p-1")),
      ),
      context,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "valid" }] });
    expect(warnings).toEqual([
      "intake: dropping a message that cannot succeed: The intake message is not JSON.",
      "intake: dropping a message that cannot succeed: Invalid intake message: pipelineId: Invalid input: expected string, received undefined; projectSlug: Invalid input: expected string, received undefined; trigger: Invalid input: expected object, received undefined; ref: Invalid input: expected object, received undefined",
    ]);
    expect(lines).toEqual(["intake: message valid failed: Error: DynamoDB is unreachable"]);
  });

  it("never logs a message body, whatever the error carries", async () => {
    const lines: string[] = [];
    const consume: Consume = async () => {
      throw Object.assign(new Error("stored nothing"), { body: "private commit body" });
    };
    await intakeHandler(consume, (line) => lines.push(line))(batch(record("m-1", trigger("p-1"))), context);
    expect(lines).toEqual(["intake: message m-1 failed: Error: stored nothing"]);
    expect(lines.join("\n")).not.toContain("private");
  });
});
