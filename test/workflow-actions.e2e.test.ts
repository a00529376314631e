/**
 * Workflow actions through CircleCI's API v2 on the local stack, with a real builder agent:
 * approve an approval job, cancel one job mid-step or a whole workflow, rerun a workflow
 * (all of it, from failed, chosen jobs). Nothing is mocked.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { status } from "../packages/cli/src/commands.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { workflowApprove, workflowCancel, workflowRerun } from "../packages/cli/src/workflow-commands.ts";
import { api, gitRepo, outputsByName, stepOutputs, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let me: string;
// A directory every job sees (GYRE_SANDBOX_BIND): markers the tests and the jobs share.
const shared = tempDir("actions-shared");

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("actions"),
    port: 0,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  client = api(runtime.url, runtime.adminToken);
  me = (await client.get("/api/v2/me")).body.id as string;
});

afterAll(async () => {
  await runtime?.stop();
});

type Item = Record<string, unknown>;

async function addProject(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  const res = await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  expect(res.status).toBe(201);
}

const workflowsOf = async (pipelineId: string) =>
  (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;

const jobsOf = async (workflowId: string) => {
  const items = (await client.get(`/api/v2/workflow/${workflowId}/job`)).body.items!;
  return Object.fromEntries(items.map((j) => [j.name as string, j])) as Record<string, Item>;
};

/** The first workflow of a pipeline once `ready` holds for it and its jobs. */
async function waitForWorkflow(
  pipelineId: string,
  what: string,
  ready: (workflow: Item, jobs: Record<string, Item>) => boolean,
  timeoutMs = 60_000,
) {
  return waitFor(
    what,
    async () => {
      const [workflow] = await workflowsOf(pipelineId);
      if (!workflow) return undefined;
      const jobs = await jobsOf(workflow.id as string);
      return ready(workflow, jobs) ? { workflow, jobs } : undefined;
    },
    timeoutMs,
  );
}

const statuses = (jobs: Record<string, Item>) =>
  Object.fromEntries(Object.entries(jobs).map(([name, j]) => [name, j.status]));

describe("approval jobs", () => {
  const slug = "gh/acme/approve";
  beforeAll(() =>
    addProject(
      slug,
      `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo built
  deploy:
    machine: true
    steps:
      - run: echo deployed
workflows:
  release:
    jobs:
      - build
      - hold:
          type: approval
          requires: [build]
      - deploy:
          requires: [hold]
`,
    ),
  );

  it("stay on hold until approved; the approval records who approved it and the rest of the workflow runs", async () => {
    const { id } = await trigger(client, slug);
    const held = await waitForWorkflow(id, "the approval to be on hold", (w) => w.status === "on_hold");
    expect(statuses(held.jobs)).toEqual({ build: "success", hold: "on_hold", deploy: "blocked" });
    const hold = held.jobs.hold!;
    expect(hold.approval_request_id).toBe(hold.id);
    const workflowId = held.workflow.id as string;

    const approved = await client.post(`/api/v2/workflow/${workflowId}/approve/${hold.id}`);
    expect(approved).toEqual({ status: 202, body: { message: "Accepted." } });
    const done = await waitForWorkflow(id, "the workflow to succeed", (w) => w.status === "success");
    expect(statuses(done.jobs)).toEqual({ build: "success", hold: "success", deploy: "success" });
    expect(done.jobs.hold!.approved_by).toBe(me);
    expect(await outputsByName(client, slug, done.jobs.deploy!.job_number as number)).toMatchObject({
      "echo deployed": "deployed\n",
    });

    // Approving again, or something that is not an approval of this workflow, changes nothing.
    expect(await client.post(`/api/v2/workflow/${workflowId}/approve/${hold.id}`)).toEqual({
      status: 409,
      body: { message: "Approval job hold was already approved." },
    });
    const build = done.jobs.build!.id as string;
    expect(await client.post(`/api/v2/workflow/${workflowId}/approve/${build}`)).toEqual({
      status: 404,
      body: { message: `Approval request ${build} not found in workflow ${workflowId}.` },
    });
    expect((await client.post(`/api/v2/workflow/${workflowId}/approve/not-a-uuid`)).status).toBe(404);
    expect((await client.post(`/api/v2/workflow/${crypto.randomUUID()}/approve/${hold.id}`)).status).toBe(
      404,
    );
    expect(statuses(await jobsOf(workflowId))).toEqual(statuses(done.jobs));
  });
});

