/**
 * Published CircleCI API clients from npm, unmodified, pointed at Gyre by their base URL alone:
 *
 * - `circleci-api` 4.1.4 (worldturtlemedia, axios): API v1.1 through its `CircleCI` class with
 *   `circleHost` = `${url}/api/v1.1`; it sends the token as the `circle-token` query parameter.
 * - `@circleci/mcp-server-circleci` 0.20.0 (CircleCI's own MCP server): API v2 (and v1.1 job
 *   details) through its `CircleCIClients`, which read the host from `CIRCLECI_BASE_URL`, as it
 *   documents for CircleCI Server installs, and check every answer with their own zod schemas;
 *   then two of its tools' flows (latest pipeline status, job test results) as an MCP client
 *   would run them.
 *
 * One local runtime with a real builder agent; the projects are added through Gyre's admin API
 * and the jobs share a directory with the test (their markers); what clearing the caches left is
 * read from the bucket. Everything else goes through the packages. Where a call fails for a
 * reason that is not Gyre's, or for one another part of Gyre owns, the test asserts the precise
 * failure and says why.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
// @ts-expect-error The package ships JavaScript only; `V2Clients` below types what the test uses.
import { CircleCIClients } from "@circleci/mcp-server-circleci/dist/clients/circleci/index.js";
// @ts-expect-error As above; `(projectSlug, branch) => workflows`.
import { getLatestPipelineWorkflows } from "@circleci/mcp-server-circleci/dist/lib/latest-pipeline/getLatestPipelineWorkflows.js";
// @ts-expect-error As above; `({projectSlug, pipelineNumber?, jobNumber?, filterByTestsResult?}) => tests`.
import { getJobTests } from "@circleci/mcp-server-circleci/dist/lib/pipeline-job-tests/getJobTests.js";
import { listCaches } from "@gyre/core/storage/index";
import { type BuildSummary, CircleCI, GitType } from "circleci-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, tempDir, waitFor } from "./support.ts";

type Item = Record<string, unknown>;

/** The part of `CircleCIClients` the test calls (each method as the package defines it). */
interface V2Clients {
  projects: { getProject(a: { projectSlug: string }): Promise<Item> };
  pipelines: {
    getPipelines(a: { projectSlug: string; branch?: string }): Promise<Item[]>;
    getPipelineByNumber(a: { projectSlug: string; pipelineNumber: number }): Promise<Item>;
  };
  workflows: {
    getPipelineWorkflows(a: { pipelineId: string }): Promise<Item[]>;
    getWorkflow(a: { workflowId: string }): Promise<Item>;
    rerunWorkflow(a: { workflowId: string; fromFailed?: boolean }): Promise<{ workflow_id: string }>;
  };
  jobs: {
    getWorkflowJobs(a: { workflowId: string }): Promise<Item[]>;
    getJobByNumber(a: { projectSlug: string; jobNumber: number }): Promise<Item>;
    getJobArtifacts(a: { projectSlug: string; jobNumber: number }): Promise<Item[]>;
  };
  jobsV1: { getJobDetails(a: { projectSlug: string; jobNumber: number }): Promise<Item> };
  tests: { getJobTests(a: { projectSlug: string; jobNumber: number }): Promise<Item[]> };
  insights: { getProjectFlakyTests(a: { projectSlug: string }): Promise<Item> };
}

let runtime: LocalRuntime;
let cci: CircleCI;
let v2: V2Clients;
const shared = tempDir("published-shared");
const passMarker = join(shared, "test-passes");
const savedEnv = { base: process.env.CIRCLECI_BASE_URL, token: process.env.CIRCLECI_TOKEN };

