/**
 * The Nomad-compatible API (`/v1`) against the shapes Nomad publishes
 * (shared/corpus/nomad-api/): every field of each sample is present with the same JSON type, and
 * the fields the `nomad` CLI dereferences carry Gyre's real figures. On the local stack with a
 * real agent; nothing is mocked.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import {
  allocLogs,
  allocStatus,
  jobStatus,
  nodeDrain,
  nodeEligibility,
  nodeStatus,
} from "../packages/cli/src/nomad-commands.ts";
import { api, gitRepo, runPipeline, stepOutputs, tempDir, trigger, waitFor } from "./support.ts";

const CORPUS = join(import.meta.dirname, "../../shared/corpus/nomad-api");
const sample = (name: string) => JSON.parse(readFileSync(join(CORPUS, name), "utf8"));

let runtime: LocalRuntime;
const shared = tempDir("nomad-shared");

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("nomad"),
    port: 0,
    heartbeatSeconds: 3,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
});

afterAll(async () => {
  await runtime?.stop();
});

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/**
 * Fields Nomad declares as pointers: null when there is nothing (a node never drained, a job
 * neither periodic nor parameterized, an allocation never rescheduled: the node-allocations
 * sample shows `RescheduleTracker: null` itself).
 */
const NULLABLE = new Set(["LastDrain", "DrainStrategy", "Periodic", "ParameterizedJob", "RescheduleTracker"]);

/** Each field of `fixture` (to `depth` levels) that `actual` lacks or holds with another JSON type. */
function shapeMismatches(actual: unknown, fixture: unknown, depth = 1, path = ""): string[] {
  if (fixture === null) return []; // the sample shows it empty: any value is fine
  if (actual === null && NULLABLE.has(path.replace(/\.$/, ""))) return [];
  if (typeOf(actual) !== typeOf(fixture))
    return [`${path || "."}: ${typeOf(actual)}, sample has ${typeOf(fixture)}`];
  if (depth === 0 || typeof fixture !== "object" || Array.isArray(fixture)) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(fixture as Record<string, unknown>)) {
    const own = (actual as Record<string, unknown>)[key];
    if (own === undefined) out.push(`${path}${key}: missing`);
    else out.push(...shapeMismatches(own, value, depth - 1, `${path}${key}.`));
  }
  return out;
}

