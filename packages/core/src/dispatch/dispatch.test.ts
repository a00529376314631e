/**
 * Dispatch, finalize, advance and reconcile as units: the table, the job queue and the
 * executions are in-process stand-ins (test-world.ts) and the test plays the builder node.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { drainNode, heartbeatNode, registerNode, revokeNode } from "../node/index.ts";
import type { AllocationRef, QueueMessage } from "../protocol/agent.ts";
import { claimAllocation, finishAllocation, loseAllocation } from "./allocation.ts";
import { finalizeAllocation } from "./finalize.ts";
import { reconcile } from "./reconcile.ts";
import { type DispatchWorld, dispatchWorld } from "./test-world.ts";

const job = (name: string, extra = "") => `
  ${name}:
    docker: [{ image: cimg/base:stable }]${extra}
    steps: [{ run: echo ${name} }]`;

const ONE = `version: 2.1
jobs:${job("build")}
workflows:
  main:
    jobs: [build]
`;

const CHAIN = `version: 2.1
jobs:${job("build")}${job("deploy")}${job("cleanup")}
workflows:
  main:
    jobs:
      - build
      - deploy: { requires: [build] }
      - cleanup: { requires: [{ build: failed }] }
`;

const SKIPPED = `version: 2.1
jobs:${job("release")}${job("rollback")}${job("announce")}${job("audit")}
workflows:
  main:
    jobs:
      - release
      - rollback: { requires: [{ release: [failed, canceled] }] }
      - announce: { requires: [rollback] }
      - audit: { requires: [{ rollback: terminal }] }
`;

const PARALLEL = `version: 2.1
jobs:${job("test", "\n    parallelism: 2")}
workflows:
  main:
    jobs: [test]
`;

let world: DispatchWorld;
beforeEach(async () => {
  world = await dispatchWorld();
});
afterEach(async () => {
  await world.close();
});

/** Takes the next allocation off the queue and claims it as `node`. */
async function claimNext(node: string) {
  const message = await world.take();
  if (!message) throw new Error("no allocation on the queue");
  const job = await claimAllocation(world.gyre, {
    allocation: message.allocation,
    node_id: node,
    task_token: message.taskToken,
  });
  return { ref: message.allocation, token: message.taskToken, job };
}

/** Claims `message`'s allocation as `node`, a node that declared the classes `offered`. */
const claimOffering = (message: QueueMessage, node: string, offered: readonly string[]) =>
  claimAllocation(
    world.gyre,
    { allocation: message.allocation, node_id: node, task_token: message.taskToken },
    offered,
  );

const finish = (ref: AllocationRef, node: string, status: "success" | "failed", parallelism = 1) =>
  finishAllocation(world.gyre, {
    allocation: ref,
    node_id: node,
    status,
    chunks: [],
    steps: [],
    parallelism,
  });

