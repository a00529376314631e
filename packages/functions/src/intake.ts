/**
 * SQS intake queue → pipelines. The records of a batch are consumed side by side; a record
 * that fails is reported alone (partial batch response, `ReportBatchItemFailures` in
 * infra/intake.ts), so SQS redelivers only it and dead-letters it in the end. A message that can
 * never succeed (not JSON, its project gone) is dropped by consumeIntakeMessage, not failed.
 */

import { consumeIntakeMessage } from "@gyre/core/pipeline/index";
import middy from "@middy/core";
import sqsPartialBatchFailure from "@middy/sqs-partial-batch-failure";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { describeError, lambdaGyre } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

/** Turns one message body into its pipeline, or throws to have the message redelivered. */
export type Consume = (body: string) => Promise<void>;

const consumeWithGyre: Consume = (body) => consumeIntakeMessage(lambdaGyre(), body, console.warn);

/**
 * The handler proper: one settled result per record, in the records' order, which is what
 * sqs-partial-batch-failure turns into `batchItemFailures`.
 */
export function processBatch(event: SQSEvent, consume: Consume = consumeWithGyre) {
  // async: a consumer that throws before its first await rejects its record alone.
  return Promise.allSettled(event.Records.map(async (record) => consume(record.body)));
}

/**
 * The intake Lambda handler, consuming with `consume`. A failed record is logged by its
 * messageId and the error's name and message: never its body, which carries commit messages.
 * Should the handler itself throw, every record of the batch is reported failed.
 */
export function intakeHandler(
  consume: Consume = consumeWithGyre,
  log: (line: string) => void = console.error,
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const handler = middy<SQSEvent, PromiseSettledResult<void>[]>()
    .use(
      sqsPartialBatchFailure({
        logger: (reason: unknown, record: SQSRecord) =>
          log(`intake: message ${record.messageId} failed: ${describeError(reason)}`),
      }),
    )
    .handler((event) => processBatch(event, consume));
  // middy's types keep the handler's result type; the middleware's `after` replaces that
  // result (the settled records) with the batch response Lambda gets.
  return handler as unknown as (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
}

export const handler = withEventMetrics(intakeHandler());
