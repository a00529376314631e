/**
 * Starts the local stand-ins for DynamoDB, SQS and S3 in a worker thread (standins-worker.mjs)
 * and answers their endpoints and queue URLs. On a two-core machine this lets the stand-ins and
 * Gyre's handlers use both cores instead of taking turns on one event loop.
 */
import { Worker } from "node:worker_threads";

export interface QueueSpec {
  name: string;
  attributes?: Record<string, string>;
}

export interface StandIns {
  endpoints: { dynamodb: string; sqs: string; s3: string };
  queueUrls: Record<string, string>;
  close(): Promise<void>;
}

interface Ready {
  endpoints?: StandIns["endpoints"];
  queueUrls?: Record<string, string>;
  error?: string;
  closed?: boolean;
}

export async function startStandIns(options: {
  dynamodbPath: string;
  s3Directory: string;
  bucket: string;
  queues: QueueSpec[];
}): Promise<StandIns> {
  const worker = new Worker(new URL("./standins-worker.mjs", import.meta.url), {
    workerData: options,
    // The worker's own loader hooks are not needed: it is plain JavaScript.
    execArgv: [],
  });
  const ready = await new Promise<Ready>((ok, fail) => {
    worker.once("message", ok);
    worker.once("error", fail);
    worker.once("exit", (code) => fail(new Error(`The local stand-ins' worker exited with code ${code}.`)));
  });
  if (ready.error || !ready.endpoints || !ready.queueUrls) {
    await worker.terminate();
    throw new Error(`The local stand-ins did not start: ${ready.error ?? "no endpoints"}`);
  }
  worker.removeAllListeners("exit");
  return {
    endpoints: ready.endpoints,
    queueUrls: ready.queueUrls,
    close: async () => {
      const closed = new Promise<void>((ok) => {
        worker.on("message", (m: Ready) => m.closed && ok());
        worker.once("exit", () => ok());
      });
      worker.postMessage("close");
      await closed;
      await worker.terminate();
    },
  };
}