describe("cancel", () => {
  const slug = "gh/acme/cancel";
  beforeAll(() =>
    addProject(
      slug,
      `version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run:
          name: Sleep
          command: |
            echo "started $CIRCLE_WORKFLOW_ID"
            touch "${shared}/started-$CIRCLE_WORKFLOW_ID"
            sleep 120
            touch "${shared}/finished-$CIRCLE_WORKFLOW_ID"
  after:
    machine: true
    steps:
      - run: echo after
workflows:
  main:
    jobs:
      - slow
      - after:
          requires: [slow]
`,
    ),
  );

  const started = (workflowId: string) => existsSync(join(shared, `started-${workflowId}`));

  it("a running job: its node stops the step, the job is canceled by the user, what requires it is not run", async () => {
    const { id } = await trigger(client, slug);
    const running = await waitForWorkflow(id, "the slow step to start", (w) => started(w.id as string));
    const workflowId = running.workflow.id as string;
    const number = running.jobs.slow!.job_number as number;

    const canceled = await client.post(`/api/v2/project/${slug}/job/${number}/cancel`);
    expect(canceled).toEqual({ status: 202, body: { message: "Accepted." } });
    const jobs = await jobsOf(workflowId);
    expect(statuses(jobs)).toEqual({ slow: "canceled", after: "not_run" });
    expect(jobs.slow!.canceled_by).toBe(me);
    expect((await client.get(`/api/v2/workflow/${workflowId}`)).body.status).toBe("canceled");

    // The node stops the step (long before its 120 s sleep ends) and its last output is kept.
    const steps = await waitFor("the node to stop the step", async () => {
      const out = await stepOutputs(client, slug, number);
      return out.find((s) => s.name === "Sleep")?.status === "canceled" ? out : undefined;
    });
    const sleep = steps.find((s) => s.name === "Sleep")!;
    expect(sleep.output).toBe(`started ${workflowId}\n\nGyre: this job was canceled.\n`);
    expect(existsSync(join(shared, `finished-${workflowId}`))).toBe(false);
    const details = (await client.get(`/api/v2/project/${slug}/job/${number}`)).body;
    expect(details.status).toBe("canceled");
    expect(details.parallel_runs).toMatchObject([{ index: 0, status: "canceled" }]);

    expect(await client.post(`/api/v2/project/${slug}/job/${number}/cancel`)).toEqual({
      status: 409,
      body: { message: `Job ${number} has already ended (it is canceled): there is nothing to cancel.` },
    });
    expect(await client.post(`/api/v2/project/${slug}/job/99999/cancel`)).toEqual({
      status: 404,
      body: { message: `Job 99999 not found in project ${slug}.` },
    });
  });

  it("a whole workflow: every job that has not ended is canceled or not run, and the workflow says who canceled it", async () => {
    const { id } = await trigger(client, slug);
    const running = await waitForWorkflow(id, "the slow step to start", (w) => started(w.id as string));
    const workflowId = running.workflow.id as string;
    expect(await client.post(`/api/v2/workflow/${workflowId}/rerun`)).toEqual({
      status: 409,
      body: { message: "Workflow main is still running: cancel it, or let it end, before rerunning it." },
    });

    expect(await client.post(`/api/v2/workflow/${workflowId}/cancel`)).toEqual({
      status: 202,
      body: { message: "Accepted." },
    });
    const workflow = (await client.get(`/api/v2/workflow/${workflowId}`)).body;
    expect({ status: workflow.status, canceled_by: workflow.canceled_by }).toEqual({
      status: "canceled",
      canceled_by: me,
    });
    expect(workflow.stopped_at).toEqual(expect.any(String));
    expect(statuses(await jobsOf(workflowId))).toEqual({ slow: "canceled", after: "canceled" });
    await waitFor("the node to stop the step", async () => {
      const out = await stepOutputs(client, slug, running.jobs.slow!.job_number as number);
      return out.find((s) => s.name === "Sleep")?.status === "canceled" ? true : undefined;
    });
    expect(await client.post(`/api/v2/workflow/${workflowId}/cancel`)).toEqual({
      status: 409,
      body: { message: "Workflow main has already ended (it is canceled): there is nothing to cancel." },
    });
    expect((await client.post(`/api/v2/workflow/${crypto.randomUUID()}/cancel`)).status).toBe(404);
  });
});