async function nomad(path: string, init: RequestInit = {}, token = runtime.adminToken) {
  const res = await fetch(`${runtime.url}${path}`, {
    ...init,
    headers: { "X-Nomad-Token": token, "content-type": "application/json", ...init.headers },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** A log stream's raw answer, and its frames when it is framed (one JSON object a line). */
async function logs(allocId: string, query: string) {
  const res = await fetch(`${runtime.url}/v1/client/fs/logs/${allocId}?${query}`, {
    headers: { "X-Nomad-Token": runtime.adminToken },
  });
  const text = await res.text();
  const frames = () =>
    text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { File?: string; Offset?: number; Data?: string });
  return { status: res.status, type: res.headers.get("content-type"), text, frames };
}

/** The bytes a framed log stream carried, in order. */
const framedData = (frames: { Data?: string }[]) =>
  Buffer.concat(frames.filter((f) => f.Data).map((f) => Buffer.from(f.Data!, "base64"))).toString("utf8");

const readyNode = () =>
  waitFor("the local node", async () => {
    const { body } = await nomad("/v1/nodes");
    return Array.isArray(body) && body.length > 0 ? (body[0] as Record<string, unknown>) : undefined;
  });

describe("the Nomad API", () => {
  it("lists nodes with every field of Nomad's NodeListStub, and the index headers", async () => {
    const node = await readyNode();
    const res = await nomad("/v1/nodes");
    expect(res.status).toBe(200);
    expect(shapeMismatches(res.body[0], sample("nodes-list.json")[0])).toEqual([]);
    expect(node).toMatchObject({
      Status: "ready",
      Drain: false,
      SchedulingEligibility: "eligible",
      NodePool: "default",
      Datacenter: runtime.gyre.resources.region,
    });
    expect(Number(res.headers.get("x-nomad-index"))).toBeGreaterThanOrEqual(node.ModifyIndex as number);
    expect(res.headers.get("x-nomad-knownleader")).toBe("true");
    expect(res.headers.get("x-nomad-lastcontact")).toBe("0");
    // `nomad node status <prefix>` resolves a short id with ?prefix=.
    const prefixed = await nomad(`/v1/nodes?prefix=${(node.ID as string).slice(0, 8)}`);
    expect(prefixed.body.map((n: { ID: string }) => n.ID)).toEqual([node.ID]);
    expect((await nomad("/v1/nodes?prefix=ffffffff-no")).body).toEqual([]);
  });

  it("reads a node with every field of Nomad's Node, its resources and reserve as the CLI reads them", async () => {
    const { ID } = await readyNode();
    const res = await nomad(`/v1/node/${ID}`);
    expect(res.status).toBe(200);
    expect(shapeMismatches(res.body, sample("node-read.fixed.json"))).toEqual([]);
    // The local node: 16 vCPU / 32 GB, no reserve.
    expect(res.body.NodeResources).toMatchObject({
      Cpu: { CpuShares: 16_000 },
      Memory: { MemoryMB: 32_768 },
      Disk: { DiskMB: 0 },
    });
    expect(res.body.ReservedResources).toMatchObject({
      Cpu: { CpuShares: 0 },
      Memory: { MemoryMB: 0 },
      Disk: { DiskMB: 0 },
    });
    expect(res.body.Attributes["gyre.resource_classes"]).toBe("small,medium,medium+,large,xlarge,2xlarge");
    expect(res.body.HTTPAddr).toBe("");
    expect(res.body.DrainStrategy).toBeNull();
  });

  it("lists the allocations a node runs with Nomad's fields and the class's resources", async () => {
    const { ID } = await readyNode();
    const admin = api(runtime.url, runtime.adminToken);
    const marker = join(shared, "nomad-alloc-started");
    const release = join(shared, "nomad-alloc-release");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: touch ${marker}; for i in $(seq 600); do [ -f ${release} ] && exit 0; sleep 0.1; done
workflows:
  main:
    jobs: [build]
`,
    });
    expect(
      (await admin.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/nomad" })).status,
    ).toBe(201);
    const { id } = await trigger(admin, "gh/acme/nomad");
    const allocations = await waitFor("the node's heartbeat naming its allocation", async () => {
      const { body } = await nomad(`/v1/node/${ID}/allocations`);
      return Array.isArray(body) && body.length > 0 ? body : undefined;
    });
    const [workflow] = (await admin.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    const [job] = (await admin.get(`/api/v2/workflow/${workflow!.id}/job`)).body.items!;
    expect(allocations).toHaveLength(1);
    const [alloc] = allocations;
    expect(shapeMismatches(alloc, sample("node-allocations.json")[0])).toEqual([]);
    expect(alloc).toMatchObject({
      ClientStatus: "running",
      DesiredStatus: "run",
      NodeID: ID,
      TaskGroup: "build",
      JobID: `${job!.id}-1-build-acme-nomad-${job!.job_number}`,
      Name: `${job!.id}-1-build-acme-nomad-${job!.job_number}.build[0]`,
      Resources: { CPU: 2000, MemoryMB: 4096, DiskMB: 0 },
    });
    expect(alloc.ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(typeof alloc.Job.SubmitTime).toBe("number");
    // The step really runs (the heartbeat names the allocation from its claim, before the step starts).
    await waitFor("the step to start", async () => (existsSync(marker) ? true : undefined));
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
    await waitFor("the node to report nothing running", async () => {
      const { body } = await nomad(`/v1/node/${ID}/allocations`);
      return Array.isArray(body) && body.length === 0 ? true : undefined;
    });
  });

  it("drains a node with Nomad's request (PUT), answers with Nomad's response, and a blocking read sees the change", async () => {
    const { ID } = await readyNode();
    const before = await nomad(`/v1/node/${ID}`);
    const index = before.headers.get("x-nomad-index");
    // A blocking query on the node returns once the drain changed it, not at once.
    const blocked = nomad(`/v1/node/${ID}?index=${index}&wait=20s`);
    await new Promise((r) => setTimeout(r, 300));
    const drained = await nomad(`/v1/node/${ID}/drain`, {
      method: "PUT",
      body: JSON.stringify(sample("node-drain-request.json")),
    });
    expect(drained.status).toBe(200);
    expect(shapeMismatches(drained.body, sample("node-drain-response.json"))).toEqual([]);
    expect(drained.body.NodeModifyIndex).toBeGreaterThan(Number(index));
    const seen = await blocked;
    expect(seen.body).toMatchObject({ ID, Drain: true, SchedulingEligibility: "ineligible" });
    expect(seen.body.DrainStrategy).toMatchObject({ Deadline: 3_600_000_000_000 });
    expect(Number(seen.headers.get("x-nomad-index"))).toBe(drained.body.NodeModifyIndex);
    // The same through Gyre's own view.
    const own = (await api(runtime.url, runtime.adminToken).get("/api/gyre/nodes")).body.items!;
    expect(own.find((n) => n.id === ID)).toMatchObject({ drain: true });
    // `node drain -disable` (POST works too): eligible again, no strategy.
    const ended = await nomad(`/v1/node/${ID}/drain`, {
      method: "POST",
      body: JSON.stringify({ DrainSpec: null }),
    });
    expect(ended.status).toBe(200);
    expect((await nomad(`/v1/node/${ID}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "eligible",
      DrainStrategy: null,
    });
  });

  it("answers the leader and region reads the CLI makes", async () => {
    expect(await nomad("/v1/status/leader")).toMatchObject({ status: 200, body: new URL(runtime.url).host });
    expect(typeof sample("status-leader.json")).toBe("string");
    expect(await nomad("/v1/regions")).toMatchObject({ status: 200, body: [runtime.gyre.resources.region] });
  });

  it("refuses a missing token (401), a builder's (403), an unknown or malformed node, and a bad wait or body (400)", async () => {
    const anonymous = await fetch(`${runtime.url}/v1/nodes`);
    expect(anonymous.status).toBe(401);
    const builder = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    expect((await nomad("/v1/nodes", {}, builder)).status).toBe(403);
    expect(await nomad("/v1/node/00000000-0000-4000-8000-000000000000")).toMatchObject({
      status: 404,
      body: { message: "node not found: 00000000-0000-4000-8000-000000000000" },
    });
    expect((await nomad(`/v1/node/${"x".repeat(129)}`)).status).toBe(400);
    const { ID } = await readyNode();
    expect((await nomad(`/v1/node/${ID}?index=1&wait=soon`)).body).toEqual({
      message: 'Invalid wait "soon": a duration such as 5s, 1m or 300ms.',
    });
    const bad = await nomad(`/v1/node/${ID}/drain`, {
      method: "PUT",
      body: JSON.stringify({ DrainSpec: { Deadline: "1h" } }),
    });
    expect(bad.status).toBe(400);
    expect((await nomad(`/v1/node/${ID}`)).body.Drain).toBe(false);
  });
});

