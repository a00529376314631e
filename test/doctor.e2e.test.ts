/**
 * `gyre doctor` end to end on the local stack: each failure point is made for real (a class no
 * node offers, an invalid config, every node drained, a builder killed mid-job) and the doctor
 * must name the hop and the cause, then find everything OK again once the cause is gone. Real
 * agents, queues, executions and sandboxes; the reconciler runs only when the test says so, so
 * the window between a node's death and its repair can be looked at.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { type DoctorJson, doctorCommand } from "../packages/cli/src/doctor-command.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser } from "../packages/core/src/auth/index.ts";
import { reconcile } from "../packages/core/src/dispatch/index.ts";
import { getJobByNumber } from "../packages/core/src/job/index.ts";
import { api, gitRepo, runPipeline, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const HEARTBEAT_SECONDS = 9;
const shared = tempDir("doctor-shared");

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("doctor"),
    port: 0,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    // The test runs the reconciler itself: a dead node stays `ready` until it does.
    reconcileIntervalMs: 3_600_000,
    agentEnv: {
      GYRE_SANDBOX_BIND: shared,
      GYRE_NODE_CPUS: "2",
      GYRE_NODE_MEMORY_MB: "4096",
      GYRE_NODE_RESERVED_CPUS: "0",
      GYRE_NODE_RESERVED_MEMORY_MB: "0",
    },
  });
  client = api(runtime.url, runtime.adminToken);
  await waitFor("the first node", async () => ((await nodes()).length > 0 ? true : undefined));
});

afterAll(async () => {
  await runtime?.stop();
});

const nodes = async () => (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];

const doctor = async (job?: string) => {
  const answer = await client.get(`/api/gyre/doctor${job ? `?job=${encodeURIComponent(job)}` : ""}`);
  expect(answer.status).toBe(200);
  return answer.body as unknown as DoctorJson;
};

const problems = (report: DoctorJson) =>
  report.findings.filter((f) => f.status !== "OK").map((f) => [f.hop, f.status, f.message]);

/** `gyre doctor [job]` as the CLI runs it: its exit code and what it printed. */
async function cli(job?: string) {
  const lines: string[] = [];
  const code = await doctorCommand(new Client(runtime.url, runtime.adminToken), job, {}, (l) =>
    lines.push(l),
  );
  return { code, lines };
}

const oneJob = (name: string, resourceClass: string, command: string) => `version: 2.1
jobs:
  ${name}:
    machine: true
    resource_class: ${resourceClass}
    steps:
      - run: ${JSON.stringify(command)}
workflows:
  main:
    jobs: [${name}]
`;

async function addProject(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  const res = await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  expect(res.status).toBe(201);
  return repo;
}

async function onlyJob(pipelineId: string) {
  return waitFor("the pipeline's job", async () => {
    const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
    if (!workflow) return undefined;
    const [job] = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
    return job as { id: string; job_number: number; status: string } | undefined;
  });
}

const jobStatus = async (slug: string, number: number) =>
  (await client.get(`/api/v2/project/${slug}/job/${number}`)).body.status as string;

async function allOk() {
  // A heartbeat late by a busy machine is a real warning, not this test's business: wait it out.
  return waitFor("every finding OK", async () => {
    const report = await doctor();
    return report.ok ? report : undefined;
  });
}

