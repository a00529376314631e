/** SQS intake queue → pipelines. Failed records are reported one by one (partial batch failure). */

import { consumeIntakeMessage } from "@gyre/core/pipeline/index";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { lambdaGyre } from "./lambda.ts";

export async function processBatch(
  event: SQSEvent,
  consume = (body: string) => consumeIntakeMessage(lambdaGyre(), body, console.warn),
) {
  const failures: SQSBatchResponse["batchItemFailures"] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      try {
        await consume(record.body);
      } catch (error) {
        console.error(
          `intake: message ${record.messageId} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
        failures.push({ itemIdentifier: record.messageId });
      }
    }),
  );
  return { batchItemFailures: failures };
}

export const handler = middy<SQSEvent, SQSBatchResponse>().handler((event) => processBatch(event));