describe("dispatch", () => {
  it("puts a root job's allocation on its queue with a task token, and exactly one of two nodes claims it", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const message = await world.take();
    expect(message?.allocation).toEqual({
      workflowId: workflowIds[0],
      jobName: "build",
      jobId: expect.any(String),
      attempt: 1,
      index: 0,
    });
    const claim = (node: string) =>
      claimAllocation(world.gyre, {
        allocation: message!.allocation,
        node_id: node,
        task_token: message!.taskToken,
      });
    const outcomes = await Promise.allSettled([claim("node-a"), claim("node-b")]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const stored = await world.job(workflowIds[0]!, "build");
    expect(stored.status).toBe("running");
    const winner = outcomes[0]!.status === "fulfilled" ? "node-a" : "node-b";
    expect(stored.allocations["0"]).toMatchObject({
      status: "running",
      nodeId: winner,
      taskToken: message!.taskToken,
    });
    // The winner's retried claim gets the job again; the loser stays refused.
    await expect(claim(winner)).resolves.toMatchObject({ id: stored.id, status: "running" });
    await expect(claim(winner === "node-a" ? "node-b" : "node-a")).rejects.toMatchObject({
      code: "conflict",
    });
  });

  it("settles a finished job, and Finalize queues the job that requires it and marks the one that requires a failure not_run", async () => {
    const { workflowIds } = await world.pipeline(CHAIN);
    const wf = workflowIds[0]!;
    const build = await claimNext("node-a");
    expect(build.ref.jobName).toBe("build");
    await finish(build.ref, "node-a", "success");
    expect((await world.job(wf, "build")).status).toBe("success");
    expect(await world.finalized(build.ref)).toEqual({ workflowStatus: "running" });
    const deploy = await claimNext("node-a");
    expect(deploy.ref.jobName).toBe("deploy");
    // cleanup wanted build to fail: its dependencies will never be satisfied.
    expect((await world.job(wf, "cleanup")).status).toBe("not_run");
    await finish(deploy.ref, "node-a", "success");
    expect(await world.finalized(deploy.ref)).toEqual({ workflowStatus: "success" });
    expect(await world.take(500)).toBeUndefined();
  });

  it("lets a node claim only a job of a class it offers, or of a class no queue carries when it offers the fallback; a refused claim leaves the job queued", async () => {
    // This world has one queue, medium's: a large job waits on it, the fallback's.
    const { workflowIds } = await world.pipeline(
      ONE.replace(
        "docker: [{ image: cimg/base:stable }]",
        "docker: [{ image: cimg/base:stable }]\n    resource_class: large",
      ),
    );
    const wf = workflowIds[0]!;
    const message = (await world.take())!;
    const claim = (node: string, offered: readonly string[]) => claimOffering(message, node, offered);
    await expect(claim("node-small", ["small"])).rejects.toMatchObject({
      code: "forbidden",
      message:
        "Node node-small offers resource class small, not large: this job waits for a node that does. The queue this node polls carries jobs it must not run.",
    });
    expect((await world.job(wf, "build")).allocations["0"]).toMatchObject({ status: "queued" });
    expect((await world.job(wf, "build")).status).toBe("queued");
    // Offering the fallback class, medium, takes it (large has no queue of its own here).
    await expect(claim("node-medium", ["small", "medium"])).resolves.toMatchObject({ status: "running" });
    expect((await world.job(wf, "build")).allocations["0"]).toMatchObject({
      status: "running",
      nodeId: "node-medium",
    });
  });

  it("refuses a medium job to a node that offers only large, and gives it to one that offers medium", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const message = (await world.take())!;
    const claim = (node: string, offered: readonly string[]) => claimOffering(message, node, offered);
    await expect(claim("node-large", ["large"])).rejects.toMatchObject({ code: "forbidden" });
    await expect(claim("node-large", ["large", "xlarge"])).rejects.toMatchObject({ code: "forbidden" });
    await expect(claim("node-medium", ["medium"])).resolves.toMatchObject({ status: "running" });
    // Once claimed, another node's claim is the usual conflict, whatever it offers.
    await expect(claim("node-large", ["large"])).rejects.toMatchObject({ code: "conflict" });
    expect((await world.job(workflowIds[0]!, "build")).allocations["0"]).toMatchObject({
      nodeId: "node-medium",
    });
  });

  it("runs the job that requires a failure when its requirement fails, and not the one that requires success", async () => {
    const { workflowIds } = await world.pipeline(CHAIN);
    const wf = workflowIds[0]!;
    const build = await claimNext("node-a");
    await finish(build.ref, "node-a", "failed");
    expect(await world.finalized(build.ref)).toEqual({ workflowStatus: "failing" });
    const cleanup = await claimNext("node-a");
    expect(cleanup.ref.jobName).toBe("cleanup");
    await finish(cleanup.ref, "node-a", "success");
    expect(await world.finalized(cleanup.ref)).toEqual({ workflowStatus: "failed" });
    expect((await world.job(wf, "deploy")).status).toBe("not_run");
  });

  it("marks not_run down the graph behind a job that was not run, and runs the one that requires it terminal", async () => {
    const { workflowIds } = await world.pipeline(SKIPPED);
    const wf = workflowIds[0]!;
    const release = await claimNext("node-a");
    await finish(release.ref, "node-a", "success");
    expect(await world.finalized(release.ref)).toEqual({ workflowStatus: "running" });
    expect((await world.job(wf, "rollback")).status).toBe("not_run");
    expect((await world.job(wf, "announce")).status).toBe("not_run");
    const audit = await claimNext("node-a");
    expect(audit.ref.jobName).toBe("audit");
    await finish(audit.ref, "node-a", "success");
    expect(await world.finalized(audit.ref)).toEqual({ workflowStatus: "success" });
    // Nothing of this workflow stays in the active index the reconciler reads.
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({ checked: 0, failures: [] });
  });

  it("settles a parallel job only when its last allocation finishes, failed when one failed", async () => {
    const { workflowIds } = await world.pipeline(PARALLEL);
    const first = await claimNext("node-a");
    const second = await claimNext("node-b");
    expect([first.ref.index, second.ref.index].sort()).toEqual([0, 1]);
    await finish(first.ref, "node-a", "failed", 2);
    const midway = await world.job(workflowIds[0]!, "test");
    expect(midway.status).toBe("running");
    expect(midway.allocations[String(first.ref.index)]?.status).toBe("failed");
    await finish(second.ref, "node-b", "success", 2);
    expect((await world.job(workflowIds[0]!, "test")).status).toBe("failed");
    expect(await world.finalized(second.ref)).toEqual({ workflowStatus: "failed" });
  });

  it("treats a repeated finish report from the node as the same report, and refuses one from another node", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const build = await claimNext("node-a");
    await finish(build.ref, "node-a", "success");
    await finish(build.ref, "node-a", "success");
    await expect(finish(build.ref, "node-b", "success")).rejects.toMatchObject({ code: "conflict" });
    expect((await world.job(workflowIds[0]!, "build")).status).toBe("success");
  });
});

