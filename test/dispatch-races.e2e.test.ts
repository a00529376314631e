/**
 * Races around one allocation, against the real stand-ins (no builder runs: the test plays it):
 * a claim retried after its answer was lost, and a job that finished while the reconciler or
 * finalize held an older read of it.
 */
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import {
  type AllocationRef,
  claimAllocation,
  failOrRetry,
  finishAllocation,
  reconcile,
} from "../packages/core/src/dispatch/index.ts";
import { getJob, type Job } from "../packages/core/src/job/index.ts";
import { Keys } from "../packages/core/src/table.ts";
import { readWorkflow } from "../packages/core/src/workflow/index.ts";
import { api, gitRepo, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("races"), port: 0, agents: 0 });
});

afterAll(async () => {
  await runtime?.stop();
});

/** A fresh one-job pipeline whose job waits queued (no builder is running). */
async function queuedJob(slug: string): Promise<{ job: Job; ref: AllocationRef }> {
  const client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({
    ".circleci/config.yml":
      "version: 2.1\njobs:\n  one:\n    machine: true\n    steps:\n      - run: echo one\nworkflows:\n  main:\n    jobs: [one]\n",
  });
  await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
  const workflowId = await waitFor("the workflow", async () => {
    const [w] = (await client.get(`/api/v2/pipeline/${created.body.id}/workflow`)).body.items!;
    return w?.id as string | undefined;
  });
  const { jobs } = await readWorkflow(runtime.gyre, workflowId);
  const job = jobs[0]!;
  return { job, ref: { workflowId, jobName: job.name, jobId: job.id, attempt: job.attempt, index: 0 } };
}

describe("allocation races", () => {
  it("answers a retried claim from the same node with the job, and a claim from another node with 409", async () => {
    const { ref } = await queuedJob("gh/acme/race-claim");
    const first = await claimAllocation(runtime.gyre, ref, "node-a");
    const again = await claimAllocation(runtime.gyre, ref, "node-a");
    expect(again.id).toBe(first.id);
    expect(again.allocations["0"]).toMatchObject({ status: "running", nodeId: "node-a" });
    await expect(claimAllocation(runtime.gyre, ref, "node-b")).rejects.toMatchObject({ code: "conflict" });
  });

  it("never resets or fails a job that finished after the lost-allocation handler read it", async () => {
    const { ref } = await queuedJob("gh/acme/race-finish");
    await claimAllocation(runtime.gyre, ref, "node-a");
    const stale = await getJob(runtime.gyre, ref.workflowId, ref.jobName); // running, as the reconciler saw it
    await finishAllocation(runtime.gyre, ref, "node-a", "no-such-token", "success", 1);
    await failOrRetry(runtime.gyre, stale, ref, "infrastructure_fail", false);
    await failOrRetry(runtime.gyre, { ...stale, retries: 1 }, ref, "infrastructure_fail", false);
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "success", attempt: 1, retries: 0 });
    expect(job.allocations["0"]).toMatchObject({ status: "success" });
  });

  it("settles a job whose allocations all finished when its own status was never written", async () => {
    const { ref } = await queuedJob("gh/acme/race-settle");
    await claimAllocation(runtime.gyre, ref, "node-a");
    // As if a parallel job's report died after its allocation write: allocation done, job running.
    await runtime.gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: runtime.gyre.resources.tableName,
        Key: Keys.job(ref.workflowId, ref.jobName),
        UpdateExpression: "SET allocations.#i.#s = :done, updatedAt = :old",
        ExpressionAttributeNames: { "#i": "0", "#s": "status" },
        ExpressionAttributeValues: { ":done": "success", ":old": 0 },
      }),
    );
    expect((await getJob(runtime.gyre, ref.workflowId, ref.jobName)).status).toBe("running");
    await reconcile(runtime.gyre, { graceMs: 0 });
    expect((await getJob(runtime.gyre, ref.workflowId, ref.jobName)).status).toBe("success");
  });

  it("still retries a lost allocation it read correctly, and lists the new attempt for the reconciler", async () => {
    const { ref } = await queuedJob("gh/acme/race-lost");
    await claimAllocation(runtime.gyre, ref, "node-a");
    const seen = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    await failOrRetry(runtime.gyre, seen, ref, "infrastructure_fail", false);
    const job = (await getJob(runtime.gyre, ref.workflowId, ref.jobName)) as Job & { gsi2pk?: string };
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 1 });
    expect(job.gsi2pk).toMatch(/^ACTIVE#\d$/);
  });
});
