/**
 * Sending many messages to one queue: SendMessageBatch, ten entries (and at most 256 KiB) per
 * request, the requests in parallel. One answer per body, in order: undefined when it was
 * sent, the error when it was not (a whole request failing fails each of its entries).
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
  await Promise.all(
    batches.map(async (batch) => {
      try {
        const out = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((i) => ({ Id: String(i), MessageBody: bodies[i] })),
          }),
        );
        for (const failed of out.Failed ?? [])
          answers[Number(failed.Id)] = new Error(
            `The queue refused a message: ${failed.Code ?? "error"} ${failed.Message ?? ""}`.trim(),
          );
      } catch (error) {
        for (const i of batch) answers[i] = error instanceof Error ? error : new Error(String(error));
      }
    }),
  );
  return answers;
}
