/**
 * Races around one allocation, against the real stand-ins (no builder runs: the test plays it):
 * a claim retried after its answer was lost, and a job that finished while the reconciler or
 * finalize held an older read of it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import {
  type AllocationRef,
  claimAllocation,
  finishAllocation,
  loseAllocation,
  reconcile,
} from "../packages/core/src/dispatch/index.ts";
import { getJob } from "../packages/core/src/job/index.ts";
import { heartbeatNode, registerNode } from "../packages/core/src/node/index.ts";
import { createPipeline, findPipeline } from "../packages/core/src/pipeline/index.ts";
import { z } from "../packages/core/src/protocol/schema.ts";
import { getItem, putItem, tryUpdate } from "../packages/core/src/store/index.ts";
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
async function queuedJob(slug: string): Promise<{ ref: AllocationRef }> {
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
  return { ref: { workflowId, jobName: job.name, jobId: job.id, attempt: job.attempt, index: 0 } };
}

describe("allocation races", () => {
  it("answers a retried claim from the same node with the job, and a claim from another node with 409", async () => {
    const { ref } = await queuedJob("gh/acme/race-claim");
    const first = await claim(ref, "node-a");
    const again = await claim(ref, "node-a");
    expect(again.id).toBe(first.id);
    expect(again.allocations["0"]).toMatchObject({ status: "running", nodeId: "node-a" });
    await expect(claim(ref, "node-b")).rejects.toMatchObject({ code: "conflict" });
  });

  it("never resets or fails a job that finished after the lost-allocation handler read it", async () => {
    const { ref } = await queuedJob("gh/acme/race-finish");
    await claim(ref, "node-a");
    const stale = await getJob(runtime.gyre, ref.workflowId, ref.jobName); // running, as the reconciler saw it
    await finish(ref, "node-a", "success");
    expect(await loseAllocation(runtime.gyre, stale, ref, "infrastructure_fail", "lost")).toBe(false);
    expect(
      await loseAllocation(runtime.gyre, { ...stale, retries: 1 }, ref, "infrastructure_fail", "lost"),
    ).toBe(false);
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "success", attempt: 1, retries: 0 });
    expect(job.allocations["0"]).toMatchObject({ status: "success" });
  });

  it("settles a job whose allocations all finished when its own status was never written", async () => {
    const { ref } = await queuedJob("gh/acme/race-settle");
    const nodeA = await node("node-a");
    await claim(ref, nodeA);
    await heartbeatNode(runtime.gyre, { node_id: nodeA, allocations: [ref] });
    // As if a parallel job's report died after its allocation write: allocation done, job running.
    await tryUpdate(runtime.gyre, Keys.job(ref.workflowId, ref.jobName), {
      set: [
        [["allocations", "0", "status"], "success"],
        [["updatedAt"], 0],
      ],
    });
    expect((await getJob(runtime.gyre, ref.workflowId, ref.jobName)).status).toBe("running");
    await reconcile(runtime.gyre, { graceMs: 0 });
    expect((await getJob(runtime.gyre, ref.workflowId, ref.jobName)).status).toBe("success");
  });

  it("still retries a lost allocation it read correctly, and lists the new attempt for the reconciler", async () => {
    const { ref } = await queuedJob("gh/acme/race-lost");
    await claim(ref, "node-a");
    const seen = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(await loseAllocation(runtime.gyre, seen, ref, "infrastructure_fail", "lost")).toBe(true);
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 1 });
    const indexed = await getItem(
      runtime.gyre,
      Keys.job(ref.workflowId, ref.jobName),
      z.object({ gsi2pk: z.string() }),
      "job",
    );
    expect(indexed?.gsi2pk).toMatch(/^ACTIVE#\d$/);
  });

  it("loses the allocations of a node that stopped heartbeating, and refuses that attempt's later writes", async () => {
    const { ref } = await queuedJob("gh/acme/race-node-lost");
    const quiet = await node("node-quiet");
    await heartbeatNode(runtime.gyre, { node_id: quiet, allocations: [] });
    await claim(ref, quiet);
    // The node's heartbeat is older than the deadline: the reconciler declares it down.
    const report = await reconcile(runtime.gyre, { graceMs: 0, heartbeatDeadlineMs: 0 });
    expect(report.nodesDown).toBeGreaterThanOrEqual(1);
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 1 });
    expect(job.messages?.[0]?.message).toBe(
      `Builder node ${quiet} stopped heartbeating while it ran allocation 0 (attempt 1).`,
    );
    // The old attempt cannot write: its finish is refused, and its heartbeat is told to stop it.
    await expect(finish(ref, quiet, "success")).rejects.toMatchObject({ code: "conflict" });
    const answer = await heartbeatNode(runtime.gyre, { node_id: quiet, allocations: [ref] });
    expect(answer.stop).toEqual([ref]);
    expect((await getJob(runtime.gyre, ref.workflowId, ref.jobName)).status).toBe("queued");
  });

  it("loses an allocation its live node has stopped reporting (a restart under the same id, a lost claim answer)", async () => {
    const { ref } = await queuedJob("gh/acme/race-unreported");
    const forgetful = await node("node-forgetful");
    await claim(ref, forgetful);
    // The node heartbeats on, but without the allocation, for longer than a deadline after the claim.
    const later = Date.now() + 3 * runtime.gyre.resources.heartbeatSeconds * 1000;
    const clock = runtime.gyre as { now: () => number };
    const saved = clock.now;
    clock.now = () => later;
    try {
      await heartbeatNode(runtime.gyre, { node_id: forgetful, allocations: [] });
      await reconcile(runtime.gyre, { graceMs: 0 });
    } finally {
      clock.now = saved;
    }
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 1 });
    expect(job.startedAt).toBeUndefined();
    expect(job.messages?.at(-1)?.message).toBe(
      `Builder node ${forgetful} no longer runs allocation 0 (attempt 1).`,
    );
  });

  it("leaves a queued allocation queued however long it waits, and ends it at the queue timeout with a message", async () => {
    const { ref } = await queuedJob("gh/acme/race-wait");
    // No node holds it: waiting is not a failure, whatever the heartbeat deadline.
    await reconcile(runtime.gyre, { graceMs: 0, heartbeatDeadlineMs: 0 });
    expect(await getJob(runtime.gyre, ref.workflowId, ref.jobName)).toMatchObject({
      status: "queued",
      attempt: 1,
    });
    const resources = runtime.gyre.resources as { queueTimeoutSeconds: number };
    const saved = resources.queueTimeoutSeconds;
    resources.queueTimeoutSeconds = 0;
    try {
      await new Promise((r) => setTimeout(r, 5));
      const report = await reconcile(runtime.gyre, { graceMs: 0 });
      expect(report.expired).toBeGreaterThanOrEqual(1);
    } finally {
      resources.queueTimeoutSeconds = saved;
    }
    const job = await getJob(runtime.gyre, ref.workflowId, ref.jobName);
    expect(job).toMatchObject({ status: "infrastructure_fail", attempt: 1 });
    expect(job.messages?.at(-1)?.message).toMatch(
      /No builder offering resource class medium took this job within the queue timeout/,
    );
  });
});

describe("pending pipelines", () => {
  it("ends a pending pipeline errored when its project is gone, instead of re-sending its intake for ever", async () => {
    const id = "00000000-0000-4000-8000-00000000abcd";
    const now = new Date().toISOString();
    const trigger = { type: "api" as const, receivedAt: now, actor: "admin" };
    await putItem(runtime.gyre, {
      ...Keys.pipeline(id),
      id,
      number: 1,
      projectSlug: "gh/acme/gone",
      state: "pending",
      errors: [],
      trigger,
      vcs: { providerName: "GitHub", repoUrl: "nowhere", revision: "", branch: "main" },
      createdAt: now,
      updatedAt: now,
    });
    await expect(
      createPipeline(runtime.gyre, {
        pipelineId: id,
        projectSlug: "gh/acme/gone",
        trigger,
        ref: { branch: "main" },
      }),
    ).rejects.toMatchObject({ code: "not_found" });
    expect(await findPipeline(runtime.gyre, id)).toMatchObject({
      state: "errored",
      errors: [{ type: "other", message: "Project gh/acme/gone not found." }],
    });
  });
});

/** A registered node's id (a heartbeat needs one). */
const node = async (name: string) => (await registerNode(runtime.gyre, { name })).node_id;

const claim = (ref: AllocationRef, nodeId: string) =>
  claimAllocation(runtime.gyre, { allocation: ref, node_id: nodeId, task_token: `token-${nodeId}` });

const finish = (ref: AllocationRef, nodeId: string, status: "success" | "failed") =>
  finishAllocation(runtime.gyre, { allocation: ref, node_id: nodeId, status, chunks: [], parallelism: 1 });