describe("the Nomad API's jobs, allocations, logs and search", () => {
  const admin = () => api(runtime.url, runtime.adminToken);
  const slug = "gh/acme/nomad-jobs";
  const release = join(shared, "nomad-jobs-release");
  let nodeId: string;
  let pipelineId: string;
  let job: { id: string; job_number: number };
  let jobId: string;
  let allocIds: string[];

  beforeAll(async () => {
    nodeId = (await readyNode()).ID as string;
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    parallelism: 2
    steps:
      - run: echo "out-$CIRCLE_NODE_INDEX"; for i in $(seq 600); do [ -f ${release} ] && break; sleep 0.1; done; echo "done-$CIRCLE_NODE_INDEX"
workflows:
  main:
    jobs: [build]
`,
    });
    expect((await admin().post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
    pipelineId = (await trigger(admin(), slug)).id;
    const [workflow] = (await admin().get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
    job = await waitFor("the job to run", async () => {
      const [j] = (await admin().get(`/api/v2/workflow/${workflow!.id}/job`)).body.items!;
      return j?.status === "running" ? (j as unknown as { id: string; job_number: number }) : undefined;
    });
    jobId = `${job.id}-1-build-acme-nomad-jobs-${job.job_number}`;
    allocIds = await waitFor("both allocations running", async () => {
      const { body } = await nomad(`/v1/job/${jobId}/allocations`);
      return Array.isArray(body) && body.every((a: { ClientStatus: string }) => a.ClientStatus === "running")
        ? (body as { ID: string; Name: string }[])
            .sort((a, b) => a.Name.localeCompare(b.Name))
            .map((a) => a.ID)
        : undefined;
    });
  });

  afterAll(async () => {
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
  });

  it("lists a running job attempt as a batch job with every field of Nomad's JobListStub, by prefix too", async () => {
    const res = await nomad("/v1/jobs");
    expect(res.status).toBe(200);
    const stub = res.body.find((j: { ID: string }) => j.ID === jobId);
    expect(shapeMismatches(stub, sample("jobs-list.json")[0], 2)).toEqual([]);
    expect(stub).toMatchObject({
      Type: "batch",
      Status: "running",
      Priority: 50,
      Stop: false,
      Periodic: false,
      ParameterizedJob: false,
      Namespace: "default",
      JobSummary: {
        JobID: jobId,
        Summary: {
          build: { Queued: 0, Starting: 0, Running: 2, Failed: 0, Complete: 0, Lost: 0, Unknown: 0 },
        },
        Children: { Pending: 0, Running: 0, Dead: 0 },
      },
    });
    expect(typeof stub.SubmitTime).toBe("number");
    expect(Number(res.headers.get("x-nomad-index"))).toBeGreaterThanOrEqual(stub.ModifyIndex);
    expect(res.body.map((j: { ID: string }) => j.ID)).toEqual(
      [...res.body.map((j: { ID: string }) => j.ID)].sort(),
    );
    const prefixed = await nomad(`/v1/jobs?prefix=${job.id.slice(0, 8)}`);
    expect(prefixed.body.map((j: { ID: string }) => j.ID)).toEqual([jobId]);
    expect((await nomad("/v1/jobs?prefix=zz-no-such")).body).toEqual([]);
    // The first page and the one its token leads to, as the CLI pages with per_page.
    const all = res.body.map((j: { ID: string }) => j.ID);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const first = await nomad("/v1/jobs?per_page=1");
    expect(first.body.map((j: { ID: string }) => j.ID)).toEqual([all[0]]);
    expect(first.headers.get("x-nomad-nexttoken")).toBe(all[1]);
    const second = await nomad(`/v1/jobs?per_page=1&next_token=${all[1]}`);
    expect(second.body.map((j: { ID: string }) => j.ID)).toEqual([all[1]]);
  });

  it("reads the job with every field of Nomad's Job, SubmitTime and one task group of the parallelism", async () => {
    const res = await nomad(`/v1/job/${jobId}`);
    expect(res.status).toBe(200);
    expect(shapeMismatches(res.body, sample("job-read.json"))).toEqual([]);
    expect(res.body).toMatchObject({
      ID: jobId,
      Name: jobId,
      Type: "batch",
      Status: "running",
      Namespace: "default",
      NodePool: "default",
      Datacenters: [runtime.gyre.resources.region],
      Region: runtime.gyre.resources.region,
      Periodic: null,
      ParameterizedJob: null,
      Version: 0,
      Meta: { project: slug, job_name: "build", job_number: String(job.job_number) },
    });
    expect(res.body.TaskGroups).toHaveLength(1);
    expect(res.body.TaskGroups[0]).toMatchObject({
      Name: "build",
      Count: 2,
      Tasks: [{ Name: "build", Driver: "exec" }],
    });
    expect(res.body.SubmitTime).toBe(res.body.CreateIndex * 1_000_000);
    expect(res.headers.get("x-nomad-index")).toBe(String(res.body.ModifyIndex));
  });

  it("lists the job's allocations, each with every field of Nomad's AllocationListStub, and reads each one", async () => {
    const res = await nomad(`/v1/job/${jobId}/allocations`);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(2);
    const byName = [...res.body].sort((a, b) => a.Name.localeCompare(b.Name));
    for (const [index, stub] of byName.entries()) {
      expect(shapeMismatches(stub, sample("job-allocations.json")[0])).toEqual([]);
      expect(stub).toMatchObject({
        ID: allocIds[index],
        Name: `${jobId}.build[${index}]`,
        JobID: jobId,
        TaskGroup: "build",
        NodeID: nodeId,
        DesiredStatus: "run",
        ClientStatus: "running",
        TaskStates: { build: { State: "running", Failed: false, FinishedAt: "0001-01-01T00:00:00Z" } },
      });
      const one = await nomad(`/v1/allocation/${stub.ID}`);
      expect(one.status).toBe(200);
      expect(shapeMismatches(one.body, sample("allocation-read.json"))).toEqual([]);
      expect(one.body).toMatchObject({
        ID: stub.ID,
        EvalID: stub.EvalID,
        Resources: { CPU: 2000, MemoryMB: 4096, DiskMB: 0 },
        Job: { ID: jobId, Type: "batch" },
      });
      expect(typeof one.body.Job.SubmitTime).toBe("number");
      expect(one.body.TaskStates.build.Events.map((e: { Type: string }) => e.Type)).toEqual([
        "Received",
        "Started",
      ]);
    }
    // The same allocations among all of them, by prefix.
    const listed = await nomad(`/v1/allocations?prefix=${allocIds[0]!.slice(0, 6)}`);
    expect(listed.body.map((a: { ID: string }) => a.ID)).toContain(allocIds[0]);
    expect(listed.body.every((a: { ID: string }) => a.ID.startsWith(allocIds[0]!.slice(0, 6)))).toBe(true);
    expect(shapeMismatches(listed.body[0], sample("job-allocations.json")[0])).toEqual([]);
  });

  it("answers the job's summary, its one evaluation and a null deployment (a batch job has none)", async () => {
    const summary = await nomad(`/v1/job/${jobId}/summary`);
    expect(shapeMismatches(summary.body, sample("job-summary.json"))).toEqual([]);
    expect(summary.body).toMatchObject({
      JobID: jobId,
      Summary: { build: { Queued: 0, Starting: 0, Running: 2, Failed: 0, Complete: 0, Lost: 0, Unknown: 0 } },
      Children: { Pending: 0, Running: 0, Dead: 0 },
    });
    const evals = await nomad(`/v1/job/${jobId}/evaluations`);
    expect(evals.body).toHaveLength(1);
    expect(shapeMismatches(evals.body[0], sample("job-evaluations.json")[0])).toEqual([]);
    const allocs = (await nomad(`/v1/job/${jobId}/allocations`)).body;
    expect(evals.body[0]).toMatchObject({
      ID: allocs[0].EvalID,
      Type: "batch",
      TriggeredBy: "job-register",
      Status: "complete",
      JobID: jobId,
      QueuedAllocations: { build: 0 },
    });
    // The corpus shows a service job's deployment; Nomad answers null for a job without one.
    expect(typeof sample("job-deployment.json").ID).toBe("string");
    const deployment = await nomad(`/v1/job/${jobId}/deployment`);
    expect(deployment).toMatchObject({ status: 200, body: null });
  });

  it("finds the job, its allocations and its evaluation by prefix search, PUT (the CLI) or POST, by context", async () => {
    const evalId = (await nomad(`/v1/job/${jobId}/evaluations`)).body[0].ID as string;
    // The sample request's own shape answers with every context of the sample response.
    const sampled = await nomad("/v1/search", {
      method: "PUT",
      body: JSON.stringify(sample("search-request.json")),
    });
    expect(sampled.status).toBe(200);
    expect(Object.keys(sampled.body.Matches).sort()).toEqual(
      Object.keys(sample("search-response.json").Matches).sort(),
    );
    // Truncations are booleans, as api/search.go declares them (the published sample's strings
    // would not decode in the Go client).
    expect(Object.keys(sampled.body.Truncations).sort()).toEqual(
      Object.keys(sample("search-response.json").Truncations).sort(),
    );
    expect(Object.values(sampled.body.Truncations).every((v) => typeof v === "boolean")).toBe(true);
    const byJob = await nomad("/v1/search", {
      method: "PUT",
      body: JSON.stringify({ Prefix: job.id, Context: "all", AllowStale: false, Params: null }),
    });
    expect(byJob.body.Matches).toEqual({
      allocs: [],
      deployment: [],
      evals: [],
      jobs: [jobId],
      nodes: [],
      plugins: [],
      volumes: [],
    });
    expect(Number(byJob.headers.get("x-nomad-index"))).toBeGreaterThan(1);
    const byAlloc = await nomad("/v1/search", {
      method: "POST",
      body: JSON.stringify({ Prefix: allocIds[1], Context: "allocs" }),
    });
    expect(byAlloc.body).toEqual({ Matches: { allocs: [allocIds[1]] }, Truncations: { allocs: false } });
    const byEval = await nomad(`/v1/search?prefix=${evalId.slice(0, 10)}&context=evals`);
    expect(byEval.body).toEqual({ Matches: { evals: [evalId] }, Truncations: { evals: false } });
    const byNode = await nomad("/v1/search", {
      method: "PUT",
      body: JSON.stringify({ Prefix: nodeId, Context: "nodes" }),
    });
    expect(byNode.body).toEqual({ Matches: { nodes: [nodeId] }, Truncations: { nodes: false } });
  });

  it("streams an allocation's step output as Nomad's framed log, follows it until the allocation ends, and a blocking read of the job sees it end", async () => {
    const index = (await nomad(`/v1/job/${jobId}/summary`)).headers.get("x-nomad-index");
    const blocked = nomad(`/v1/job/${jobId}/summary?index=${index}&wait=20s`);
    const followed = logs(allocIds[1]!, "task=build&type=stdout&origin=start&offset=0&follow=true");
    // Before the release, a plain read shows the output so far (the step still runs).
    const sofar = await waitFor("the step's first line", async () => {
      const r = await logs(allocIds[1]!, "task=build&type=stdout&plain=true");
      return r.text.includes("out-1\n") ? r : undefined;
    });
    expect(sofar.type).toBe("text/plain; charset=utf-8");
    expect(sofar.text).not.toContain("done-1");
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
    const stream = await followed;
    expect(stream.status).toBe(200);
    expect(stream.type).toBe("application/json");
    const expected = (await stepOutputs(admin(), slug, job.job_number, 1)).map((s) => s.output).join("");
    expect(expected).toContain("done-1\n");
    const frames = stream.frames().filter((f) => f.Data);
    expect(framedData(frames)).toBe(expected);
    // Frames carry the sample's fields; each Offset is where its data ends.
    const sampleKeys = [
      ...readFileSync(join(CORPUS, "client-fs-logs-frames.sample.txt"), "utf8").matchAll(/"(\w+)":/g),
    ]
      .map((m) => m[1])
      .slice(0, 3);
    let end = 0;
    for (const f of frames) {
      expect(Object.keys(f).sort()).toEqual([...sampleKeys].sort());
      expect(f.File).toBe("alloc/logs/build.stdout.0");
      end += Buffer.from(f.Data!, "base64").length;
      expect(f.Offset).toBe(end);
    }
    expect(end).toBe(Buffer.byteLength(expected));
    const summary = await blocked;
    expect(summary.body.Summary.build.Running + summary.body.Summary.build.Complete).toBe(2);
    expect(Number(summary.headers.get("x-nomad-index"))).toBeGreaterThan(Number(index));
    // Once over: the job is dead, its allocations complete with their end, and the tail reads
    // from the end.
    await waitFor("the job to be dead", async () =>
      (await nomad(`/v1/job/${jobId}`)).body.Status === "dead" ? true : undefined,
    );
    const alloc = (await nomad(`/v1/allocation/${allocIds[1]}`)).body;
    expect(alloc).toMatchObject({
      ClientStatus: "complete",
      DesiredStatus: "stop",
      ClientDescription: "Gyre: success",
    });
    expect(alloc.TaskStates.build.Events.map((e: { Type: string }) => e.Type)).toEqual([
      "Received",
      "Started",
      "Terminated",
    ]);
    const tail = await logs(allocIds[1]!, "task=build&type=stdout&origin=end&offset=7&plain=true");
    expect(tail.text).toBe(Buffer.from(expected).subarray(-7).toString("utf8"));
    const framed = await logs(allocIds[0]!, "task=build&type=stdout&origin=start&offset=0&follow=false");
    expect(framedData(framed.frames())).toBe(
      (await stepOutputs(admin(), slug, job.job_number, 0)).map((s) => s.output).join(""),
    );
    // stdout only: the job had no message of Gyre's.
    expect((await logs(allocIds[1]!, "task=build&type=stderr&plain=true")).text).toBe("");
    expect((await nomad(`/v1/job/${jobId}/summary`)).body.Summary.build).toMatchObject({
      Complete: 2,
      Running: 0,
    });
  });

  it("gives Gyre's own messages for a job as its stderr: a job refused its context", async () => {
    const refusedSlug = "gh/acme/nomad-refused";
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  deploy:
    machine: true
    steps:
      - run: echo never
workflows:
  main:
    jobs:
      - deploy:
          context: [no-such-context]
`,
    });
    expect(
      (await admin().post("/api/gyre/projects", { repo_url: repo.path, slug: refusedSlug })).status,
    ).toBe(201);
    const { byName } = await runPipeline(admin(), refusedSlug);
    const number = byName.deploy!.job_number as number;
    const details = (await admin().get(`/api/v2/project/${refusedSlug}/job/${number}`)).body as {
      messages: { type: string; message: string }[];
    };
    expect(details.messages.length).toBeGreaterThan(0);
    const id = `${byName.deploy!.id}-1-build-acme-nomad-refused-${number}`;
    const [alloc] = (await nomad(`/v1/job/${id}/allocations`)).body;
    expect(alloc.ClientStatus).toBe("failed");
    const stderr = await logs(alloc.ID, "task=build&type=stderr&plain=true");
    expect(stderr.text).toBe(details.messages.map((m) => `${m.type}: ${m.message}\n`).join(""));
  });

  it("answers /v1/agent/self with Nomad's config, member and stats, as a server that is no client", async () => {
    const res = await nomad("/v1/agent/self");
    expect(res.status).toBe(200);
    expect(shapeMismatches(res.body, sample("agent-self.json"), 2)).toEqual(["stats.client: missing"]);
    expect(res.body.config).toMatchObject({
      Region: runtime.gyre.resources.region,
      UI: { ShowCLIHints: false },
    });
    expect(res.body.member).toMatchObject({ Status: "alive", Port: Number(new URL(runtime.url).port) });
    expect(res.body.stats.nomad).toMatchObject({ server: "true", leader: "true" });
    expect(res.body.stats.gyre).toEqual({ nodes: String((await nomad("/v1/nodes")).body.length) });
  });

  it("marks a node ineligible without draining it: a new job waits pending, and runs once it is eligible again", async () => {
    const body = (e: string) => ({ method: "PUT", body: JSON.stringify({ Eligibility: e }) });
    const off = await nomad(
      `/v1/node/${nodeId}/eligibility`,
      body(sample("node-eligibility-request.json").Eligibility),
    );
    expect(off.status).toBe(200);
    expect(shapeMismatches(off.body, sample("node-drain-response.json"))).toEqual([]);
    expect((await nomad(`/v1/node/${nodeId}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "ineligible",
      DrainStrategy: null,
    });
    const own = (await admin().get("/api/gyre/nodes")).body.items!.find((n) => n.id === nodeId);
    expect(own).toMatchObject({ drain: false, scheduling_eligibility: "ineligible" });
    // A second mark changes nothing.
    expect((await nomad(`/v1/node/${nodeId}/eligibility`, body("ineligible"))).body.NodeModifyIndex).toBe(
      off.body.NodeModifyIndex,
    );
    const { id } = await trigger(admin(), slug);
    const [workflow] = (await admin().get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    const queued = await waitFor("the job to be queued", async () => {
      const [j] = (await admin().get(`/api/v2/workflow/${workflow!.id}/job`)).body.items!;
      return j?.status === "queued" ? j : undefined;
    });
    const pendingId = `${queued.id}-1-build-acme-nomad-jobs-${queued.job_number}`;
    // Three heartbeats later it still waits: no node takes it.
    await new Promise((r) => setTimeout(r, 3000));
    const pending = await nomad(`/v1/job/${pendingId}`);
    expect(pending.body.Status).toBe("pending");
    const allocs = (await nomad(`/v1/job/${pendingId}/allocations`)).body;
    expect(allocs.map((a: { ClientStatus: string; NodeID: string }) => [a.ClientStatus, a.NodeID])).toEqual([
      ["pending", ""],
      ["pending", ""],
    ]);
    expect((await nomad(`/v1/job/${pendingId}/evaluations`)).body[0].QueuedAllocations).toEqual({ build: 2 });
    expect(
      (await admin().get(`/api/v2/project/${slug}/job/${queued.job_number}`)).body.messages,
    ).toContainEqual({
      type: "warning",
      message:
        "The one builder node offering resource class medium is ineligible: this job runs once one is eligible again or another node joins.",
      reason: "waiting_for_capacity",
    });
    const on = await nomad(`/v1/node/${nodeId}/eligibility`, {
      method: "POST",
      body: JSON.stringify({ Eligibility: "eligible" }),
    });
    expect(on.status).toBe(200);
    expect(on.body.NodeModifyIndex).toBeGreaterThan(off.body.NodeModifyIndex);
    expect((await nomad(`/v1/node/${nodeId}`)).body.SchedulingEligibility).toBe("eligible");
    await waitFor("the job to finish once the node is eligible", async () =>
      (await nomad(`/v1/job/${pendingId}`)).body.Status === "dead" ? true : undefined,
    );
    expect((await nomad(`/v1/job/${pendingId}/summary`)).body.Summary.build).toMatchObject({ Complete: 2 });
  });

  it("refuses to make a draining node eligible, and ends a drain keeping it ineligible when MarkEligible is false", async () => {
    const put = (path: string, body: unknown) => nomad(path, { method: "PUT", body: JSON.stringify(body) });
    expect((await put(`/v1/node/${nodeId}/drain`, { DrainSpec: { Deadline: 0 } })).status).toBe(200);
    expect(await put(`/v1/node/${nodeId}/eligibility`, { Eligibility: "eligible" })).toMatchObject({
      status: 409,
      body: { message: `Node ${nodeId} is draining: end the drain to make it eligible again.` },
    });
    // `nomad node drain -disable -keep-ineligible`.
    expect((await put(`/v1/node/${nodeId}/drain`, { DrainSpec: null, MarkEligible: false })).status).toBe(
      200,
    );
    expect((await nomad(`/v1/node/${nodeId}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "ineligible",
    });
    // `nomad node drain -disable` marks it eligible (the CLI sends MarkEligible: true).
    await put(`/v1/node/${nodeId}/drain`, { DrainSpec: { Deadline: 0 } });
    expect((await put(`/v1/node/${nodeId}/drain`, { DrainSpec: null, MarkEligible: true })).status).toBe(200);
    expect((await nomad(`/v1/node/${nodeId}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "eligible",
    });
  });

  it("answers unknown ids with Nomad's 404 words and bad query values with a precise 400, never a 500", async () => {
    const unknownJob = `${"0".repeat(8)}-0000-4000-8000-000000000000-1-build-acme-nomad-jobs-999`;
    for (const path of ["", "/allocations", "/summary", "/evaluations", "/deployment"])
      expect(await nomad(`/v1/job/${unknownJob}${path}`)).toMatchObject({
        status: 404,
        body: { message: `job not found: ${unknownJob}` },
      });
    expect(await nomad("/v1/job/not-a-gyre-job")).toMatchObject({
      status: 404,
      body: { message: "job not found: not-a-gyre-job" },
    });
    // A real job with another attempt is not there (only the current attempt is a Nomad job).
    expect((await nomad(`/v1/job/${jobId.replace("-1-build-", "-2-build-")}`)).status).toBe(404);
    const unknownAlloc = "00000000-0000-4000-8000-000000000000";
    expect(await nomad(`/v1/allocation/${unknownAlloc}`)).toMatchObject({
      status: 404,
      body: { message: `alloc not found: ${unknownAlloc}` },
    });
    expect(await nomad("/v1/allocation/nope")).toMatchObject({
      status: 400,
      body: { message: "Invalid allocation id: (root): expected a UUID" },
    });
    const a = allocIds[0]!;
    const bad: [string, string][] = [
      ["type=stdout", "must provide task name"],
      ["task=build&type=both", "must provide log type (stdout/stderr)"],
      ["task=build&type=stdout&origin=middle", 'Invalid origin "middle": start or end.'],
      ["task=build&type=stdout&offset=-1", 'Invalid offset "-1": a number of bytes, 0 or more.'],
      ["task=build&type=stdout&follow=maybe", 'Invalid follow "maybe": true or false.'],
      ["task=build&type=stdout&plain=2", 'Invalid plain "2": true or false.'],
      ["task=web&type=stdout", `unknown task name "web": allocation ${a} runs one task, "build".`],
    ];
    for (const [query, message] of bad) {
      const res = await logs(a, query);
      expect({ query, status: res.status, body: JSON.parse(res.text) }).toEqual({
        query,
        status: 400,
        body: { message },
      });
    }
    expect((await logs(unknownAlloc, "task=build&type=stdout")).status).toBe(404);
    expect(await nomad("/v1/jobs?per_page=ten")).toMatchObject({
      status: 400,
      body: { message: 'Invalid per_page "ten": a whole number of items, 0 or more.' },
    });
    expect(await nomad("/v1/allocations?filter=ClientStatus%3D%3D%22running%22")).toMatchObject({
      status: 400,
      body: {
        message: 'Filter expressions are not supported: list without "filter" (narrow with "prefix").',
      },
    });
    expect(await nomad(`/v1/job/${jobId}?index=1&wait=later`)).toMatchObject({
      status: 400,
      body: { message: 'Invalid wait "later": a duration such as 5s, 1m or 300ms.' },
    });
    expect(
      await nomad("/v1/search", { method: "PUT", body: JSON.stringify({ Prefix: "a", Context: "secrets" }) }),
    ).toMatchObject({
      status: 400,
      body: {
        message:
          'Invalid Context "secrets": one of all, allocs, deployment, evals, jobs, nodes, plugins, volumes.',
      },
    });
    expect((await nomad("/v1/search", { method: "PUT", body: JSON.stringify({ Prefix: 7 }) })).status).toBe(
      400,
    );
    expect(
      (
        await nomad(`/v1/node/${nodeId}/eligibility`, {
          method: "PUT",
          body: JSON.stringify({ Eligibility: "maybe" }),
        })
      ).status,
    ).toBe(400);
    expect(
      await nomad("/v1/node/00000000-0000-4000-8000-000000000000/eligibility", {
        method: "PUT",
        body: JSON.stringify({ Eligibility: "ineligible" }),
      }),
    ).toMatchObject({
      status: 404,
      body: { message: "node not found: 00000000-0000-4000-8000-000000000000" },
    });
    expect((await nomad(`/v1/node/${nodeId}`)).body.SchedulingEligibility).toBe("eligible");
  });
});

describe("gyre nomad", () => {
  const cli = () => new Client(runtime.url, runtime.adminToken);

  it("node status lists the nodes in nomad's columns, and one node with its resources and allocations", async () => {
    const node = await readyNode();
    // The jobs of the tests before leave the node's list with its next heartbeat.
    await waitFor("the node to report no allocations", async () => {
      const { body } = await nomad(`/v1/node/${node.ID}/allocations`);
      return Array.isArray(body) && body.length === 0 ? true : undefined;
    });
    const lines: string[] = [];
    await nodeStatus(cli(), undefined, {}, (l) => lines.push(l));
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      "ID",
      "Node Pool",
      "DC",
      "Name",
      "Class",
      "Drain",
      "Eligibility",
      "Status",
    ]);
    expect(lines[1]!.split(/\s{2,}/)).toEqual([
      (node.ID as string).slice(0, 8),
      "default",
      runtime.gyre.resources.region,
      node.Name,
      "<none>",
      "false",
      "eligible",
      "ready",
    ]);
    const one: string[] = [];
    await nodeStatus(cli(), (node.ID as string).slice(0, 6), {}, (l) => one.push(l));
    expect(one).toContain(`ID               = ${node.ID}`);
    expect(one).toContain("Drain            = false");
    expect(one).toContain("Resource Classes = small,medium,medium+,large,xlarge,2xlarge");
    expect(one.slice(one.indexOf("Allocated Resources") + 1, one.indexOf("Allocated Resources") + 3)).toEqual(
      ["CPU          Memory", "0/16000 MHz  0 MiB/32768 MiB"],
    );
    expect(one.at(-1)).toBe("No allocations placed");
    await expect(nodeStatus(cli(), "zz", {}, () => {})).rejects.toThrow('No node(s) with prefix "zz" found');
  });

  it("node drain waits while a job runs on the node, and says so once it has finished; -disable ends the drain", async () => {
    const { ID } = await readyNode();
    const admin = api(runtime.url, runtime.adminToken);
    const marker = join(shared, "cli-drain-started");
    const release = join(shared, "cli-drain-release");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: touch ${marker}; for i in $(seq 600); do [ -f ${release} ] && exit 0; sleep 0.1; done; exit 1
workflows:
  main:
    jobs: [build]
`,
    });
    expect(
      (await admin.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/cli-drain" })).status,
    ).toBe(201);
    const { id } = await trigger(admin, "gh/acme/cli-drain");
    await waitFor("the node to report the job", async () => {
      const { body } = await nomad(`/v1/node/${ID}/allocations`);
      return Array.isArray(body) && body.some((a: { ClientStatus: string }) => a.ClientStatus === "running")
        ? true
        : undefined;
    });
    const lines: string[] = [];
    const drained = nodeDrain(cli(), ID as string, { enable: true, pollMs: 100 }, (l) => lines.push(l));
    await waitFor("the CLI to report the running allocation", async () =>
      lines.some((l) => l.endsWith(`Node "${ID}" has 1 allocation(s) running`)) ? true : undefined,
    );
    expect(lines.some((l) => l.includes("All allocations"))).toBe(false);
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
    await drained;
    expect(lines.at(-1)).toMatch(new RegExp(`: All allocations on node "${ID}" have stopped$`));
    const [workflow] = (await admin.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    const [job] = (await admin.get(`/api/v2/workflow/${workflow!.id}/job`)).body.items!;
    expect(job!.status).toBe("success");
    expect((await nomad(`/v1/node/${ID}`)).body.DrainStrategy).toMatchObject({ Deadline: 3_600_000_000_000 });
    const ended: string[] = [];
    await nodeDrain(cli(), ID as string, { disable: true }, (l) => ended.push(l));
    expect(ended).toEqual([`Node "${ID}" drain strategy unset`]);
    expect((await nomad(`/v1/node/${ID}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "eligible",
    });
    await expect(nodeDrain(cli(), ID as string, { enable: true, disable: true }, () => {})).rejects.toThrow(
      "Exactly one of -enable or -disable must be given.",
    );
    await expect(
      nodeDrain(cli(), ID as string, { enable: true, deadline: "soon" }, () => {}),
    ).rejects.toThrow('Invalid -deadline "soon": a duration such as 1h or 30m.');
  });

  it("node drain right after a claim waits for that job, though the node's last heartbeat did not name it yet", async () => {
    const { ID } = await readyNode();
    const admin = api(runtime.url, runtime.adminToken);
    const release = join(shared, "cli-claim-release");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: for i in $(seq 600); do [ -f ${release} ] && exit 0; sleep 0.1; done; exit 1
workflows:
  main:
    jobs: [build]
`,
    });
    expect(
      (await admin.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/cli-claim" })).status,
    ).toBe(201);
    const { id } = await trigger(admin, "gh/acme/cli-claim");
    // Claimed, as the job store says: no wait for the node's heartbeat to list it.
    await waitFor("the claim", async () => {
      const [workflow] = (await admin.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
      if (!workflow) return undefined;
      const [job] = (await admin.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
      return job?.status === "running" ? true : undefined;
    });
    const lines: string[] = [];
    const drained = nodeDrain(cli(), ID as string, { enable: true, pollMs: 100 }, (l) => lines.push(l));
    await waitFor("the CLI to report the running allocation", async () =>
      lines.some((l) => l.endsWith(`Node "${ID}" has 1 allocation(s) running`)) ? true : undefined,
    );
    expect(lines.some((l) => l.includes("All allocations"))).toBe(false);
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
    await drained;
    expect(lines.at(-1)).toMatch(new RegExp(`: All allocations on node "${ID}" have stopped$`));
    // Ending the drain with -keep-ineligible leaves it ineligible; eligibility -enable ends that.
    await nodeDrain(cli(), ID as string, { disable: true, "keep-ineligible": true }, () => {});
    expect((await nomad(`/v1/node/${ID}`)).body).toMatchObject({
      Drain: false,
      SchedulingEligibility: "ineligible",
    });
    const said: string[] = [];
    await nodeEligibility(cli(), ID as string, { enable: true }, (l) => said.push(l));
    expect(said).toEqual([`Node "${ID}" scheduling eligibility set: eligible for scheduling`]);
    expect((await nomad(`/v1/node/${ID}`)).body).toMatchObject({ SchedulingEligibility: "eligible" });
  });

  /** The finished jobs of the jobs suite: the two-allocation one and the refused one. */
  const finishedJobs = async () => {
    const jobs = (await nomad("/v1/jobs")).body as {
      ID: string;
      Status: string;
      Meta: Record<string, string>;
    }[];
    const of = (project: string) => jobs.filter((j) => j.Meta.project === project && j.Status === "dead");
    return { built: of("gh/acme/nomad-jobs")[0]!, refused: of("gh/acme/nomad-refused")[0]! };
  };
  const stdoutOf = async (project: string, jobNumber: number, index: number) =>
    (await stepOutputs(api(runtime.url, runtime.adminToken), project, jobNumber, index))
      .map((s) => s.output)
      .join("");

  it("status lists the jobs in nomad's columns, and job status shows one job with its Summary and Allocations tables", async () => {
    const { built } = await finishedJobs();
    const job = (await nomad(`/v1/job/${built.ID}`)).body;
    const submitted = new Date(job.SubmitTime / 1e6).toISOString().replace(/\.\d{3}Z$/, "Z");
    const list: string[] = [];
    await jobStatus(cli(), undefined, {}, (l) => list.push(l));
    expect(list[0]!.split(/\s{2,}/)).toEqual(["ID", "Type", "Priority", "Status", "Submit Date"]);
    expect(list.map((l) => l.split(/\s{2,}/))).toContainEqual([built.ID, "batch", "50", "dead", submitted]);
    const one: string[] = [];
    await jobStatus(cli(), built.ID.slice(0, 8), {}, (l) => one.push(l));
    expect(one.slice(0, 11)).toEqual([
      `ID            = ${built.ID}`,
      `Name          = ${built.ID}`,
      `Submit Date   = ${submitted}`,
      "Type          = batch",
      "Priority      = 50",
      `Datacenters   = ${runtime.gyre.resources.region}`,
      "Namespace     = default",
      "Node Pool     = default",
      "Status        = dead",
      "Periodic      = false",
      "Parameterized = false",
    ]);
    const summaryAt = one.indexOf("Summary");
    expect(one.slice(summaryAt + 1, summaryAt + 3).map((l) => l.split(/\s{2,}/))).toEqual([
      ["Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"],
      ["build", "0", "0", "0", "0", "2", "0", "0"],
    ]);
    const allocs = (
      (await nomad(`/v1/job/${built.ID}/allocations`)).body as {
        ID: string;
        NodeID: string;
        CreateTime: number;
      }[]
    ).sort((a, b) => (a.ID < b.ID ? -1 : 1));
    const allocAt = one.indexOf("Allocations");
    expect(one.slice(allocAt + 1).map((l) => l.split(/\s{2,}/))).toEqual([
      ["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created At"],
      ...allocs.map((a) => [
        a.ID.slice(0, 8),
        a.NodeID.slice(0, 8),
        "build",
        "0",
        "stop",
        "complete",
        new Date(a.CreateTime / 1e6).toISOString().replace(/\.\d{3}Z$/, "Z"),
      ]),
    ]);
    const json: string[] = [];
    await jobStatus(cli(), built.ID, { json: true }, (l) => json.push(l));
    const [parsed] = JSON.parse(json.join("\n"));
    expect(parsed.Summary.JobID).toBe(built.ID);
    expect(parsed.Allocations).toHaveLength(2);
    expect(parsed.LatestDeployment).toBeNull();
    expect(parsed.Evaluations.map((e: { TriggeredBy: string }) => e.TriggeredBy)).toEqual(["job-register"]);
    await expect(jobStatus(cli(), "zz-none", {}, () => {})).rejects.toThrow(
      'No job(s) with prefix or ID "zz-none" found',
    );
  });

  it("alloc status shows an allocation as nomad does, and alloc logs prints its stdout, its tail and its stderr", async () => {
    const { built, refused } = await finishedJobs();
    const allocs = (await nomad(`/v1/job/${built.ID}/allocations`)).body as { ID: string; Name: string }[];
    const alloc = allocs.find((a) => a.Name.endsWith("[1]"))!;
    const lines: string[] = [];
    await allocStatus(cli(), alloc.ID.slice(0, 8), {}, (l) => lines.push(l));
    expect(lines).toContain(`ID                  = ${alloc.ID}`);
    expect(lines).toContain(`Name                = ${alloc.Name}`);
    expect(lines).toContain(`Job ID              = ${built.ID}`);
    expect(lines).toContain("Client Status       = complete");
    expect(lines).toContain("Client Description  = Gyre: success");
    expect(lines).toContain("Desired Description = <none>");
    expect(lines).toContain('Task "build" is "dead"');
    const resourcesAt = lines.indexOf("Task Resources:");
    expect(lines.slice(resourcesAt + 1, resourcesAt + 3).map((l) => l.split(/\s{2,}/))).toEqual([
      ["CPU", "Memory", "Disk", "Addresses"],
      ["2000 MHz", "4.0 GiB", "0 B"],
    ]);
    expect(lines).toContain("Total Restarts = 0");
    expect(lines).toContain("Last Restart   = N/A");
    const eventsAt = lines.indexOf("Recent Events:");
    expect(lines.slice(eventsAt + 1).map((l) => l.split(/\s{2,}/)[1])).toEqual([
      "Type",
      "Terminated",
      "Started",
      "Received",
    ]);

    const number = Number(built.Meta.job_number);
    const expected = await stdoutOf("gh/acme/nomad-jobs", number, 1);
    let out = "";
    await allocLogs(cli(), alloc.ID.slice(0, 8), {}, (t) => {
      out += t;
    });
    expect(out).toBe(expected);
    let tail = "";
    await allocLogs(cli(), alloc.ID, { tail: true, n: "1" }, (t) => {
      tail += t;
    });
    expect(tail).toBe(`${expected.trimEnd().split("\n").at(-1)}\n`);
    let bytes = "";
    await allocLogs(cli(), alloc.ID, { tail: true, c: "5" }, (t) => {
      bytes += t;
    });
    expect(bytes).toBe(expected.slice(-5));
    // `nomad logs -job -stderr <job id>`, as the reference's guide runs it.
    let stderr = "";
    await allocLogs(cli(), refused.ID, { job: true, stderr: true }, (t) => {
      stderr += t;
    });
    const details = (
      await api(runtime.url, runtime.adminToken).get(
        `/api/v2/project/gh/acme/nomad-refused/job/${refused.Meta.job_number}`,
      )
    ).body as { messages: { type: string; message: string }[] };
    expect(stderr).toBe(details.messages.map((m) => `${m.type}: ${m.message}\n`).join(""));
    // -job picks one of the job's allocations.
    let any = "";
    await allocLogs(cli(), built.ID, { job: true }, (t) => {
      any += t;
    });
    expect([await stdoutOf("gh/acme/nomad-jobs", number, 0), expected]).toContain(any);
    await expect(allocLogs(cli(), "ffffffff", {}, () => {})).rejects.toThrow(
      'No allocation(s) with prefix or id "ffffffff" found',
    );
    await expect(allocStatus(cli(), "a", {}, () => {})).rejects.toThrow(
      "Identifier must contain at least two characters.",
    );
    await expect(allocLogs(cli(), alloc.ID, { tail: true, n: "1", c: "2" }, () => {})).rejects.toThrow(
      "both -n and -c set",
    );
    await expect(allocLogs(cli(), alloc.ID, { tail: true, n: "many" }, () => {})).rejects.toThrow(
      'Invalid -n "many": a whole number, 0 or more.',
    );
    await expect(allocLogs(cli(), "no-such-job", { job: true }, () => {})).rejects.toThrow(
      "job not found: no-such-job",
    );
  });

  it("alloc logs -f follows a running allocation's output until it ends", async () => {
    const admin = api(runtime.url, runtime.adminToken);
    const release = join(shared, "cli-follow-release");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo first; for i in $(seq 600); do [ -f ${release} ] && break; sleep 0.1; done; echo last
workflows:
  main:
    jobs: [build]
`,
    });
    expect(
      (await admin.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/cli-follow" })).status,
    ).toBe(201);
    await trigger(admin, "gh/acme/cli-follow");
    const stub = await waitFor("the job's allocation to run", async () => {
      const jobs = (await nomad("/v1/jobs")).body as {
        ID: string;
        Status: string;
        Meta: Record<string, string>;
      }[];
      const j = jobs.find((x) => x.Meta.project === "gh/acme/cli-follow" && x.Status === "running");
      return j;
    });
    const [alloc] = (await nomad(`/v1/job/${stub.ID}/allocations`)).body;
    let out = "";
    const followed = allocLogs(cli(), alloc.ID, { follow: true }, (t) => {
      out += t;
    });
    await waitFor("the first line, while it runs", async () => (out.includes("first\n") ? true : undefined));
    expect(out).not.toContain("last");
    await import("node:fs/promises").then((fs) => fs.writeFile(release, ""));
    await followed;
    expect(out).toBe(await stdoutOf("gh/acme/cli-follow", Number(stub.Meta.job_number), 0));
    expect(out).toContain("last\n");
  });
});