const OWNER = "acme";
const REPO = "published";
const SLOW = "published-slow";
const SLUG = `gh/${OWNER}/${REPO}`;
/** The slow project, as each call of the v1.1 client may override its defaults. */
const slow = { vcs: { type: GitType.GITHUB, owner: OWNER, repo: SLOW } };

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Make outputs
          command: |
            mkdir -p out deps test-results/unit
            echo "built" | tee out/greeting.txt
            echo "a dependency" > deps/lib.txt
            cat > test-results/unit/junit.xml <<'XML'
            <testsuite name="unit" tests="2">
              <testcase classname="math" name="adds" time="0.5" file="math.test.js"/>
              <testcase classname="math" name="divides" time="0.25"><failure message="expected 2">got 3</failure></testcase>
            </testsuite>
            XML
      - save_cache:
          key: deps-v1
          paths: [deps]
      - store_artifacts:
          path: out
      - store_test_results:
          path: test-results
  test:
    machine: true
    steps:
      - run:
          name: Test
          command: test -e "${passMarker}"
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
`;

const SLOW_CONFIG = `version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run:
          name: Sleep
          command: sleep 120
workflows:
  main:
    jobs: [slow]
`;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("published-client"),
    port: 0,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  const admin = api(runtime.url, runtime.adminToken);
  for (const [name, config] of [
    [REPO, CONFIG],
    [SLOW, SLOW_CONFIG],
  ] as const) {
    const repo = gitRepo({ ".circleci/config.yml": config });
    const added = await admin.post("/api/gyre/projects", {
      repo_url: repo.path,
      slug: `gh/${OWNER}/${name}`,
    });
    expect(added.status).toBe(201);
  }
  cci = new CircleCI({
    token: runtime.adminToken,
    vcs: { type: GitType.GITHUB, owner: OWNER, repo: REPO },
    circleHost: `${runtime.url}/api/v1.1`,
  });
  // The MCP server's clients read both when they are made, its tools' flows at each call.
  process.env.CIRCLECI_BASE_URL = runtime.url;
  process.env.CIRCLECI_TOKEN = runtime.adminToken;
  v2 = new CircleCIClients({ token: runtime.adminToken }) as V2Clients;
});

afterAll(async () => {
  for (const [name, value] of [
    ["CIRCLECI_BASE_URL", savedEnv.base],
    ["CIRCLECI_TOKEN", savedEnv.token],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await runtime?.stop();
});

type Build = Awaited<ReturnType<CircleCI["build"]>>;

/** A build, through the v1.1 client, once `ready` holds for it. */
const buildWhen = (num: number, what: string, ready: (b: Build) => boolean, opts?: typeof slow) =>
  waitFor(
    what,
    async () => {
      const b = await cci.build(num, opts);
      return ready(b) ? b : undefined;
    },
    60_000,
  );

const finished = (b: Build) => b.lifecycle === "finished";
const numbers = (builds: BuildSummary[]) => builds.map((b) => b.build_num);

// The first pipeline's two builds: `build` succeeds, `test` fails until its marker exists.
let build: Build;
let test: Build;

describe("circleci-api 4.1.4 (API v1.1)", () => {
  it("me, followProject, projects", async () => {
    const me = await cci.me();
    expect(me).toMatchObject({ login: expect.any(String), projects: {} });
    expect(await cci.projects()).toEqual([]);
    expect(await cci.followProject({ vcs: { type: GitType.GITHUB, owner: OWNER, repo: REPO } })).toEqual({
      followed: true,
      first_build: null,
    });
    const projects = await cci.projects();
    expect(projects).toEqual([
      expect.objectContaining({
        username: OWNER,
        reponame: REPO,
        vcs_type: "github",
        default_branch: "main",
      }),
    ]);
    expect(Object.keys((await cci.me()).projects ?? {})).toEqual([projects[0]!.vcs_url]);
  });

  it("environment variables: add, list (masked), get, delete", async () => {
    expect(await cci.listEnvVars()).toEqual([]);
    expect(await cci.addEnvVar({ name: "DEPLOY_TOKEN", value: "s3cr3t-value" })).toEqual({
      name: "DEPLOY_TOKEN",
      value: "xxxxalue",
    });
    expect(await cci.listEnvVars()).toEqual([{ name: "DEPLOY_TOKEN", value: "xxxxalue" }]);
    expect(await cci.getEnvVar("DEPLOY_TOKEN")).toEqual({ name: "DEPLOY_TOKEN", value: "xxxxalue" });
    expect(await cci.deleteEnvVar("DEPLOY_TOKEN")).toEqual({ message: "ok" });
    expect(await cci.listEnvVars()).toEqual([]);
  });

  it("checkout keys: add, list, get, delete", async () => {
    const key = await cci.addCheckoutKey("deploy-key");
    expect(key).toMatchObject({
      type: "deploy-key",
      fingerprint: expect.stringMatching(/^SHA256:|^([0-9a-f]{2}:){15}[0-9a-f]{2}$/),
      public_key: expect.stringMatching(/^ssh-/),
      preferred: true,
    });
    // The package types the list as one key; the API answers an array.
    const listed = (await cci.listCheckoutKeys()) as unknown as (typeof key)[];
    expect(listed.map((k) => k.fingerprint)).toContain(key.fingerprint);
    expect(await cci.getCheckoutKey(key.fingerprint)).toEqual(key);
    expect(await cci.deleteCheckoutKey(key.fingerprint)).toEqual({ message: "ok" });
    const after = (await cci.listCheckoutKeys()) as unknown as (typeof key)[];
    expect(after.map((k) => k.fingerprint)).not.toContain(key.fingerprint);
  });

  it("addSSHKey adds a key for a host; addHerokuKey (1.0's Heroku deploys) is not served", async () => {
    const dir = tempDir("published-key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", join(dir, "key")]);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", join(dir, "key.pub")])
      .toString()
      .split(" ")[1]!
      .replace(/^MD5:/, "");
    const added = await cci.addSSHKey({
      hostname: "deploy.example.com",
      private_key: readFileSync(join(dir, "key"), "utf8"),
    });
    expect(added).toMatchObject({ hostname: "deploy.example.com", fingerprint });
    await expect(cci.addHerokuKey({ apikey: "heroku-key" })).rejects.toMatchObject({
      response: { status: 404 },
    });
  });

  it("triggerBuildFor a branch answers the first build; build() shows its steps once it ran", async () => {
    const first = await cci.triggerBuildFor("main");
    expect(first).toMatchObject({ branch: "main", username: OWNER, reponame: REPO, why: "api" });
    expect(first.workflows?.job_name).toBe("build");
    build = await buildWhen(first.build_num!, "the build job to finish", finished);
    expect(build).toMatchObject({ status: "success", outcome: "success", lifecycle: "finished" });
    const steps = build.steps ?? [];
    expect(steps.map((s) => s.name)).toContain("Make outputs");
    const make = steps.find((s) => s.name === "Make outputs")!;
    expect(make.actions[0]).toMatchObject({ status: "success", exit_code: 0, index: 0 });
    expect(make.actions[0]!.output_url).toMatch(/\/api\/v1\.1\/project\/gh\/acme\/published\/\d+\/output\//);

    // The test job (it requires build) fails: its marker is not there yet.
    const summaries = await waitFor("the test job to fail", async () => {
      const all = await cci.builds();
      return all.length === 2 && all.every((b) => b.lifecycle === "finished") ? all : undefined;
    });
    const testNum = summaries.find((b) => b.build_num !== build.build_num)!.build_num!;
    test = await cci.build(testNum);
    expect(test).toMatchObject({ status: "failed", outcome: "failed", failed: true });
  });

  it("build summaries: recent builds, by branch, filtered, limited", async () => {
    expect(numbers(await cci.builds())).toEqual([test.build_num, build.build_num]);
    expect(numbers(await cci.builds({ filter: "failed" }))).toEqual([test.build_num]);
    expect(numbers(await cci.builds({ filter: "successful" }))).toEqual([build.build_num]);
    expect(numbers(await cci.builds({ limit: 1 }))).toEqual([test.build_num]);
    expect(numbers(await cci.builds({ limit: 1, offset: 1 }))).toEqual([build.build_num]);
    expect(numbers(await cci.buildsFor("main", { filter: "completed" }))).toEqual([
      test.build_num,
      build.build_num,
    ]);
    expect(await cci.buildsFor("elsewhere")).toEqual([]);
    expect(numbers(await cci.recentBuilds({ limit: 5 }))).toEqual([test.build_num, build.build_num]);
  });

  it("artifacts, latest artifacts and test metadata", async () => {
    const artifacts = await cci.artifacts(build.build_num!);
    expect(artifacts).toEqual([
      expect.objectContaining({
        path: "out/greeting.txt",
        node_index: 0,
        url: expect.stringContaining("http"),
      }),
    ]);
    expect(await cci.latestArtifacts({ branch: "main", filter: "successful" })).toEqual(artifacts);
    // The newest build of all (the test job) stored none.
    expect(await cci.latestArtifacts()).toEqual([]);
    await expect(cci.latestArtifacts({ branch: "elsewhere" })).rejects.toMatchObject({
      response: { status: 404, data: { message: "No build of gh/acme/published (on elsewhere)." } },
    });
    expect(await cci.artifacts(test.build_num!)).toEqual([]);
    const metadata = await cci.getTestMetadata(build.build_num!);
    expect(metadata.tests).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ classname: "math", name: "adds", result: "success", file: "math.test.js" }),
        expect.objectContaining({ classname: "math", name: "divides", result: "failure" }),
      ]),
    );
  });

  it("retry reruns the failed build; it succeeds once its marker exists", async () => {
    writeFileSync(passMarker, "");
    const summary = await cci.retry(test.build_num!);
    expect(summary).toMatchObject({ job_name: "test", why: "retry" });
    expect(summary.build_num).not.toBe(test.build_num);
    const retried = summary.build_num!;
    const done = await buildWhen(retried, "the retried build to finish", finished);
    expect(done).toMatchObject({ status: "fixed", outcome: "success", retry_of: test.build_num });
  });

  it("cancel stops a running build", async () => {
    const first = await cci.triggerBuildFor("main", slow);
    await buildWhen(first.build_num!, "the slow build to run", (b) => b.status === "running", slow);
    const canceled = await cci.cancel(first.build_num!, slow);
    expect(canceled).toMatchObject({ build_num: first.build_num, reponame: SLOW });
    const done = await buildWhen(first.build_num!, "the canceled build to stop", finished, slow);
    expect(done).toMatchObject({ status: "canceled", outcome: "canceled", canceled: true });
  });

  it("clearCache deletes the project's saved caches, as CircleCI answers it", async () => {
    expect((await listCaches(runtime.gyre, SLUG, "")).map((c) => c.key)).toEqual(["deps-v1"]);
    expect(await cci.clearCache()).toEqual({ status: "build caches deleted" });
    expect(await listCaches(runtime.gyre, SLUG, "")).toEqual([]);
    // Nothing left: clearing again answers the same.
    expect(await cci.clearCache()).toEqual({ status: "build caches deleted" });
  });

  it("errors come back as the client's rejections with CircleCI's status", async () => {
    await expect(cci.build(9999)).rejects.toMatchObject({ response: { status: 404 } });
    const stranger = new CircleCI({
      token: "not-a-token",
      vcs: { type: GitType.GITHUB, owner: OWNER, repo: REPO },
      circleHost: `${runtime.url}/api/v1.1`,
    });
    await expect(stranger.me()).rejects.toMatchObject({ response: { status: 401 } });
  });
});

describe("@circleci/mcp-server-circleci 0.20.0 (API v2)", () => {
  it("project, pipelines, workflows and jobs, each answer passing the package's schemas", async () => {
    // The package keeps only the fields its schema names.
    expect(await v2.projects.getProject({ projectSlug: SLUG })).toEqual({
      id: expect.any(String),
      organization_id: expect.any(String),
    });

    const pipelines = await v2.pipelines.getPipelines({ projectSlug: SLUG, branch: "main" });
    expect(pipelines).toHaveLength(1);
    const pipeline = pipelines[0]!;
    expect(
      await v2.pipelines.getPipelineByNumber({
        projectSlug: SLUG,
        pipelineNumber: pipeline.number as number,
      }),
    ).toMatchObject({
      id: pipeline.id,
    });

    const workflows = await v2.workflows.getPipelineWorkflows({ pipelineId: pipeline.id as string });
    // The original and the rerun the v1.1 retry made.
    expect(workflows.map((w) => w.status).sort()).toEqual(["failed", "success"]);
    const original = workflows.find((w) => w.status === "failed")!;
    expect(await v2.workflows.getWorkflow({ workflowId: original.id as string })).toMatchObject({
      id: original.id,
      name: "main",
      pipeline_number: pipeline.number,
      project_slug: SLUG,
    });

    const jobs = await v2.jobs.getWorkflowJobs({ workflowId: original.id as string });
    // Kept: `id` and `job_number`.
    expect(jobs).toEqual([
      { id: build.workflows?.job_id, job_number: build.build_num },
      { id: test.workflows?.job_id, job_number: test.build_num },
    ]);
    // The package's own defect, not Gyre's: it reads job details (`/project/{slug}/job/{n}`)
    // with its workflow-job schema, which wants an `id` the spec's JobDetails does not have.
    // None of its tools calls it.
    await expect(v2.jobs.getJobByNumber({ projectSlug: SLUG, jobNumber: build.build_num! })).rejects.toThrow(
      /"path": \[\s*"id"\s*\]/,
    );
    expect(await v2.jobs.getJobArtifacts({ projectSlug: SLUG, jobNumber: build.build_num! })).toEqual([
      expect.objectContaining({ path: "out/greeting.txt", node_index: 0 }),
    ]);
    expect(await v2.jobsV1.getJobDetails({ projectSlug: SLUG, jobNumber: build.build_num! })).toMatchObject({
      build_num: build.build_num,
      workflows: { job_name: "build" },
    });
  });

  it("a job's tests, and the project's flaky tests in the shape CircleCI answers", async () => {
    const tests = await v2.tests.getJobTests({ projectSlug: SLUG, jobNumber: build.build_num! });
    expect(tests.map((t) => [t.name, t.result]).sort()).toEqual([
      ["adds", "success"],
      ["divides", "failure"],
    ]);
    // The spec's kebab-case keys and the snake_case CircleCI really answers, which the package
    // reads (CircleCI-Public/mcp-server-circleci#23: "the api docs seem to be incorrect here").
    const flaky = await v2.insights.getProjectFlakyTests({ projectSlug: SLUG });
    expect(flaky).toMatchObject({ total_flaky_tests: 0, flaky_tests: [] });
  });

  it("rerun a workflow from failed", async () => {
    const workflows = await v2.workflows.getPipelineWorkflows({
      pipelineId: (await v2.pipelines.getPipelines({ projectSlug: SLUG }))[0]!.id as string,
    });
    const failed = workflows.find((w) => w.status === "failed")!;
    const { workflow_id } = await v2.workflows.rerunWorkflow({
      workflowId: failed.id as string,
      fromFailed: true,
    });
    expect(workflow_id).not.toBe(failed.id);
    const rerun = await waitFor(
      "the rerun to finish",
      async () => {
        const w = await v2.workflows.getWorkflow({ workflowId: workflow_id });
        return w.status === "success" || w.status === "failed" ? w : undefined;
      },
      60_000,
    );
    expect(rerun).toMatchObject({ status: "success", pipeline_id: failed.pipeline_id });
  });

  it("its tools' flows: the latest pipeline's workflows, a job's test results", async () => {
    const latest = (await getLatestPipelineWorkflows({ projectSlug: SLUG, branch: "main" })) as Item[];
    expect(latest.map((w) => w.status).sort()).toEqual(["failed", "success", "success"]);
    // Every job of every workflow of the latest pipeline: the build (carried over into the
    // reruns) has the one failure.
    const failures = (await getJobTests({ projectSlug: SLUG, filterByTestsResult: "failure" })) as Item[];
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((t) => t.name === "divides" && t.result === "failure")).toBe(true);
    const one = (await getJobTests({ projectSlug: SLUG, jobNumber: build.build_num })) as Item[];
    expect(one.map((t) => [t.name, t.message])).toEqual([
      ["adds", ""],
      ["divides", expect.stringContaining("expected 2")],
    ]);
  });
});
