/**
 * The dispatch path end to end on the local stack: real dynalite, fauxqs, s3rver, the local
 * Step Functions adapter running infra/job-allocation.asl.json, real git repositories and a
 * real builder agent process. Nothing is mocked.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import {
  api,
  gitRepo,
  pushPayload,
  registerTestNode,
  sign,
  stepOutputs,
  tempDir,
  waitFor,
} from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
// Jobs run sandboxed with a private /tmp: the failover test's marker lives in a directory the
// builder shows every job (GYRE_SANDBOX_BIND).
const shared = tempDir("shared");

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("e2e"),
    port: 0,
    heartbeatSeconds: 2,
    reconcileIntervalMs: 1000,
    reconcileGraceMs: 3000,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

const TWO_JOBS = (buildCommand: string) => `version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run:
          name: Build
          command: ${buildCommand}
  test:
    machine: true
    steps:
      - run: echo "testing on $CIRCLE_BRANCH"
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
`;

async function addProject(slug: string, files: Record<string, string>) {
  const repo = gitRepo(files);
  const res = await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  expect(res.status).toBe(201);
  return { repo, secret: res.body.webhook_secret as string };
}

async function deliver(body: string, headers: Record<string, string>) {
  return fetch(`${runtime.url}/webhooks/github`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

async function pipelines(slug: string) {
  const res = await client.get(`/api/v2/project/${slug}/pipeline`);
  expect(res.status).toBe(200);
  return res.body.items!;
}

async function jobsOf(pipelineId: string) {
  const workflows = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
  const workflow = workflows[0];
  if (!workflow) return { workflow: { status: "not yet created" }, jobs: [] };
  // The workflow first: once it is settled, the jobs read after it are too.
  const settledWorkflow = (await client.get(`/api/v2/workflow/${workflow.id}`)).body;
  const jobs = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
  return { workflow: settledWorkflow, jobs };
}

/**
 * The workflow finished and every job settled: a job behind a failure reads `blocked` for a
 * moment after the workflow reads `failed`, until Finalize marks it `not_run`.
 */
async function settled(pipelineId: string) {
  return waitFor("the workflow to finish", async () => {
    const { workflow, jobs } = await jobsOf(pipelineId);
    const done = jobs.every((j) => !["blocked", "queued", "running"].includes(j.status as string));
    return done && ["success", "failed"].includes(workflow.status as string) ? { workflow, jobs } : undefined;
  });
}

