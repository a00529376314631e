/**
 * `GET /api/gyre/queues` on the local stack (no agent: jobs wait for real): who may read it, the
 * job queues of every class with what SQS counts on them, the jobs waiting for a builder, and
 * why they wait as the fleet changes under them: no node, a node with room, every node draining.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser } from "../packages/core/src/auth/index.ts";
import { api, gitRepo, registerTestNode, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let admin: ReturnType<typeof api>;
let dataDir: string;

interface Queues {
  checked_at: string;
  queues: {
    resource_class: string;
    queue: string | null;
    waiting: number;
    in_flight: number;
    delayed: number;
    dead_letter: { queue: string; waiting: number } | null;
    error: string | null;
    jobs_waiting: number;
    oldest_queued_at: string | null;
    reason: { cause: string; message: string } | null;
  }[];
  jobs: {
    id: string;
    project_slug: string;
    pipeline_number: number;
    workflow_id: string;
    number: number;
    name: string;
    status: string;
    resource_class: string;
    queue_class: string;
    queued_at: string;
    waited_seconds: number;
    allocations_waiting: number;
  }[];
}

beforeAll(async () => {
  dataDir = tempDir("queues");
  // Long heartbeats: a node registered by the test stays ready without heartbeating.
  runtime = await startLocalRuntime({ dataDir, port: 0, agents: 0, heartbeatSeconds: 300 });
  admin = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

const read = async (client = admin) => {
  const answer = await client.get("/api/gyre/queues");
  expect(answer.status).toBe(200);
  return answer.body as unknown as Queues;
};

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    resource_class: medium
    parallelism: 2
    steps:
      - run: echo never runs here
workflows:
  main:
    jobs: [build]
`;

describe("GET /api/gyre/queues", () => {
  it("is for operators and administrators only", async () => {
    const user = await createUser(runtime.gyre, { login: "queue-reader" });
    const normal = api(runtime.url, await createToken(runtime.gyre, user.id, "test"));
    expect((await normal.get("/api/gyre/queues")).status).toBe(403);
    expect((await api(runtime.url, "").get("/api/gyre/queues")).status).toBe(401);
    const made = await admin.post("/api/gyre/me/tokens", { label: "ops", kind: "operator" });
    expect(made.status).toBe(201);
    const operator = api(runtime.url, made.body.token as string);
    const answer = await read(operator);
    expect(Date.parse(answer.checked_at)).not.toBeNaN();
  });

  it("lists every class's queue with nothing waiting on an idle installation", async () => {
    const answer = await read();
    const classes = answer.queues.map((q) => q.resource_class);
    expect(classes).toContain("medium");
    for (const q of answer.queues) {
      expect(q.queue).toMatch(/\S/);
      expect(q.error).toBeNull();
      expect(q.jobs_waiting).toBe(0);
      expect(q.reason).toBeNull();
      expect(q.oldest_queued_at).toBeNull();
    }
    expect(answer.jobs).toEqual([]);
  });

  it("shows a queued job, its messages on the queue, and why it waits as the fleet changes", async () => {
    const slug = "gh/acme/queued";
    const repo = gitRepo({ ".circleci/config.yml": CONFIG });
    expect((await admin.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
    const { number: pipelineNumber } = await trigger(admin, slug);

    // No node at all: the job waits for one, both its parallel runs on the medium queue.
    const waiting = await waitFor("the job on the medium queue", async () => {
      const answer = await read();
      const medium = answer.queues.find((q) => q.resource_class === "medium")!;
      return answer.jobs.length === 1 && medium.waiting >= 2 ? answer : undefined;
    });
    const job = waiting.jobs[0]!;
    expect(job).toMatchObject({
      project_slug: slug,
      pipeline_number: pipelineNumber,
      name: "build",
      status: "queued",
      resource_class: "medium",
      queue_class: "medium",
      allocations_waiting: 2,
    });
    expect(job.waited_seconds).toBeGreaterThanOrEqual(0);
    const v2 = (await admin.get(`/api/v2/project/${slug}/job/${job.number}`)).body;
    expect(v2.web_url).toContain(
      `/pipelines/${slug}/${pipelineNumber}/workflows/${job.workflow_id}/jobs/${job.number}`,
    );
    const medium = waiting.queues.find((q) => q.resource_class === "medium")!;
    expect(medium).toMatchObject({ jobs_waiting: 1, oldest_queued_at: job.queued_at, error: null });
    expect(medium.reason).toEqual({
      cause: "no_ready_node",
      message: "No builder node is ready: this job (resource class medium) runs once one joins.",
    });
    // Other classes have nothing waiting.
    for (const q of waiting.queues.filter((q) => q.resource_class !== "medium")) expect(q.reason).toBeNull();

    // A node joins (it offers every class and has room) but does not take the job yet.
    const node = await registerTestNode(runtime.url, dataDir, "idle-node");
    const room = (await read()).queues.find((q) => q.resource_class === "medium")!;
    expect(room.reason?.cause).toMatch(/^(room|unclaimed)$/);
    expect(room.reason?.message).toContain("A ready node offering resource class medium has room");

    // Drained, it takes nothing: the job waits for the drain to end.
    const drained = await admin.post(`/api/gyre/nodes/${node.nodeId}/drain`, { enable: true });
    expect(drained.status).toBe(200);
    const draining = (await read()).queues.find((q) => q.resource_class === "medium")!;
    expect(draining.reason).toEqual({
      cause: "draining",
      message:
        "The one builder node offering resource class medium is draining: this job runs once a drain ends or another node joins.",
    });
  });
});
