/**
 * The settle a restore runs (settle.ts) as a unit: the dispatch path's in-process stand-ins
 * (dispatch/test-world.ts) for the table, queue and executions, a real S3 wire protocol
 * (s3rver, the local runtime's stand-in) for the step output. A job caught running by the
 * backup ends infrastructure_fail, and so does the step it was in: its steps document no
 * longer says `running`, and its output says why it stopped.
 */

import { S3Client } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deleteKeys, listKeys } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { claimAllocation } from "../dispatch/allocation.ts";
import { type DispatchWorld, dispatchWorld } from "../dispatch/test-world.ts";
import { findJob } from "../job/index.ts";
import { readStepOutput, readSteps, writeOutput } from "../output/index.ts";
import { testBucket } from "../store/test-table.ts";
import { interruptedStepLine, settleRestoredJobs } from "./settle.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{ image: cimg/base:stable }]
    steps: [checkout, { run: { name: Test, command: make test } }]
workflows:
  main:
    jobs: [build]
`;
const BACKUP_AT = "2026-01-01T00:04:00.000Z";

let s3: { close(): Promise<void> };
let s3Endpoint: string;
beforeAll(async () => {
  const bucket = await testBucket();
  s3Endpoint = bucket.endpoint;
  s3 = bucket;
});
afterAll(async () => {
  await s3?.close();
});

let world: DispatchWorld;
/** The world's Gyre with the s3rver bucket. */
let gyre: Gyre;
beforeEach(async () => {
  world = await dispatchWorld();
  const client = new S3Client({
    region: "us-east-1",
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  gyre = {
    ...world.gyre,
    aws: Object.defineProperty(Object.create(world.gyre.aws), "s3", { value: client }),
  };
  // Job ids are the same in every world: the bucket starts empty for each test.
  await deleteKeys(gyre, await listKeys(gyre, "output/"));
});
afterEach(async () => {
  gyre.aws.s3.destroy();
  await world.close();
});

describe("settleRestoredJobs: the steps of a job a restore interrupted", () => {
  it("ends the step still running (canceled, at the settle time) with a line saying why, and leaves the others", async () => {
    world.setNow(Date.parse("2026-01-01T00:01:00.000Z"));
    const { workflowIds } = await world.pipeline(CONFIG);
    const message = (await world.take())!;
    await claimAllocation(gyre, {
      allocation: message.allocation,
      node_id: "node-a",
      task_token: message.taskToken,
    });
    const alloc = { jobId: message.allocation.jobId, attempt: message.allocation.attempt, index: 0 };
    // What the backup caught: checkout done, the test step part way, its last line unfinished.
    const checkout = {
      index: 0,
      name: "Checkout code",
      type: "checkout",
      status: "success" as const,
      startedAt: "2026-01-01T00:01:01.000Z",
      endedAt: "2026-01-01T00:01:02.000Z",
      exitCode: 0,
    };
    const test = {
      index: 1,
      name: "Test",
      type: "run",
      status: "running" as const,
      startedAt: "2026-01-01T00:01:02.000Z",
    };
    await writeOutput(gyre, alloc, {
      steps: [checkout, test],
      chunks: [
        { step: 0, seq: 0, data: "Cloning\n" },
        { step: 1, seq: 0, data: "ok 1\n" },
        { step: 1, seq: 1, data: "ok 2\nok" },
      ],
    });

    world.setNow(Date.parse("2026-01-01T00:10:00.000Z"));
    const report = await settleRestoredJobs(gyre, { backupCreatedAt: BACKUP_AT });
    expect(report).toMatchObject({ interrupted: 1, failures: [] });
    expect((await findJob(gyre, workflowIds[0]!, "build"))?.status).toBe("infrastructure_fail");

    expect(await readSteps(gyre, alloc)).toEqual([
      checkout,
      { ...test, status: "canceled", endedAt: "2026-01-01T00:10:00.000Z" },
    ]);
    expect(await readStepOutput(gyre, alloc, 1)).toBe(`ok 1\nok 2\nok\n${interruptedStepLine(BACKUP_AT)}`);
    expect(interruptedStepLine(BACKUP_AT)).toBe(
      `This step was interrupted by a restore: it was running when the backup was taken (${BACKUP_AT}). Rerun the workflow to run it again.\n`,
    );
    expect(await readStepOutput(gyre, alloc, 0)).toBe("Cloning\n");

    // Settled again (a restore run again): nothing more is written.
    expect((await settleRestoredJobs(gyre, { backupCreatedAt: BACKUP_AT })).interrupted).toBe(0);
    expect(await readStepOutput(gyre, alloc, 1)).toBe(`ok 1\nok 2\nok\n${interruptedStepLine(BACKUP_AT)}`);
  });

  it("ends a queued job without a steps document, writing none", async () => {
    const { workflowIds } = await world.pipeline(CONFIG);
    const message = (await world.take())!;
    const report = await settleRestoredJobs(gyre, { backupCreatedAt: BACKUP_AT });
    expect(report.interrupted).toBe(1);
    expect((await findJob(gyre, workflowIds[0]!, "build"))?.status).toBe("infrastructure_fail");
    expect(
      await readSteps(gyre, {
        jobId: message.allocation.jobId,
        attempt: message.allocation.attempt,
        index: 0,
      }),
    ).toEqual([]);
  });
});