describe("rerun", () => {
  const slug = "gh/acme/rerun";
  // `test` fails until the marker exists; `package` attaches what `build` persisted.
  const failMarker = join(shared, "rerun-test-passes");
  beforeAll(() =>
    addProject(
      slug,
      `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: mkdir -p dist && echo "built in $CIRCLE_WORKFLOW_ID" > dist/out.txt
      - persist_to_workspace:
          root: dist
          paths: [out.txt]
  test:
    machine: true
    steps:
      - run:
          name: Test
          command: test -e "${failMarker}"
  package:
    machine: true
    steps:
      - attach_workspace:
          at: ws
      - run:
          name: Package
          command: cat ws/out.txt; echo "workspace $CIRCLE_WORKFLOW_WORKSPACE_ID"
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
      - package:
          requires: [test]
`,
    ),
  );

  let pipelineId: string;
  let first: { workflow: Item; jobs: Record<string, Item> };

  it("refuses bad bodies and unknown jobs with a precise message, creating nothing", async () => {
    ({ id: pipelineId } = await trigger(client, slug));
    // Finalize marks the job behind the failure not_run just after the workflow shows failed.
    first = await waitForWorkflow(
      pipelineId,
      "the workflow to fail",
      (w, jobs) => w.status === "failed" && jobs.package?.status === "not_run",
    );
    expect(statuses(first.jobs)).toEqual({ build: "success", test: "failed", package: "not_run" });
    const path = `/api/v2/workflow/${first.workflow.id}/rerun`;
    const bad: [unknown, number, string][] = [
      [
        { from_failed: true, jobs: [first.jobs.test!.id] },
        400,
        "from_failed and jobs are mutually exclusive",
      ],
      [{ enable_ssh: true }, 400, "enable_ssh requires jobs"],
      [{ sparse_tree: true }, 400, "sparse_tree requires jobs"],
      [{ jobs: [] }, 400, "jobs"],
      [{ jobs: ["nope"] }, 400, "jobs"],
      [{ from_failed: "yes" }, 400, "from_failed"],
      [{ colour: "red" }, 400, "colour"],
      ["[1]", 400, "The body must be a JSON object."],
      ["{", 400, "Malformed JSON body."],
    ];
    for (const [body, status, words] of bad) {
      const res = await client.post(path, body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(res.body.message).toContain(words);
    }
    const stranger = crypto.randomUUID();
    expect(await client.post(path, { jobs: [stranger] })).toEqual({
      status: 400,
      body: { message: `Job ${stranger} is not a job of workflow ${first.workflow.id}.` },
    });
    expect((await client.post(`/api/v2/workflow/${crypto.randomUUID()}/rerun`)).status).toBe(404);
    expect(await workflowsOf(pipelineId)).toHaveLength(1);
  });

  it("from failed: a new workflow in the pipeline runs the failed job and what requires it, carrying the rest over", async () => {
    writeFileSync(failMarker, "");
    const res = await client.post(`/api/v2/workflow/${first.workflow.id}/rerun`, { from_failed: true });
    expect(res.status).toBe(202);
    const rerunId = res.body.workflow_id as string;
    const done = await waitFor("the rerun to succeed", async () => {
      const w = (await client.get(`/api/v2/workflow/${rerunId}`)).body;
      return w.status === "success" ? w : undefined;
    });
    expect(done).toMatchObject({ name: "main", pipeline_id: pipelineId, status: "success" });
    expect((await workflowsOf(pipelineId)).map((w) => [w.id, w.status])).toEqual([
      [first.workflow.id, "failed"],
      [rerunId, "success"],
    ]);
    const jobs = await jobsOf(rerunId);
    expect(statuses(jobs)).toEqual({ build: "success", test: "success", package: "success" });
    // `build` was carried over: the same job, number and times; the others run under new numbers.
    expect(jobs.build).toMatchObject({
      id: first.jobs.build!.id,
      job_number: first.jobs.build!.job_number,
      started_at: first.jobs.build!.started_at,
    });
    const numbers = Object.values(first.jobs).map((j) => j.job_number as number);
    expect(jobs.test!.job_number).toBeGreaterThan(Math.max(...numbers));
    expect(jobs.package!.job_number).toBe((jobs.test!.job_number as number) + 1);
    expect(jobs.test!.dependencies).toEqual([jobs.build!.id]);
    // `package` attached the workspace the carried-over `build` persisted in the first workflow.
    expect(await outputsByName(client, slug, jobs.package!.job_number as number)).toMatchObject({
      Package: `built in ${first.workflow.id}\nworkspace ${first.workflow.id}\n`,
    });
    // The first workflow is as it was.
    expect(statuses(await jobsOf(first.workflow.id as string))).toEqual(statuses(first.jobs));
  });

  it("chosen jobs run again with what requires them; the whole workflow runs every job again", async () => {
    const [, rerun] = await workflowsOf(pipelineId);
    const before = await jobsOf(rerun!.id as string);
    const chosen = await client.post(`/api/v2/workflow/${rerun!.id}/rerun`, { jobs: [before.test!.id] });
    expect(chosen.status).toBe(202);
    const chosenId = chosen.body.workflow_id as string;
    await waitFor("the chosen rerun to succeed", async () =>
      (await client.get(`/api/v2/workflow/${chosenId}`)).body.status === "success" ? true : undefined,
    );
    const again = await jobsOf(chosenId);
    expect(again.build!.job_number).toBe(before.build!.job_number);
    expect(again.test!.job_number).not.toBe(before.test!.job_number);
    expect(again.package!.job_number).not.toBe(before.package!.job_number);

    const whole = await client.post(`/api/v2/workflow/${chosenId}/rerun`, "null");
    expect(whole.status).toBe(202);
    const wholeId = whole.body.workflow_id as string;
    await waitFor("the whole rerun to succeed", async () =>
      (await client.get(`/api/v2/workflow/${wholeId}`)).body.status === "success" ? true : undefined,
    );
    const all = await jobsOf(wholeId);
    for (const name of ["build", "test", "package"]) {
      expect(all[name]!.job_number).not.toBe(again[name]!.job_number);
    }
    // Its own build persisted the workspace; CIRCLE_WORKFLOW_WORKSPACE_ID stays the lineage's first.
    expect(await outputsByName(client, slug, all.package!.job_number as number)).toMatchObject({
      Package: `built in ${wholeId}\nworkspace ${first.workflow.id}\n`,
    });
    expect(await client.post(`/api/v2/workflow/${wholeId}/rerun`, { from_failed: true })).toEqual({
      status: 400,
      body: { message: "Workflow main has no failed job to rerun from (it is success)." },
    });
  });
});

describe("gyre workflow", () => {
  it("approves by job name, reruns chosen jobs by name, and says what is wrong with an unknown job or a finished workflow", async () => {
    const cli = new Client(runtime.url, runtime.adminToken);
    const lines: string[] = [];
    const print = (l: string) => lines.push(l);
    const { id } = await trigger(client, "gh/acme/approve");
    const held = await waitForWorkflow(id, "the approval to be on hold", (w) => w.status === "on_hold");
    const workflowId = held.workflow.id as string;
    // `gyre status` shows the id the workflow commands take.
    const shown: string[] = [];
    await status(cli, "gh/acme/approve", (l) => shown.push(l), 1);
    expect(shown.find((l) => l.startsWith("    workflow release:"))).toMatch(
      new RegExp(`^ {4}workflow release: on_hold .*\\(${workflowId}\\)$`),
    );
    await expect(workflowApprove(cli, workflowId, "nope", print)).rejects.toThrow(
      'No job "nope" in this workflow (it has: build, hold, deploy).',
    );
    await workflowApprove(cli, workflowId, "hold", print);
    await waitForWorkflow(id, "the workflow to succeed", (w) => w.status === "success");
    await workflowRerun(cli, workflowId, { jobs: ["deploy"] }, print);
    const rerunId = /^Rerunning as workflow (\S+)\.$/.exec(lines.at(-1)!)![1]!;
    await waitFor("the rerun to succeed", async () =>
      (await client.get(`/api/v2/workflow/${rerunId}`)).body.status === "success" ? true : undefined,
    );
    const jobs = await jobsOf(rerunId);
    expect(jobs.hold!.approved_by).toBe(me);
    expect(jobs.deploy!.job_number).not.toBe(held.jobs.deploy!.job_number);
    await expect(workflowCancel(cli, rerunId, print)).rejects.toThrow(
      "Workflow release has already ended (it is success): there is nothing to cancel.",
    );
    expect(lines).toEqual(["Approved hold.", `Rerunning as workflow ${rerunId}.`]);
  });
});
