/**
 * `GET /metrics` end to end on the local stack: a node with room for one medium job runs one of
 * two; the other shows as pending (and as a message in the medium queue), the first as running;
 * nodes by status follow a drain; each claim's queue time and each finish's duration are
 * observed; a node's reported poll failures show as its counter. Real agent, queues, sandbox;
 * the text is read by a strict parser (test/support/prometheus.ts).
 */
import { createSocket } from "node:dgram";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { type Family, parsePrometheus, sampleValue } from "./support/prometheus.ts";
import { api, gitRepo, registerTestNode, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const shared = tempDir("metrics-shared");
const release = join(shared, "release");
// A StatsD endpoint: what the runtime forwards (statsd option) arrives here.
const statsd = createSocket("udp4");
const statsdLines: string[] = [];
statsd.on("message", (m) => statsdLines.push(...m.toString("utf8").split("\n")));

beforeAll(async () => {
  await new Promise<void>((ok) => statsd.bind(0, "127.0.0.1", ok));
  runtime = await startLocalRuntime({
    statsd: { host: "127.0.0.1", port: (statsd.address() as AddressInfo).port, tags: { env: "e2e" } },
    dataDir: tempDir("metrics"),
    port: 0,
    heartbeatSeconds: 3,
    agentEnv: {
      GYRE_SANDBOX_BIND: shared,
      GYRE_NODE_CPUS: "2",
      GYRE_NODE_MEMORY_MB: "4096",
      GYRE_NODE_RESERVED_CPUS: "0",
      GYRE_NODE_RESERVED_MEMORY_MB: "0",
    },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  writeFileSync(release, "");
  await runtime?.stop();
  statsd.close();
});

async function scrape(token = runtime.adminToken, header = "circle-token") {
  const response = await fetch(`${runtime.url}/metrics`, {
    headers: { [header]: header === "authorization" ? `Bearer ${token}` : token },
  });
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

const metrics = async () => {
  const answer = await scrape();
  expect(answer.status).toBe(200);
  return parsePrometheus(answer.text);
};

/** Scrapes until `check` holds for the parsed figures (throws inside `check` mean "not yet"). */
const metricsWhen = (what: string, check: (f: Map<string, Family>) => boolean) =>
  waitFor(what, async () => {
    const families = await metrics();
    try {
      return check(families) ? families : undefined;
    } catch {
      return undefined;
    }
  });

const mediumJobs = `version: 2.1
jobs:
${["job1", "job2"]
  .map(
    (name) => `  ${name}:
    machine: true
    resource_class: medium
    steps:
      - run: touch ${shared}/started-${name}; for i in $(seq 1200); do [ -f ${release} ] && exit 0; sleep 0.1; done; exit 1
`,
  )
  .join("")}workflows:
  main:
    jobs: [job1, job2]
`;

describe("GET /metrics", () => {
  it("answers admins only, by Circle-Token or Bearer token, in Prometheus' text format", async () => {
    expect((await fetch(`${runtime.url}/metrics`)).status).toBe(401);
    const builder = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    expect((await scrape(builder)).status).toBe(403);
    const bearer = await scrape(runtime.adminToken, "authorization");
    expect(bearer.status).toBe(200);
    expect(bearer.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const families = parsePrometheus(bearer.text);
    expect(families.get("circle_nomad_client_agent_jobs_pending")).toMatchObject({ type: "gauge" });
    // Never a credential, a token or its digest in the figures.
    expect(bearer.text).not.toContain(runtime.adminToken);
    expect(bearer.text).not.toMatch(/gyre_[0-9a-f]{48}|gyre-node\.|credential/i);
  });

  it("shows a job waiting for capacity as pending and the one that has it as running; queue time and duration once they ran", async () => {
    const [node] = await waitFor("the node", async () => {
      const items = (await client.get("/api/gyre/nodes")).body.items!;
      return items.length ? items : undefined;
    });
    const repo = gitRepo({ ".circleci/config.yml": mediumJobs });
    expect(
      (await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/metrics" })).status,
    ).toBe(201);
    const { id } = await trigger(client, "gh/acme/metrics");
    await waitFor("a job to start", async () =>
      existsSync(join(shared, "started-job1")) || existsSync(join(shared, "started-job2")) ? true : undefined,
    );
    const medium = { resource_class: "medium" };
    const during = await metricsWhen(
      "one medium job running and one pending",
      (f) =>
        sampleValue(f, "circle_nomad_client_agent_jobs_running", medium) === 1 &&
        sampleValue(f, "circle_nomad_client_agent_jobs_pending", medium) === 1 &&
        sampleValue(f, "gyre_node_allocations", { node: node!.id as string }) === 1,
    );
    // The waiting job's message sits in the medium queue: the full node does not receive it.
    expect(sampleValue(during, "gyre_job_queue_messages", medium)).toBe(1);
    expect(sampleValue(during, "gyre_nodes", { status: "ready" })).toBe(1);
    expect(sampleValue(during, "gyre_nodes", { status: "down" })).toBe(0);
    // One claim so far: one queue time observed.
    expect(sampleValue(during, "gyre_queue_time_seconds_count", medium)).toBe(1);
    expect(sampleValue(during, "circle_nomad_client_agent_jobs_pending", { resource_class: "large" })).toBe(
      0,
    );

    writeFileSync(release, "");
    const after = await metricsWhen(
      "both jobs to finish",
      (f) => sampleValue(f, "gyre_job_duration_seconds_count", { ...medium, status: "success" }) === 2,
    );
    expect(sampleValue(after, "gyre_queue_time_seconds_count", medium)).toBe(2);
    expect(sampleValue(after, "gyre_queue_time_seconds_bucket", { ...medium, le: "+Inf" })).toBe(2);
    expect(sampleValue(after, "circle_nomad_client_agent_jobs_running", medium)).toBe(0);
    expect(sampleValue(after, "circle_nomad_client_agent_jobs_pending", medium)).toBe(0);
    const [workflow] = (await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    expect(workflow!.status).toBe("success");
    // Forwarded to StatsD too: each claim's queue time as it happened, the gauges after a pass.
    const forwarded = await waitFor("the forwarded figures", async () => {
      const lines = [...statsdLines];
      return lines.filter((l) => l.startsWith("gyre.job_duration:")).length === 2 &&
        lines.some((l) => l === "circle.nomad.client_agent.jobs.pending:0|g|#env:e2e,resource_class:medium")
        ? lines
        : undefined;
    });
    expect(
      forwarded.filter((l) => /^gyre\.queue_time:\d+\|ms\|#env:e2e,resource_class:medium$/.test(l)),
    ).toHaveLength(2);
    expect(forwarded).toContain("gyre.nodes:1|g|#env:e2e,status:ready");
  });

  it("counts nodes by status through a drain, and a node's reported poll failures", async () => {
    const [node] = (await client.get("/api/gyre/nodes")).body.items!;
    expect((await client.post(`/api/gyre/nodes/${node!.id}/drain`, { enable: true })).status).toBe(200);
    const drained = await metrics();
    expect(sampleValue(drained, "gyre_nodes", { status: "draining" })).toBe(1);
    expect(sampleValue(drained, "gyre_nodes", { status: "ready" })).toBe(0);
    expect((await client.post(`/api/gyre/nodes/${node!.id}/drain`, { enable: false })).status).toBe(200);
    expect(sampleValue(await metrics(), "gyre_nodes", { status: "ready" })).toBe(1);
    // The local agent reports its running total (none failed here).
    expect(
      sampleValue(await metrics(), "circle_nomad_server_agent_poll_failure_total", {
        node: node!.id as string,
      }),
    ).toBe(0);

    // A node whose agent reports failures; an older agent's heartbeat without the field still counts.
    const other = await registerTestNode(runtime.url, runtime.dataDir, "poller");
    const beat = (extra: Record<string, unknown>) =>
      other.client.post("/agent/v1/heartbeat", { node_id: other.nodeId, allocations: [], ...extra });
    expect((await beat({ poll_failures: 4 })).status).toBe(200);
    expect((await beat({ poll_failures: 4 })).status).toBe(200); // a retried heartbeat: not doubled
    let families = await metrics();
    expect(
      sampleValue(families, "circle_nomad_server_agent_poll_failure_total", { node: other.nodeId }),
    ).toBe(4);
    expect(sampleValue(families, "gyre_nodes", { status: "ready" })).toBe(2);
    expect((await beat({})).status).toBe(200);
    families = await metrics();
    expect(
      sampleValue(families, "circle_nomad_server_agent_poll_failure_total", { node: other.nodeId }),
    ).toBe(4);
    expect((await beat({ poll_failures: -1 })).status).toBe(400);
  });
});