describe("gyre doctor", () => {
  it("finds every hop OK on a healthy installation, and the CLI exits 0", async () => {
    await addProject("gh/acme/doctor-healthy", oneJob("hello", "small", "echo hello"));
    const run = await runPipeline(client, "gh/acme/doctor-healthy");
    expect(run.workflow.status).toBe("success");
    const report = await allOk();
    expect(problems(report)).toEqual([]);
    expect([...new Set(report.findings.map((f) => f.hop))]).toEqual([
      "intake",
      "dispatch",
      "scheduling",
      "nodes",
      "job_processing",
    ]);
    const { code, lines } = await cli();
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe("Nothing is wrong.");
    // One job, asked about by number and by its ended state.
    const job = run.jobs[0]!;
    const one = await doctor(`gh/acme/doctor-healthy/${job.job_number}`);
    expect(one.ok).toBe(true);
    expect(one.at).toBe("job_processing");
    expect(one.findings.at(-1)?.message).toMatch(
      new RegExp(
        `^Job gh/acme/doctor-healthy/${job.job_number} \\(hello\\) ended success at \\S+: it is not stuck\\.$`,
      ),
    );
  });

  it("fails scheduling, naming the class, for a job of a resource class no node offers; OK once a node that fits joins", async () => {
    const slug = "gh/acme/doctor-large";
    await addProject(slug, oneJob("big", "large", "echo ran large"));
    const { id } = await trigger(client, slug);
    const job = await onlyJob(id);
    expect(job.status).toBe("queued");

    const report = await doctor();
    expect(report.ok).toBe(false);
    expect(problems(report)).toEqual([
      [
        "scheduling",
        "FAIL",
        expect.stringMatching(
          /^1 job of resource class large queued, the oldest for \d+ s: No ready builder node offers resource class large \(they offer small, medium\): this job runs once one that does joins\.$/,
        ),
      ],
    ]);
    const scheduling = report.findings.find((f) => f.status === "FAIL")!;
    expect(scheduling.remedy).toMatch(
      /^Add a builder node whose resources, less its reserve, fit resource class large/,
    );

    // The job itself, by number and by id: stuck at scheduling, with its queue and why.
    for (const ref of [`${slug}/${job.job_number}`, job.id]) {
      const one = await doctor(ref);
      expect(one.job).toEqual({ id: job.id, slug, number: job.job_number, name: "big", status: "queued" });
      expect(one.at).toBe("scheduling");
      expect(one.findings.map((f) => [f.hop, f.status])).toEqual([
        ["intake", "OK"],
        ["dispatch", "OK"],
        ["scheduling", "FAIL"],
      ]);
      expect(one.findings[2]!.message).toMatch(
        new RegExp(
          `^Job ${slug}/${job.job_number} \\(big\\) has been queued for \\d+ s on gyre-jobs-large; unless a builder takes it by \\S+ it ends infrastructure_fail\\. No ready builder node offers resource class large \\(they offer small, medium\\): this job runs once one that does joins\\.$`,
        ),
      );
    }
    const { code, lines } = await cli(`${slug}/${job.job_number}`);
    expect(code).toBe(1);
    expect(lines[0]).toBe(`Job ${slug}/${job.job_number} (big) is queued: stuck at scheduling.`);
    expect(lines.at(-1)).toBe("1 FAIL, 0 WARN.");

    runtime.agents.start("large-node", { GYRE_NODE_CPUS: "4", GYRE_NODE_MEMORY_MB: "8192" });
    await waitFor("the large job to finish", async () =>
      (await jobStatus(slug, job.job_number)) === "success" ? true : undefined,
    );
    expect(problems(await allOk())).toEqual([]);
  });

  it("fails intake with the pipeline and its config error for an invalid config; OK once the branch builds again", async () => {
    const slug = "gh/acme/doctor-broken";
    const repo = await addProject(
      slug,
      "version: 2.1\njobs:\n  build:\n    machine: true\nworkflows:\n  main:\n    jobs: [build]\n",
    );
    const { id, number, pipeline } = await trigger(client, slug);
    expect(pipeline.state).toBe("errored");
    const errors = pipeline.errors as { type: string; message: string }[];
    expect(errors.length).toBeGreaterThan(0);

    const report = await doctor();
    expect(problems(report)).toEqual([
      [
        "intake",
        "FAIL",
        `The newest pipeline of ${slug} on branch main, #${number} (${id}), errored: ${errors.map((e) => `${e.type}: ${e.message}`).join("; ")}`,
      ],
    ]);
    expect(report.findings.find((f) => f.status === "FAIL")?.remedy).toBe(
      "Fix .circleci/config.yml (`gyre config validate` shows the same errors), then push or `gyre trigger` again.",
    );
    expect((await cli()).code).toBe(1);

    repo.commit({ ".circleci/config.yml": oneJob("build", "small", "echo fixed") });
    expect((await runPipeline(client, slug)).workflow.status).toBe("success");
    expect(problems(await allOk())).toEqual([]);
  });

  it("fails the nodes hop when every node is drained, and a job queued meanwhile waits at scheduling for a drain to end", async () => {
    const ready = (await nodes()).filter((n) => n.status === "ready");
    expect(ready).toHaveLength(2);
    for (const n of ready)
      expect((await client.post(`/api/gyre/nodes/${n.id}/drain`, { enable: true })).status).toBe(200);

    const report = await doctor();
    const drained = problems(report).filter(([hop]) => hop === "nodes");
    expect(drained[0]).toEqual([
      "nodes",
      "FAIL",
      "Every ready builder node is draining (2 nodes): no node takes a new job.",
    ]);
    expect(drained.slice(1).map(([, status]) => status)).toEqual(["WARN", "WARN"]);
    for (const n of ready)
      expect(
        drained.some(([, , message]) =>
          (message as string).startsWith(`Node ${n.id} (${n.name}) is draining since `),
        ),
      ).toBe(true);

    const slug = "gh/acme/doctor-drained";
    await addProject(slug, oneJob("wait", "small", "echo after the drain"));
    const { id } = await trigger(client, slug);
    const job = await onlyJob(id);
    const one = await doctor(`${slug}/${job.job_number}`);
    expect(one.at).toBe("scheduling");
    expect(one.findings.find((f) => f.hop === "scheduling")).toEqual({
      hop: "scheduling",
      status: "FAIL",
      message: expect.stringMatching(
        new RegExp(
          `^Job ${slug}/${job.job_number} \\(wait\\) has been queued for \\d+ s on gyre-jobs-small; unless a builder takes it by \\S+ it ends infrastructure_fail\\. All 2 builder nodes offering resource class small are draining: this job runs once a drain ends or another node joins\\.$`,
        ),
      ),
      remedy:
        "End a drain with `gyre nomad node drain -disable <node>`, or mark an ineligible node eligible with `gyre nomad node eligibility -enable <node>` (`gyre nomad node status` shows which), or add a node.",
    });

    for (const n of ready) await client.post(`/api/gyre/nodes/${n.id}/drain`, { enable: false });
    await waitFor("the job to run after the drain", async () =>
      (await jobStatus(slug, job.job_number)) === "success" ? true : undefined,
    );
    expect(problems(await allOk())).toEqual([]);
  });

  it("fails nodes and job processing for a builder killed mid-job, names its node, and is OK once the reconciler retried the job", async () => {
    const slug = "gh/acme/doctor-killed";
    const marker = join(shared, "killed-started");
    // The first attempt runs until its builder dies; the retry finds the marker and ends.
    await addProject(
      slug,
      oneJob("sleeper", "small", `[ -f ${marker} ] && exit 0; touch ${marker}; sleep 120`),
    );
    const { id } = await trigger(client, slug);
    const queued = await onlyJob(id);
    const running = await waitFor("the job to run", async () => {
      const job = await getJobByNumber(runtime.gyre, slug, queued.job_number);
      return job.allocations["0"]?.status === "running" ? job : undefined;
    });
    // Claimed is not started: kill the builder only once the step has left its marker.
    await waitFor("the step to start", async () => (existsSync(marker) ? true : undefined));
    const nodeId = running.allocations["0"]!.nodeId!;
    const node = (await nodes()).find((n) => n.id === nodeId)!;
    const agent = (node.name as string).replace(/-[0-9a-f]{6}$/, "");
    process.kill(runtime.agents.pids()[agent]!, "SIGKILL");

    // Past the heartbeat deadline the node is silent, still `ready` until the reconciler runs.
    await new Promise((r) => setTimeout(r, (HEARTBEAT_SECONDS + 1) * 1000));
    const report = await doctor();
    expect(problems(report)).toEqual([
      [
        "nodes",
        "FAIL",
        expect.stringMatching(
          new RegExp(
            `^Node ${nodeId} \\(${node.name}\\) last heartbeated \\d+ s ago, past the ${HEARTBEAT_SECONDS} s deadline, and is still marked ready; it holds 1 running allocation\\.$`,
          ),
        ),
      ],
      [
        "job_processing",
        "FAIL",
        `Job ${slug}/${queued.job_number} (sleeper): Builder node ${nodeId} stopped heartbeating while it ran allocation 0 (attempt 1).`,
      ],
    ]);
    const one = await doctor(`${slug}/${queued.job_number}`);
    expect(one.at).toBe("nodes");
    expect(one.findings.map((f) => [f.hop, f.status])).toEqual([
      ["intake", "OK"],
      ["dispatch", "OK"],
      ["scheduling", "OK"],
      ["nodes", "FAIL"],
      ["job_processing", "FAIL"],
    ]);
    expect(one.findings[4]!.remedy).toMatch(
      /^The reconciler gives the job a new attempt on another node at its next pass/,
    );

    // The reconciler's pass does what the doctor said: a new attempt, which runs and succeeds.
    await reconcile(runtime.gyre, { graceMs: 0 });
    // A new node (the supervisor restarts the killed agent) and a whole attempt: give it a minute.
    await waitFor(
      "the retried job to succeed",
      async () => ((await jobStatus(slug, queued.job_number)) === "success" ? true : undefined),
      60_000,
    );
    const job = await getJobByNumber(runtime.gyre, slug, queued.job_number);
    expect(job.attempt).toBe(2);
    const after = await allOk();
    expect(after.findings.find((f) => f.hop === "nodes" && f.message.includes("down"))?.message).toBe(
      "1 node down (left, revoked or silent; kept a day), nothing recorded running on them.",
    );
  });

  it("answers 400 for a malformed job reference, 404 naming what is unknown, and 403 to a non-admin", async () => {
    const bad = await client.get("/api/gyre/doctor?job=build-12");
    expect(bad).toEqual({
      status: 400,
      body: expect.objectContaining({
        message:
          "Invalid query: job: expected <vcs>/<org>/<repo>/<job number> (e.g. gh/acme/api/12) or a job id (a UUID)",
      }),
    });
    expect((await client.get("/api/gyre/doctor?job=gh/acme/doctor-healthy/0")).status).toBe(400);
    expect(await client.get("/api/gyre/doctor?job=gh/acme/nowhere/1")).toEqual({
      status: 404,
      body: { message: "Project gh/acme/nowhere not found." },
    });
    expect(await client.get("/api/gyre/doctor?job=gh/acme/doctor-healthy/999")).toEqual({
      status: 404,
      body: { message: "Job 999 not found in project gh/acme/doctor-healthy." },
    });
    const unknown = "0b0e5e3a-1111-4222-8333-444455556666";
    expect(await client.get(`/api/gyre/doctor?job=${unknown}`)).toEqual({
      status: 404,
      body: {
        message: `No blocked, queued or running job has id ${unknown}. A job that has ended is named by <project slug>/<job number>.`,
      },
    });
    const user = await createUser(runtime.gyre, { login: "dev", name: "Developer" });
    const developer = api(runtime.url, await createToken(runtime.gyre, user.id, "dev"));
    expect(await developer.get("/api/gyre/doctor")).toEqual({
      status: 403,
      body: { message: "Only an administrator may do this." },
    });
    const builder = api(runtime.url, readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim());
    expect((await builder.get("/api/gyre/doctor")).status).toBe(403);
    // The CLI says the server's message and fails.
    await expect(cli("build-12")).rejects.toThrow(/^Invalid query: job: expected/);
  });
});
