/**
 * Capacity end to end on the local stack: a builder node of a declared size (2 vCPU, 4 GB, no
 * reserve) runs as many allocations at once as its resource classes fit and never more; a job
 * of a class too large for it waits queued until a node it fits joins. Real agents, queues and
 * sandboxes; nothing is mocked.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { queueKey } from "../packages/core/src/resources.ts";
import { api, gitRepo, runPipeline, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
// Markers live in a directory every job sees (GYRE_SANDBOX_BIND): each job's /tmp is its own.
const shared = tempDir("capacity-shared");
const SMALL_NODE = {
  GYRE_NODE_CPUS: "2",
  GYRE_NODE_MEMORY_MB: "4096",
  GYRE_NODE_RESERVED_CPUS: "0",
  GYRE_NODE_RESERVED_MEMORY_MB: "0",
};

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("capacity"),
    port: 0,
    heartbeatSeconds: 3,
    agentEnv: { GYRE_SANDBOX_BIND: shared, ...SMALL_NODE },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

async function addProject(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  const res = await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  expect(res.status).toBe(201);
}

async function jobs(pipelineId: string) {
  const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
  if (!workflow) return [];
  return (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
}

const nodes = async () => (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];

/** `n` jobs of `resourceClass` in one workflow, side by side, each running `command`. */
const parallelJobs = (n: number, resourceClass: string, command: (name: string) => string) => `version: 2.1
jobs:
${Array.from(
  { length: n },
  (_, i) => `  job${i + 1}:
    machine: true
    resource_class: ${resourceClass}
    steps:
      - run: ${command(`job${i + 1}`)}
`,
).join("")}workflows:
  main:
    jobs: [${Array.from({ length: n }, (_, i) => `job${i + 1}`).join(", ")}]
`;

describe("a node's capacity", () => {
  it("registers its size and the classes that fit it, and says what its allocations take", async () => {
    const [node] = await waitFor("the node", async () => ((await nodes()).length ? nodes() : undefined));
    expect(node).toMatchObject({
      status: "ready",
      resources: { cpus: 2, memory_mb: 4096 },
      reserved: { cpus: 0, memory_mb: 0 },
      allocated: { cpus: 0, memory_mb: 0 },
      classes: { small: { cpus: 1, memory_mb: 2048 }, medium: { cpus: 2, memory_mb: 4096 } },
    });
  });

  it("never runs two medium jobs at once on a node with room for one: the others wait queued, then each runs", async () => {
    const log = join(shared, "medium.log");
    await addProject(
      "gh/acme/capacity-medium",
      parallelJobs(
        3,
        "medium",
        (name) => `echo start ${name} >> ${log}; sleep 3; echo end ${name} >> ${log}`,
      ),
    );
    const { id } = await trigger(client, "gh/acme/capacity-medium");
    // While the first runs, the node is full: the other two are queued, not running.
    await waitFor("the first job to start", async () => (existsSync(log) ? true : undefined));
    const during = (await jobs(id)).map((j) => j.status).sort();
    expect(during).toEqual(["queued", "queued", "running"]);
    // Its next heartbeat says what the running job takes: all of it.
    const busy = await waitFor("a heartbeat from the busy node", async () => {
      const [node] = await nodes();
      return (node!.allocations as unknown[]).length > 0 ? node : undefined;
    });
    expect(busy.allocated).toEqual({ cpus: 2, memory_mb: 4096 });
    // A waiting job says why.
    const queued = (await jobs(id)).find((j) => j.status === "queued")!;
    const details = (await client.get(`/api/v2/project/gh/acme/capacity-medium/job/${queued.job_number}`))
      .body;
    expect(details.messages).toEqual([
      {
        type: "warning",
        message:
          "The one builder node offering resource class medium is full: this job runs when one has room.",
        reason: "waiting_for_capacity",
      },
    ]);
    const done = await waitFor("the three jobs to finish", async () => {
      const all = await jobs(id);
      return all.every((j) => j.status === "success") ? all : undefined;
    });
    expect(done).toHaveLength(3);
    // One at a time: each start is followed by its own end before the next start.
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) {
      expect(lines[i]).toMatch(/^start job\d$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace("start", "end"));
    }
  });

  it("runs two small jobs at once on the same node (each waits for the other to have started)", async () => {
    const dir = join(shared, "small");
    const barrier = (name: string) => {
      const other = name === "job1" ? "job2" : "job1";
      return `mkdir -p ${dir}; touch ${dir}/${name}; for i in $(seq 300); do [ -f ${dir}/${other} ] && exit 0; sleep 0.1; done; echo ${other} never started alongside; exit 1`;
    };
    await addProject("gh/acme/capacity-small", parallelJobs(2, "small", barrier));
    const run = await runPipeline(client, "gh/acme/capacity-small");
    expect(run.workflow.status).toBe("success");
    expect(run.jobs.map((j) => j.status)).toEqual(["success", "success"]);
  });

  it("keeps a large job queued while no node fits it, and runs it once one that does joins; a node polling the large queue as its small one is refused it", async () => {
    // A misconfigured node: its GYRE_QUEUES names the large queue as its small one. The server
    // refuses it the large job (403: not a class it offers), so it never runs it.
    const largeQueue = runtime.gyre.resources.jobQueueUrls[queueKey("large")]!;
    runtime.agents.start("misdirected", { ...SMALL_NODE, GYRE_QUEUES: `small=${largeQueue}` });
    await waitFor("the misdirected node to be ready", async () =>
      (await nodes()).find((n) => (n.name as string).startsWith("misdirected") && n.status === "ready"),
    );
    await addProject(
      "gh/acme/capacity-large",
      parallelJobs(1, "large", () => "nproc; echo ran large"),
    );
    const { id } = await trigger(client, "gh/acme/capacity-large");
    // Several heartbeats: the 2 vCPU node never takes it.
    await new Promise((r) => setTimeout(r, 4000));
    const [waiting] = await jobs(id);
    expect(waiting!.status).toBe("queued");
    const details = (await client.get(`/api/v2/project/gh/acme/capacity-large/job/${waiting!.job_number}`))
      .body;
    expect(details.messages).toEqual([
      {
        type: "warning",
        message:
          "No ready builder node offers resource class large (they offer small, medium): this job runs once one that does joins.",
        reason: "waiting_for_capacity",
      },
    ]);
    runtime.agents.start("large-node", { GYRE_NODE_CPUS: "4", GYRE_NODE_MEMORY_MB: "8192" });
    const [job] = await waitFor("the large job to finish", async () => {
      const all = await jobs(id);
      return all[0]?.status === "success" ? all : undefined;
    });
    expect(job!.status).toBe("success");
    const ran = (await client.get(`/api/v2/project/gh/acme/capacity-large/job/${job!.job_number}`)).body;
    expect(ran.messages).toEqual([]);
    const large = (await nodes()).find((n) => (n.name as string).startsWith("large-node"));
    expect(ran.parallel_runs).toEqual([
      expect.objectContaining({ status: "success", node: { id: large!.id, name: large!.name } }),
    ]);
    expect(large).toMatchObject({
      status: "ready",
      classes: expect.objectContaining({ large: { cpus: 4, memory_mb: 8192 } }),
    });
  });
});
