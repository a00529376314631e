/**
 * The local stand-ins (dynalite for DynamoDB, fauxqs for SQS, s3rver for S3) in a worker
 * thread of their own: they speak HTTP on 127.0.0.1 exactly as in the main thread, but the CPU
 * they spend parsing, storing and answering requests no longer stalls Gyre's handlers, which run
 * on the main thread (standins.ts starts this; plain JavaScript so that it needs no loader).
 *
 * workerData: { dynamodbPath, s3Directory, bucket, queues: [{ name, attributes }] }.
 * Posts { endpoints, queueUrls } once listening (or { error }), and { closed: true } after a
 * "close" message.
 */
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";

const require = createRequire(import.meta.url);
const closers = [];

async function start() {
  const dynalite = require("dynalite")({
    path: workerData.dynamodbPath,
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise((ok, fail) => dynalite.listen(0, "127.0.0.1", (error) => (error ? fail(error) : ok())));
  closers.push(() => new Promise((ok) => dynalite.close(() => ok())));

  const { startFauxqs } = await import("fauxqs");
  const fauxqs = await startFauxqs({ port: 0, logger: false });
  closers.push(() => fauxqs.stop());
  const queueUrls = {};
  for (const queue of workerData.queues) {
    queueUrls[queue.name] = fauxqs.createQueue(queue.name, { attributes: queue.attributes }).queueUrl;
  }

  // Whole objects only, as S3 answers them (see s3rver-atomic.cjs).
  require("../../../core/src/aws/s3rver-atomic.cjs").atomicS3rverPuts(require);
  const S3rver = require("s3rver");
  const s3 = new S3rver({
    port: 0,
    address: "127.0.0.1",
    directory: workerData.s3Directory,
    silent: true,
    configureBuckets: [{ name: workerData.bucket }],
  });
  const address = await s3.run();
  closers.push(() => s3.close());

  return {
    endpoints: {
      dynamodb: `http://127.0.0.1:${dynalite.address().port}`,
      sqs: fauxqs.address,
      s3: `http://127.0.0.1:${address.port}`,
    },
    queueUrls,
  };
}

async function close() {
  for (const closer of closers.reverse()) await closer().catch(() => undefined);
}

parentPort.on("message", (message) => {
  if (message === "close") close().then(() => parentPort.postMessage({ closed: true }));
});

start().then(
  (ready) => parentPort.postMessage(ready),
  (error) =>
    close().then(() =>
      parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) }),
    ),
);
