/**
 * Sending many messages to one queue: SendMessageBatch, ten entries (and at most 256 KiB) per
 * request, the requests in parallel. One answer per body, in order: undefined when it was
 * sent, the error when it was not (a whole request failing fails each of its entries; an
 * entry the queue failed on its own side is sent again, twice at most).
 */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";

const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

export async function sendMessages(
  sqs: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
): Promise<(Error | undefined)[]> {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  bodies.forEach((body, i) => {
    const size = Buffer.byteLength(body);
    if (current.length === MAX_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  const answers: (Error | undefined)[] = bodies.map(() => undefined);
  await Promise.all(batches.map((batch) => sendBatch(sqs, queueUrl, bodies, batch, answers)));
  return answers;
}

/** One SendMessageBatch; entries the queue failed on its side (not the sender's fault) are sent again, twice at most. */
async function sendBatch(
  sqs: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
  batch: number[],
  answers: (Error | undefined)[],
): Promise<void> {
  let pending = batch;
  for (let round = 0; pending.length > 0; round++) {
    try {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: pending.map((i) => ({ Id: String(i), MessageBody: bodies[i] })),
        }),
      );
      const retry: number[] = [];
      for (const failed of out.Failed ?? []) {
        const i = Number(failed.Id);
        answers[i] = new Error(
          `The queue refused a message: ${failed.Code ?? "error"} ${failed.Message ?? ""}`.trim(),
        );
        if (!failed.SenderFault && round < 2) retry.push(i);
      }
      for (const i of retry) answers[i] = undefined;
      pending = retry;
    } catch (error) {
      for (const i of pending) answers[i] = error instanceof Error ? error : new Error(String(error));
      return;
    }
  }
}