describe("GitHub push webhook → finished jobs", () => {
  it("runs every job of a signed push to success, with step output readable through the API", async () => {
    const slug = "gh/acme/widgets";
    const { repo, secret } = await addProject(slug, {
      ".circleci/config.yml": TWO_JOBS("echo built $CIRCLE_SHA1"),
    });
    const body = pushPayload("acme/widgets", repo.head);
    const res = await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-success",
      "x-hub-signature-256": sign(secret, body),
    });
    expect(res.status).toBe(202);
    const [pipeline] = await waitFor("the pipeline", async () =>
      (await pipelines(slug)).length ? pipelines(slug) : undefined,
    );
    expect(pipeline).toMatchObject({
      state: "created",
      number: 1,
      vcs: { branch: "main", revision: repo.head },
    });
    const { workflow, jobs } = await settled(pipeline!.id as string);
    expect(workflow).toMatchObject({ name: "main", status: "success" });
    expect(jobs.map((j) => [j.name, j.status])).toEqual([
      ["build", "success"],
      ["test", "success"],
    ]);
    const build = (await client.get(`/api/v2/project/${slug}/job/${jobs[0]!.job_number}`)).body;
    expect(build).toMatchObject({
      name: "build",
      status: "success",
      number: jobs[0]!.job_number,
      pipeline: { id: pipeline!.id },
    });
    const steps = await stepOutputs(client, slug, jobs[0]!.job_number as number);
    expect(steps.map((s) => s.name)).toEqual(["Spin up environment", "Checkout code", "Build"]);
    expect(steps[0]!.output.split("\n")[0]).toBe(
      "Gyre: this builder cannot provide the docker executor yet; running on the host in a fresh working directory instead of docker image cimg/base:stable.",
    );
    expect(steps[2]!.output).toBe(`built ${repo.head}\n`);
    const test = await stepOutputs(client, slug, jobs[1]!.job_number as number);
    expect(test.at(-1)!.output).toBe("testing on main\n");
  });

  it("fails the job whose step fails, leaves its dependants blocked and fails the workflow", async () => {
    const slug = "gh/acme/broken";
    const { repo, secret } = await addProject(slug, {
      ".circleci/config.yml": TWO_JOBS("echo about to fail; exit 3"),
    });
    const body = pushPayload("acme/broken", repo.head);
    await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-fail",
      "x-hub-signature-256": sign(secret, body),
    });
    const [pipeline] = await waitFor("the pipeline", async () =>
      (await pipelines(slug)).length ? pipelines(slug) : undefined,
    );
    const { workflow, jobs } = await settled(pipeline!.id as string);
    expect(workflow.status).toBe("failed");
    expect(jobs.map((j) => [j.name, j.status])).toEqual([
      ["build", "failed"],
      ["test", "not_run"],
    ]);
    const steps = await stepOutputs(client, slug, jobs[0]!.job_number as number);
    expect(steps.at(-1)!.output).toBe("about to fail\n\nExited with code 3\n");
  });

  it("creates one pipeline when the same delivery arrives twice", async () => {
    const slug = "gh/acme/replay";
    const { repo, secret } = await addProject(slug, { ".circleci/config.yml": TWO_JOBS("true") });
    const body = pushPayload("acme/replay", repo.head);
    const headers = {
      "x-github-event": "push",
      "x-github-delivery": "d-replay",
      "x-hub-signature-256": sign(secret, body),
    };
    expect((await deliver(body, headers)).status).toBe(202);
    const second = await deliver(body, headers);
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ message: "Delivery d-replay was already received." });
    const [pipeline] = await waitFor("the pipeline", async () =>
      (await pipelines(slug)).length ? pipelines(slug) : undefined,
    );
    await settled(pipeline!.id as string);
    expect(await pipelines(slug)).toHaveLength(1);
  });

  it("answers 401 to a bad or missing signature and stores nothing", async () => {
    const slug = "gh/acme/signed";
    const { repo, secret } = await addProject(slug, { ".circleci/config.yml": TWO_JOBS("true") });
    const body = pushPayload("acme/signed", repo.head);
    const bad = await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-sig",
      "x-hub-signature-256": sign("wrong", body),
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ message: "X-Hub-Signature-256 does not match the payload." });
    const missing = await deliver(body, { "x-github-event": "push", "x-github-delivery": "d-sig" });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ message: "Missing X-Hub-Signature-256 header." });
    await new Promise((r) => setTimeout(r, 300));
    expect(await pipelines(slug)).toHaveLength(0);
    // The refused delivery id was not recorded: the genuine delivery with that id is accepted.
    const good = await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-sig",
      "x-hub-signature-256": sign(secret, body),
    });
    expect(good.status).toBe(202);
  });

  it("answers 400 to a malformed body and 404 to an unknown project", async () => {
    const malformed = await deliver("{not json", {
      "x-github-event": "push",
      "x-github-delivery": "d-bad",
      "x-hub-signature-256": "sha256=00",
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ message: "Malformed JSON body." });
    const body = pushPayload("nobody/nothing", "a".repeat(40));
    const unknown = await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-unknown",
      "x-hub-signature-256": sign("x", body),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      message: 'No project gh/nobody/nothing: add it with "gyre project add".',
    });
  });

  it("records an invalid config as an errored pipeline carrying the parser's message", async () => {
    const slug = "gh/acme/invalid";
    const { repo, secret } = await addProject(slug, {
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: true\nworkflows:\n  main:\n    jobs:\n      - deploy\n",
    });
    const body = pushPayload("acme/invalid", repo.head);
    await deliver(body, {
      "x-github-event": "push",
      "x-github-delivery": "d-invalid",
      "x-hub-signature-256": sign(secret, body),
    });
    const [pipeline] = await waitFor("the pipeline", async () =>
      (await pipelines(slug)).length ? pipelines(slug) : undefined,
    );
    expect(pipeline!.state).toBe("errored");
    const errors = pipeline!.errors as { type: string; message: string }[];
    expect(errors).toHaveLength(1);
    expect(errors[0]!.type).toBe("config");
    expect(errors[0]!.message).toMatch(/workflows\.main\.jobs\[0\].*deploy.*\(line 10, column \d+\)/);
    expect((await client.get(`/api/v2/pipeline/${pipeline!.id}/workflow`)).body.items).toEqual([]);
  });
});

