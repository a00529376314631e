/**
 * For tests: a Gyre whose table is a fresh in-memory DynamoDB stand-in (dynalite, in this
 * process, no data directory) and whose clock the test sets. Nothing else of the local stack.
 */
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { createGyre, type Gyre } from "../context.ts";
import type { Resources } from "../resources.ts";
import { LocalKeyPort } from "../secret/index.ts";
import { tableDefinition } from "../table-schema.ts";

interface Dynalite {
  listen(port: number, host: string, cb: (error?: Error) => void): void;
  close(cb: () => void): void;
  address(): AddressInfo;
}

export interface TestTable {
  gyre: Gyre;
  /** Sets the clock the Gyre reads (epoch ms). */
  setNow(ms: number): void;
  close(): Promise<void>;
}

/** `resources` adds to (or overrides) the defaults: other stand-ins' endpoints, queues, ARNs. */
export async function memoryTable(resources: Partial<Resources> = {}): Promise<TestTable> {
  const server = (createRequire(import.meta.url)("dynalite") as (o: object) => Dynalite)({
    createTableMs: 0,
  });
  await new Promise<void>((ok, fail) => server.listen(0, "127.0.0.1", (e) => (e ? fail(e) : ok())));
  const dir = mkdtempSync(join(tmpdir(), "gyre-table-"));
  let now = Date.parse("2026-01-01T00:00:00.000Z");
  const gyre: Gyre = {
    ...createGyre(
      {
        region: "us-east-1",
        tableName: "gyre",
        bucketName: "gyre",
        intakeQueueUrl: "",
        jobQueueUrls: {},
        stateMachineArn: "",
        heartbeatSeconds: 30,
        queueTimeoutSeconds: 86400,
        maxJobSeconds: 18000,
        ...resources,
        endpoints: { ...resources.endpoints, dynamodb: `http://127.0.0.1:${server.address().port}` },
      },
      new LocalKeyPort(dir),
      dir,
    ),
    now: () => now,
  };
  await gyre.aws.dynamo.send(new CreateTableCommand(tableDefinition("gyre")));
  return {
    gyre,
    setNow: (ms) => {
      now = ms;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** For tests that need a bucket: s3rver on a free port of 127.0.0.1 with `bucket` in a fresh directory. */
export async function testBucket(
  bucket = "gyre",
): Promise<{ endpoint: string; dir: string; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  // Whole objects only, as S3 answers them (see aws/s3rver-atomic.cjs).
  (require("../aws/s3rver-atomic.cjs") as { atomicS3rverPuts(r: NodeJS.Require): void }).atomicS3rverPuts(
    require,
  );
  const S3rver = require("s3rver") as new (
    o: object,
  ) => { run(): Promise<AddressInfo>; close(): Promise<void> };
  const dir = mkdtempSync(join(tmpdir(), "gyre-test-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    directory: join(dir, "s3"),
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  return { endpoint, dir, close: () => server.close() };
}