describe("lost allocations", () => {
  it("runs a lost node's allocation again at attempt 2, and refuses every later report of attempt 1", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const start = world.gyre.now();
    const nodeA = (await registerNode(world.gyre, { name: "a" })).node_id;
    const old = await claimNext(nodeA);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    // node-a goes silent for longer than the heartbeat deadline.
    world.setNow(start + (world.gyre.resources.heartbeatSeconds + 1) * 1000);
    const report = await reconcile(world.gyre, { graceMs: 0 });
    expect(report).toMatchObject({ nodesDown: 1, redriven: 1, failures: [] });
    const retried = await world.job(wf, "build");
    expect(retried).toMatchObject({ status: "queued", attempt: 2, retries: 1 });
    expect(retried.messages?.at(-1)?.message).toBe(
      `Builder node ${nodeA} stopped heartbeating while it ran allocation 0 (attempt 1).`,
    );
    // The old execution was failed with Gyre.NodeLost: its Finalize changes nothing.
    expect(await world.finalized(old.ref)).toEqual({ workflowStatus: "running" });
    await expect(finish(old.ref, nodeA, "success")).rejects.toMatchObject({ code: "conflict" });
    // node-a comes back: its heartbeat tells it to stop attempt 1.
    world.setNow(start + (world.gyre.resources.heartbeatSeconds + 2) * 1000);
    const answer = await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    expect(answer.stop).toEqual([old.ref]);
    const next = await claimNext("node-b");
    expect(next.ref).toEqual({ ...old.ref, attempt: 2 });
    await finish(next.ref, "node-b", "success");
    expect(await world.finalized(next.ref)).toEqual({ workflowStatus: "success" });
  });

  it("ends the job infrastructure_fail with the reason once a second loss exceeds the retry budget", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    await claimNext("node-a");
    const first = await world.job(wf, "build");
    expect(
      await loseAllocation(
        world.gyre,
        first,
        { ...(await refOf(wf)), attempt: 1 },
        "infrastructure_fail",
        "lost once",
      ),
    ).toBe(true);
    const again = await claimNext("node-b");
    expect(again.ref.attempt).toBe(2);
    const second = await world.job(wf, "build");
    expect(await loseAllocation(world.gyre, second, again.ref, "infrastructure_fail", "lost twice")).toBe(
      true,
    );
    const ended = await world.job(wf, "build");
    expect(ended).toMatchObject({ status: "infrastructure_fail", attempt: 2 });
    expect(ended.allocations["0"]?.status).toBe("lost");
    expect(ended.messages?.map((m) => m.message)).toEqual(["lost once", "lost twice"]);
    expect(await world.finalized(again.ref)).toEqual({ workflowStatus: "failed" });
    // A replay of the same loss is a no-op.
    expect(await loseAllocation(world.gyre, second, again.ref, "infrastructure_fail", "lost twice")).toBe(
      false,
    );
  });

  it("does not spend the retry budget on an allocation no builder ever claimed", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const queued = await world.job(wf, "build");
    const ref = await refOf(wf);
    expect(await loseAllocation(world.gyre, queued, ref, "infrastructure_fail", "execution gone")).toBe(true);
    expect(await world.job(wf, "build")).toMatchObject({ status: "queued", attempt: 2, retries: 0 });
  });

  it("ends a running allocation timedout when its execution reaches its time limit", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const build = await claimNext("node-a");
    const answer = await finalizeAllocation(world.gyre, {
      queueUrl: "unused",
      allocation: build.ref,
      error: { Error: "States.Timeout", Cause: "" },
    });
    expect(answer).toEqual({ workflowStatus: "failed" });
    const ended = await world.job(wf, "build");
    expect(ended).toMatchObject({ status: "timedout", attempt: 1 });
    expect(ended.messages?.at(-1)?.message).toBe("The allocation reached its execution's time limit.");
  });
});