describe("API trigger and failover", () => {
  it("triggers by branch through the API and answers with the pipeline's number", async () => {
    const slug = "gh/acme/api";
    await addProject(slug, { ".circleci/config.yml": TWO_JOBS("echo via api") });
    const res = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    expect(res.status).toBe(201);
    // Answered at once, before git is read: CircleCI's `pending`.
    expect(res.body).toMatchObject({ number: 1, state: "pending" });
    const { workflow } = await settled(res.body.id as string);
    expect(workflow.status).toBe("success");
    expect((await client.get(`/api/v2/pipeline/${res.body.id}`)).body).toMatchObject({
      id: res.body.id,
      number: 1,
      project_slug: slug,
      trigger: { type: "api", actor: { login: "admin" } },
    });
  });

  it("does not leave a job running when its agent is killed: it is retried on a new attempt", async () => {
    const slug = "gh/acme/failover";
    const marker = join(shared, "first-attempt");
    await addProject(slug, {
      ".circleci/config.yml": `version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run: if [ -f ${marker} ]; then echo second attempt; else touch ${marker}; sleep 120; fi
workflows:
  main:
    jobs: [slow]
`,
    });
    const res = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    await waitFor("the first attempt to start", async () => (existsSync(marker) ? true : undefined));
    const [pid] = Object.values(runtime.agents.pids());
    process.kill(pid!, "SIGKILL");
    const { workflow, jobs } = await waitFor(
      "the job to finish",
      async () => {
        const r = await jobsOf(res.body.id as string);
        return ["success", "failed"].includes(r.workflow.status as string) ? r : undefined;
      },
      45_000,
    );
    expect(workflow.status).toBe("success");
    expect(jobs[0]!.status).toBe("success");
    const steps = await stepOutputs(client, slug, jobs[0]!.job_number as number);
    expect(steps.at(-1)!.output).toBe("second attempt\n");
  });

  it("drains an agent sent SIGTERM mid-job: the job finishes on its first attempt and the node leaves, down with nothing on it", async () => {
    const slug = "gh/acme/drain";
    const marker = join(shared, "drain-started");
    await addProject(slug, {
      ".circleci/config.yml": `version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run: if [ -f ${marker} ]; then echo second attempt; else touch ${marker}; sleep 3; echo first attempt; fi
workflows:
  main:
    jobs: [slow]
`,
    });
    const res = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    await waitFor("the job to start", async () => (existsSync(marker) ? true : undefined));
    const [pid] = Object.values(runtime.agents.pids());
    process.kill(pid!, "SIGTERM");
    const { workflow, jobs } = await settled(res.body.id as string);
    expect(workflow.status).toBe("success");
    expect(jobs[0]!.status).toBe("success");
    const steps = await stepOutputs(client, slug, jobs[0]!.job_number as number);
    expect(steps.at(-1)!.output).toBe("first attempt\n");
    // The drained node is down with nothing on it, at once (not a heartbeat deadline later).
    const left = await waitFor("the node to leave", async () => {
      const nodes = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
      return nodes.find((n) => n.left_at !== null);
    });
    expect(left).toMatchObject({ status: "down", allocations: [], revoked_at: null });
  });

  it("drains a node on an operator's word: its running job finishes, a new one waits until the drain ends, then runs", async () => {
    const slug = "gh/acme/operator-drain";
    const marker = join(shared, "operator-drain-started");
    await addProject(slug, {
      ".circleci/config.yml": `version: 2.1
jobs:
  work:
    machine: true
    steps:
      - run: if [ -f ${marker} ]; then echo later job; else touch ${marker}; sleep 2; echo first job; fi
workflows:
  main:
    jobs: [work]
`,
    });
    const first = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    await waitFor("the first job to start", async () => (existsSync(marker) ? true : undefined));
    const node = await waitFor("the node running it", async () => {
      const nodes = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
      return nodes.find((n) => n.status === "ready" && (n.allocations as unknown[]).length > 0);
    });
    const drained = await client.post(`/api/gyre/nodes/${node.id}/drain`, { enable: true });
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ id: node.id, drain: true, scheduling_eligibility: "ineligible" });
    const second = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const done = await settled(first.body.id as string);
    expect(done.jobs[0]!.status).toBe("success");
    expect((await stepOutputs(client, slug, done.jobs[0]!.job_number as number)).at(-1)!.output).toBe(
      "first job\n",
    );
    // Several heartbeats later the second job still waits, and the drained node runs nothing.
    await new Promise((r) => setTimeout(r, 3000));
    const waiting = await jobsOf(second.body.id as string);
    expect(waiting.jobs[0]!.status).toBe("queued");
    const idle = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
    expect(idle.find((n) => n.id === node.id)).toMatchObject({
      status: "ready",
      drain: true,
      allocations: [],
    });
    const undrained = await client.post(`/api/gyre/nodes/${node.id}/drain`, { enable: false });
    expect(undrained.body).toMatchObject({ drain: false, scheduling_eligibility: "eligible" });
    const later = await settled(second.body.id as string);
    expect(later.jobs[0]!.status).toBe("success");
    expect((await stepOutputs(client, slug, later.jobs[0]!.job_number as number)).at(-1)!.output).toBe(
      "later job\n",
    );
  });

  it("starts what a no-op job at the root of a workflow unblocks", async () => {
    const slug = "gh/acme/noop";
    await addProject(slug, {
      ".circleci/config.yml": `version: 2.1
jobs:
  gate:
    type: no-op
  after:
    machine: true
    steps:
      - run: echo after the gate
workflows:
  main:
    jobs:
      - gate
      - after:
          requires: [gate]
`,
    });
    const res = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const { workflow, jobs } = await settled(res.body.id as string);
    expect(workflow.status).toBe("success");
    expect(jobs.map((j) => [j.name, j.status])).toEqual([
      ["gate", "success"],
      ["after", "success"],
    ]);
  });
});

