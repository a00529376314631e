/**
 * The Nomad-compatible API (`/v1`) against the shapes Nomad publishes
 * (shared/corpus/nomad-api/): every field of each sample is present with the same JSON type, and
 * the fields the `nomad` CLI dereferences carry Gyre's real figures. On the local stack with a
 * real agent; nothing is mocked.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { nodeDrain, nodeStatus } from "../packages/cli/src/nomad-commands.ts";
import { api, gitRepo, tempDir, trigger, waitFor } from "./support.ts";

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

/** Fields Nomad declares as pointers: null when there is nothing (a node never drained). */
const NULLABLE = new Set(["LastDrain", "DrainStrategy"]);

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
    readFileSync(marker); // the step really runs
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

describe("gyre nomad", () => {
  const cli = () => new Client(runtime.url, runtime.adminToken);

  it("node status lists the nodes in nomad's columns, and one node with its resources and allocations", async () => {
    const node = await readyNode();
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
});