describe("reconcile", () => {
  it("ends an allocation that waited past the queue timeout with a message, and never retries it", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const stale = await world.take();
    world.setNow(world.gyre.now() + (world.gyre.resources.queueTimeoutSeconds + 1) * 1000);
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({
      expired: 1,
      redriven: 0,
      failures: [],
    });
    const ended = await world.job(wf, "build");
    expect(ended).toMatchObject({ status: "infrastructure_fail", attempt: 1 });
    expect(ended.messages?.at(-1)?.message).toBe(
      "No builder offering resource class medium took this job within the queue timeout (86400 s).",
    );
    // A builder that picks the stale message up late cannot claim it.
    await expect(
      claimAllocation(world.gyre, {
        allocation: stale!.allocation,
        node_id: "node-a",
        task_token: stale!.taskToken,
      }),
    ).rejects.toMatchObject({ code: "conflict" });
    expect(await world.take(500)).toBeUndefined();
  });

  it("starts the missing execution of a queued allocation again, at the same attempt", async () => {
    const { workflowIds } = await world.pipeline(ONE, { start: false });
    expect(await world.take(500)).toBeUndefined();
    world.setNow(world.gyre.now() + 60_000);
    const report = await reconcile(world.gyre, { graceMs: 0, checkExecutionsAfterMs: 0 });
    expect(report).toMatchObject({ restarted: 1, redriven: 0, failures: [] });
    const message = await world.take();
    expect(message?.allocation).toMatchObject({ workflowId: workflowIds[0], attempt: 1 });
  });

  it("leaves a live node's running allocation alone and a waiting allocation queued", async () => {
    const { workflowIds } = await world.pipeline(PARALLEL);
    const wf = workflowIds[0]!;
    const nodeA = (await registerNode(world.gyre, { name: "a" })).node_id;
    const running = await claimNext(nodeA);
    const start = world.gyre.now();
    for (let s = 10; s <= 120; s += 10) {
      world.setNow(start + s * 1000);
      await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [running.ref] });
      expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({
        redriven: 0,
        expired: 0,
        nodesDown: 0,
      });
    }
    const job = await world.job(wf, "test");
    expect(job.attempt).toBe(1);
    expect(
      Object.values(job.allocations)
        .map((a) => a.status)
        .sort(),
    ).toEqual(["queued", "running"]);
  });

  it("gives a revoked node's allocation a new attempt at once, without spending the job's retry budget", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const nodeA = (await registerNode(world.gyre, { name: "a" })).node_id;
    const old = await claimNext(nodeA);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    world.setNow(world.gyre.now() + 1000);
    await revokeNode(world.gyre, nodeA);
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({ redriven: 1, failures: [] });
    const job = await world.job(wf, "build");
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 0 });
    expect(job.messages?.at(-1)?.message).toBe(
      `Builder node ${nodeA} was revoked while it ran allocation 0 (attempt 1).`,
    );
    await expect(finish(old.ref, nodeA, "success")).rejects.toMatchObject({ code: "conflict" });
  });

  it("stops what a drained node still runs once its drain deadline passes, with a free new attempt elsewhere, and not before", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const nodeA = (await registerNode(world.gyre, { name: "a" })).node_id;
    const old = await claimNext(nodeA);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    await drainNode(world.gyre, nodeA, true, 60_000);
    world.setNow(world.gyre.now() + 59_000);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({ redriven: 0, failures: [] });
    expect(await world.job(wf, "build")).toMatchObject({ status: "running", attempt: 1 });
    world.setNow(world.gyre.now() + 2000);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({ redriven: 1, failures: [] });
    const job = await world.job(wf, "build");
    expect(job).toMatchObject({ status: "queued", attempt: 2, retries: 0 });
    expect(job.messages?.at(-1)?.message).toBe(
      `Builder node ${nodeA} was drained, and its deadline passed while it ran allocation 0 (attempt 1).`,
    );
    // The drained node is told to stop it at its next heartbeat.
    const answer = await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [old.ref] });
    expect(answer).toMatchObject({ stop: [old.ref], drain: true });
  });

  it("loses an allocation that a live node stopped reporting for a whole deadline", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const wf = workflowIds[0]!;
    const start = world.gyre.now();
    const nodeA = (await registerNode(world.gyre, { name: "a" })).node_id;
    await claimNext(nodeA);
    // node-a heartbeats, but without the allocation it claimed (it restarted under the same id).
    world.setNow(start + (world.gyre.resources.heartbeatSeconds + 1) * 1000);
    await heartbeatNode(world.gyre, { node_id: nodeA, allocations: [] });
    expect(await reconcile(world.gyre, { graceMs: 0 })).toMatchObject({ nodesDown: 0, redriven: 1 });
    const job = await world.job(wf, "build");
    expect(job).toMatchObject({ status: "queued", attempt: 2 });
    expect(job.messages?.at(-1)?.message).toBe(
      `Builder node ${nodeA} no longer runs allocation 0 (attempt 1).`,
    );
  });
});

/** The one allocation ref of `build` in `workflowId`, at attempt 1. */
async function refOf(workflowId: string): Promise<AllocationRef> {
  const job = await world.job(workflowId, "build");
  return { workflowId, jobName: "build", jobId: job.id, attempt: 1, index: 0 };
}