describe("builder tokens", () => {
  it("are refused by the API: a builder may only claim and report allocations", async () => {
    const builderToken = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    const asBuilder = api(runtime.url, builderToken);
    for (const [path, message] of [
      ["/api/v2/me", "Only a person's token or session may call this endpoint."],
      ["/api/gyre/projects", "Only a person's token or session may call this endpoint."],
      ["/api/v2/project/gh/acme/widgets/pipeline", "This credential has no access to projects."],
    ] as const) {
      const res = await asBuilder.get(path);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ message });
    }
    // The agent endpoints take a node's own credential, not a user's or the join token.
    for (const token of [runtime.adminToken, builderToken]) {
      const agentCall = await api(runtime.url, token).post("/agent/v1/heartbeat", {});
      expect(agentCall).toEqual({ status: 401, body: { message: "Invalid node credential." } });
    }
    // Registration takes only the join token.
    expect(
      (await api(runtime.url, runtime.adminToken).post("/agent/v1/register", { name: "x" })).status,
    ).toBe(403);
  });
});

describe("builder nodes", () => {
  it("speak only for themselves, and a revoked node's credential is refused while the others keep working", async () => {
    const a = await registerTestNode(runtime.url, runtime.dataDir, "node-a");
    const b = await registerTestNode(runtime.url, runtime.dataDir, "node-b");
    expect(await a.client.post("/agent/v1/heartbeat", { node_id: a.nodeId, allocations: [] })).toMatchObject({
      status: 200,
      body: { stop: [] },
    });
    expect(await a.client.post("/agent/v1/heartbeat", { node_id: b.nodeId, allocations: [] })).toEqual({
      status: 403,
      body: { message: `This request names node ${b.nodeId}, but its credential is node ${a.nodeId}'s.` },
    });
    const admin = api(runtime.url, runtime.adminToken);
    const listed = (await admin.get("/api/gyre/nodes")).body.items!;
    expect(
      listed.filter((n) => n.id === a.nodeId || n.id === b.nodeId).map((n) => [n.name, n.status]),
    ).toEqual(
      expect.arrayContaining([
        ["node-a", "ready"],
        ["node-b", "ready"],
      ]),
    );
    expect(JSON.stringify(listed)).not.toContain(a.credential.split(".")[2]);
    const revoked = await admin.post(`/api/gyre/nodes/${a.nodeId}/revoke`);
    expect(revoked).toMatchObject({ status: 200, body: { id: a.nodeId, status: "down" } });
    await waitFor("the revocation to take effect", async () => {
      const res = await a.client.post("/agent/v1/heartbeat", { node_id: a.nodeId, allocations: [] });
      return res.status === 401 ? res : undefined;
    });
    expect((await b.client.post("/agent/v1/heartbeat", { node_id: b.nodeId, allocations: [] })).status).toBe(
      200,
    );
    // A credential in the query string (where access logs keep it) is not taken.
    const inQuery = await fetch(`${runtime.url}/agent/v1/heartbeat?circle-token=${b.credential}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ node_id: b.nodeId, allocations: [] }),
    });
    expect(inQuery.status).toBe(401);
    expect((await admin.post("/api/gyre/nodes/no-such-node/revoke")).status).toBe(404);
    const asBuilder = api(runtime.url, readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim());
    expect((await asBuilder.get("/api/gyre/nodes")).status).toBe(403);
  });

  it("refuse a draining node's claim with 423 at once, and take it again when the drain ends", async () => {
    const node = await registerTestNode(runtime.url, runtime.dataDir, "drained-claimer");
    const admin = api(runtime.url, runtime.adminToken);
    const claim = {
      allocation: {
        workflowId: "00000000-0000-4000-8000-000000000001",
        jobName: "build",
        jobId: "00000000-0000-4000-8000-000000000002",
        attempt: 1,
        index: 0,
      },
      node_id: node.nodeId,
      task_token: "token",
    };
    // Not draining: an unknown allocation is not this node's to run.
    expect((await node.client.post("/agent/v1/claim", claim)).status).toBe(409);
    expect((await admin.post(`/api/gyre/nodes/${node.nodeId}/drain`, { enable: true })).status).toBe(200);
    expect(await node.client.post("/agent/v1/claim", claim)).toEqual({
      status: 423,
      body: { message: `Node ${node.nodeId} is draining: it takes no new allocation.` },
    });
    expect((await admin.post(`/api/gyre/nodes/${node.nodeId}/drain`, { enable: false })).status).toBe(200);
    expect((await node.client.post("/agent/v1/claim", claim)).status).toBe(409);
  });
});
