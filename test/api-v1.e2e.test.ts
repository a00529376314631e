/**
 * CircleCI API v1.1 on the local stack, with a real builder agent: following projects, recent
 * builds, triggering on a branch, a build's details with v1.1's status values and its presigned
 * output URLs, retry and cancel, artifacts and tests, environment variables and checkout keys.
 * Three pipelines run; nothing is mocked.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { linkSigner } from "@gyre/core/secret/signed-link";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let login: string;
const shared = tempDir("v1-shared");
const passMarker = join(shared, "test-passes");

const SLUG = "gh/acme/v1";
const SLOW = "gh/acme/v1-slow";
const V1 = `/api/v1.1/project/${SLUG}`;

const CONFIG = `version: 2.1
parameters:
  greeting:
    type: string
    default: hello
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Make outputs
          command: |
            mkdir -p out test-results/unit
            echo "<< pipeline.parameters.greeting >> from build" | tee out/greeting.txt
            cat > test-results/unit/junit.xml <<'XML'
            <testsuite name="unit" tests="2">
              <testcase classname="math" name="adds" time="0.5" file="math.test.js"/>
              <testcase classname="math" name="divides" time="0.25"><failure message="expected 2">got 3</failure></testcase>
            </testsuite>
            XML
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
          command: touch "${shared}/slow-started"; sleep 120
workflows:
  main:
    jobs: [slow]
`;

let repo: ReturnType<typeof gitRepo>;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("api-v1"),
    port: 0,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  client = api(runtime.url, runtime.adminToken);
  login = (await client.get("/api/v2/me")).body.login as string;
  repo = gitRepo({ ".circleci/config.yml": CONFIG });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug: SLUG })).status).toBe(201);
  const slow = gitRepo({ ".circleci/config.yml": SLOW_CONFIG });
  expect((await client.post("/api/gyre/projects", { repo_url: slow.path, slug: SLOW })).status).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

type Build = Record<string, unknown> & {
  build_num: number;
  status: string;
  workflows: Record<string, unknown>;
};

const del = async (path: string) => {
  const res = await fetch(`${runtime.url}${path}`, {
    method: "DELETE",
    headers: { "circle-token": runtime.adminToken },
  });
  return { status: res.status, body: await res.json() };
};

const pipelineCount = async (slug: string) =>
  (await client.get(`/api/v2/project/${slug}/pipeline`)).body.items!.length;

/** The build once `ready` holds for it. */
const buildWhen = (slug: string, number: number, what: string, ready: (b: Build) => boolean) =>
  waitFor(
    what,
    async () => {
      const b = (await client.get(`/api/v1.1/project/${slug}/${number}`)).body as Build;
      return ready(b) ? b : undefined;
    },
    60_000,
  );

const finished = (b: Build) => b.lifecycle === "finished";

// Set by the tests in order: the first pipeline's two builds and the retry of its failed one
// (numbers as the project's counter gives them: an API trigger reserves a block first).
let build: Build;
let test: Build;
let B: number;
let T: number;
let R: number;
let S: number;

describe("API v1.1", () => {
  it("follow: me and projects list the projects the caller follows; unfollow removes them", async () => {
    expect(await client.get("/api/v1.1/projects")).toEqual({ status: 200, body: [] });
    expect(await client.post(`${V1}/follow`)).toEqual({
      status: 200,
      body: { followed: true, first_build: null },
    });
    // Following again changes nothing.
    expect((await client.post(`${V1}/follow`)).body).toEqual({ followed: true, first_build: null });
    const me = (await client.get("/api/v1.1/me")).body;
    expect(me).toMatchObject({
      login,
      admin: true,
      basic_email_prefs: "smart",
      projects: { [repo.path]: { on_dashboard: true, emails: "default" } },
    });
    expect(await client.get("/api/v1.1/projects")).toEqual({
      status: 200,
      body: [
        {
          vcs_url: repo.path,
          vcs_type: "github",
          username: "acme",
          reponame: "v1",
          default_branch: "main",
          followed: true,
          branches: {},
        },
      ],
    });
    expect(await client.post(`/api/v1.1/project/${SLOW}/follow`)).toEqual({
      status: 200,
      body: { followed: true, first_build: null },
    });
    expect(await client.post(`/api/v1.1/project/${SLOW}/unfollow`)).toEqual({
      status: 200,
      body: { followed: false },
    });
    expect(((await client.get("/api/v1.1/projects")).body as unknown as unknown[]).length).toBe(1);
    expect(await client.post("/api/v1.1/project/gh/acme/nope/follow")).toEqual({
      status: 404,
      body: { message: "Project gh/acme/nope not found." },
    });
    // A project token is no one: it may read the project's builds, not follow it.
    const made = await client.post(`${V1}/token`, { label: "reader", scope: "view-builds" });
    expect(made.status).toBe(201);
    const asToken = await fetch(`${runtime.url}${V1}/follow`, {
      method: "POST",
      headers: { "circle-token": made.body.token as string },
    });
    expect([asToken.status, await asToken.json()]).toEqual([
      403,
      { message: "Only a person's token or session may follow a project." },
    ]);
  });

  it("trigger on a branch: refuses what it cannot do with a precise 400 and no pipeline, answers the first build", async () => {
    const refusals: [unknown, string | undefined, string][] = [
      ["{", undefined, "Malformed JSON body."],
      ["[1]", undefined, "The body must be a JSON object."],
      [
        { revision: "0".repeat(40) },
        undefined,
        "revision is not supported by this Gyre installation yet: a trigger builds the head of its branch (or its tag). Leave revision out.",
      ],
      [
        { build_parameters: { CIRCLE_JOB: "build" } },
        undefined,
        "build_parameters.CIRCLE_JOB (run one job of a 2.0 config) is not supported: a trigger runs the config's workflows. Declare pipeline parameters and pass them in build_parameters instead.",
      ],
      [{ tag: "v1" }, undefined, "Invalid trigger: give a branch or a tag, not both."],
      [{ parallel: "many" }, undefined, "Invalid trigger: parallel: expected a positive integer"],
      ["build_parameters%5Bgreeting%5D=hi&parallel=x", "application/x-www-form-urlencoded", "parallel"],
    ];
    for (const [body, type, message] of refusals) {
      const res = await client.post(`${V1}/tree/main`, body, type ? { "content-type": type } : {});
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.message).toContain(message);
    }
    expect((await client.post("/api/v1.1/project/gh/acme/nope/tree/main", {})).status).toBe(404);
    for (const body of [{ branch: "main", tag: "v1" }, { revision: "0".repeat(40) }, { branch: "a..b" }])
      expect((await client.post(`${V1}/build`, body)).status).toBe(400);
    expect(await pipelineCount(SLUG)).toBe(0);

    // A form body, as `curl -d` sends it: build_parameters become pipeline parameters.
    const res = await client.post(`${V1}/tree/main`, "build_parameters%5Bgreeting%5D=hi&parallel=2", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(res.status).toBe(201);
    const first = res.body as Build;
    expect(first).toMatchObject({
      build_num: expect.any(Number),
      branch: "main",
      vcs_revision: repo.head,
      subject: "Commit .circleci/config.yml",
      why: "api",
      job_name: "build",
      user: { is_user: true, login, name: null, avatar_url: null, vcs_type: "github" },
      workflows: { job_name: "build", workflow_name: "main", upstream_job_ids: [] },
    });
    expect(["queued", "running"]).toContain(first.lifecycle);
    expect(first.outcome).toBeNull();

    B = first.build_num;
    build = await buildWhen(SLUG, B, "the build job to finish", finished);
    const workflowId = build.workflows.workflow_id as string;
    const listed = (await client.get(V1)).body as unknown as Build[];
    T = listed.find((b) => b.job_name === "test")!.build_num;
    expect(T).toBeGreaterThan(B);
    test = await buildWhen(SLUG, T, "the test job to fail", finished);
    expect(test).toEqual({
      vcs_url: repo.path,
      build_url: `${runtime.url}/pipelines/${SLUG}/1/workflows/${workflowId}/jobs/${T}`,
      build_num: T,
      branch: "main",
      vcs_revision: repo.head,
      vcs_tag: null,
      vcs_type: "github",
      username: "acme",
      reponame: "v1",
      committer_name: null,
      committer_email: null,
      committer_date: null,
      author_name: null,
      author_email: null,
      author_date: null,
      subject: "Commit .circleci/config.yml",
      body: "",
      all_commit_details: [
        {
          commit: repo.head,
          branch: "main",
          committer_name: null,
          committer_email: null,
          committer_date: null,
          author_name: null,
          author_email: null,
          author_date: null,
          subject: "Commit .circleci/config.yml",
          body: "",
        },
      ],
      why: "api",
      dont_build: null,
      queued_at: expect.any(String),
      usage_queued_at: expect.any(String),
      start_time: expect.any(String),
      stop_time: expect.any(String),
      build_time_millis: expect.any(Number),
      status: "failed",
      lifecycle: "finished",
      outcome: "failed",
      canceled: false,
      failed: true,
      infrastructure_fail: false,
      timedout: false,
      parallel: 1,
      platform: "2.0",
      user: { is_user: true, login, name: null, avatar_url: null, vcs_type: "github" },
      job_name: "test",
      build_parameters: { CIRCLE_JOB: "test" },
      messages: [],
      workflows: {
        job_name: "test",
        job_id: expect.any(String),
        workflow_id: workflowId,
        workflow_name: "main",
        workspace_id: workflowId,
        upstream_job_ids: [build.workflows.job_id],
        upstream_concurrency_map: {},
        pipeline_id: build.workflows.pipeline_id,
      },
      retry_of: null,
      previous: null,
      steps: expect.any(Array),
    });
    expect(build).toMatchObject({ status: "success", outcome: "success", failed: null, previous: null });

    // A parameter the config does not declare: the pipeline is created, with its errors.
    const errored = await client.post(`${V1}/tree/main`, { build_parameters: { colour: "red" } });
    expect(errored.status).toBe(201);
    expect(errored.body).toMatchObject({
      build_num: null,
      build_url: `${runtime.url}/pipelines/${SLUG}/2`,
      status: "failed",
      lifecycle: "finished",
      outcome: "failed",
      failed: true,
      why: "api",
      workflows: null,
    });
    expect((errored.body.messages as { type: string; message: string }[])[0]).toMatchObject({
      type: "error",
      message: expect.stringContaining("colour"),
    });
    // By project, as CircleCI's `POST .../build`: answered at once; a branch the repository does
    // not have gives an errored pipeline and no build.
    expect(await client.post(`${V1}/build`, { branch: "no-such-branch" })).toEqual({
      status: 200,
      body: { status: 200, body: "Build created" },
    });
    expect(await pipelineCount(SLUG)).toBe(3);
  });

  it("a build's steps carry output URLs that work without a token for that one output; altered or expired ones answer 403", async () => {
    const steps = (build as unknown as { steps: { name: string; actions: Record<string, unknown>[] }[] })
      .steps;
    const make = steps.find((s) => s.name === "Make outputs")!;
    expect(make.actions).toEqual([
      {
        index: 0,
        step: expect.any(Number),
        name: "Make outputs",
        type: expect.any(String),
        status: "success",
        background: false,
        parallel: false,
        start_time: expect.any(String),
        end_time: expect.any(String),
        run_time_millis: expect.any(Number),
        exit_code: 0,
        failed: null,
        canceled: null,
        timedout: null,
        messages: [],
        has_output: true,
        output_url: expect.stringMatching(/\?expires=\d+&signature=[A-Za-z0-9_-]+$/),
      },
    ]);
    const url = new URL(make.actions[0]!.output_url as string);
    const step = make.actions[0]!.step as number;
    const open = async (href: string) => {
      const res = await fetch(href);
      return { status: res.status, body: await res.json() };
    };
    expect(await open(url.href)).toEqual({
      status: 200,
      body: [{ type: "out", time: build.stop_time, message: "hi from build\n", truncated: false }],
    });
    const altered = {
      status: 403,
      body: {
        message:
          "This link's signature does not match what it opens: it was altered. Read the build again for a fresh link.",
      },
    };
    // Another step, another node, another build, another project, a changed signature or expiry.
    const elsewhere = [
      url.href.replace(`/output/${step}/0?`, `/output/${step + 1}/0?`),
      url.href.replace(`/output/${step}/0?`, `/output/${step}/1?`),
      url.href.replace(`${SLUG}/${B}/`, `${SLUG}/${T}/`),
      url.href.replace(SLUG, SLOW),
      url.href.replace(/signature=./, (m) => (m.endsWith("A") ? "signature=B" : "signature=A")),
      url.href.replace(/expires=\d+/, (m) => `expires=${Number(m.slice(8)) + 60}`),
      url.href.replace(/&signature=.*$/, ""),
    ];
    for (const href of elsewhere) expect({ href, ...(await open(href)) }).toEqual({ href, ...altered });
    // A step or a parallel run the build does not have is not there (with a token).
    expect(await client.get(`/api/v1.1/project/${SLUG}/${B}/output/99/0`)).toEqual({
      status: 404,
      body: { message: `Build ${B} has no step 99.` },
    });
    expect((await client.get(`/api/v1.1/project/${SLUG}/${B}/output/${step}/5`)).status).toBe(404);
    // Without its signature the URL wants a token, as any other route does.
    expect((await open(`${url.origin}${url.pathname}`)).status).toBe(401);
    expect((await client.get(url.pathname)).status).toBe(200);

    // A link signed 16 minutes ago has expired.
    const past = Date.now() - 16 * 60_000;
    const sign = await linkSigner({ ...runtime.gyre, now: () => past }, "output-url");
    const old = sign(`output:${SLUG}/${B}/${step}/0`);
    const expired = await open(
      `${url.origin}${url.pathname}?expires=${old.expires}&signature=${old.signature}`,
    );
    expect(expired).toEqual({
      status: 403,
      body: {
        message: `This link expired at ${new Date(old.expires * 1000).toISOString()} (links last 15 minutes). Read the build again for a fresh link.`,
      },
    });
  });

  it("artifacts and tests of a build, in v1.1's shapes", async () => {
    const artifacts = await client.get(`${V1}/${B}/artifacts`);
    expect(artifacts.status).toBe(200);
    const items = artifacts.body as unknown as Record<string, unknown>[];
    expect(items).toEqual([
      {
        path: "out/greeting.txt",
        pretty_path: "out/greeting.txt",
        node_index: 0,
        url: expect.stringMatching(
          new RegExp(`^${runtime.url}/artifacts/${SLUG}/${B}/1/0/out/greeting\\.txt$`),
        ),
      },
    ]);
    const download = await fetch(`${items[0]!.url}?circle-token=${runtime.adminToken}`);
    expect(await download.text()).toBe("hi from build\n");

    expect(await client.get(`${V1}/${B}/tests`)).toEqual({
      status: 200,
      body: {
        tests: [
          {
            classname: "math",
            file: "math.test.js",
            name: "adds",
            result: "success",
            run_time: 0.5,
            message: null,
            source: "unit",
          },
          {
            classname: "math",
            file: "",
            name: "divides",
            result: "failure",
            run_time: 0.25,
            message: expect.stringContaining("expected 2"),
            source: "unit",
          },
        ],
      },
    });
    expect(await client.get(`${V1}/${T}/tests`)).toEqual({ status: 200, body: { tests: [] } });
    expect((await client.get(`${V1}/99/artifacts`)).body).toEqual({
      message: `Job 99 not found in project ${SLUG}.`,
    });
  });

  it("retry reruns that build's job as a new build (`fixed` after the failure); cancel stops a running one", async () => {
    writeFileSync(passMarker, "");
    const retried = await client.post(`${V1}/${T}/retry`);
    expect(retried.status).toBe(200);
    const again = retried.body as Build;
    R = again.build_num;
    expect(R).toBeGreaterThan(T);
    expect(again).toMatchObject({
      job_name: "test",
      why: "retry",
      retry_of: T,
      previous: { build_num: T, status: "failed" },
      workflows: { workflow_name: "main", workspace_id: test.workflows.workflow_id },
    });
    expect(again.workflows.workflow_id).not.toBe(test.workflows.workflow_id);
    // The carried-over build is still build 1; what ran again requires it.
    expect(again.workflows.upstream_job_ids).toEqual([build.workflows.job_id]);
    const fixed = await buildWhen(SLUG, R, "the retried test to pass", finished);
    expect(fixed).toMatchObject({ status: "fixed", outcome: "success", lifecycle: "finished", retry_of: T });
    // The first build is as it was; a build whose workflow still runs cannot be retried.
    expect((await client.get(`${V1}/${T}`)).body).toMatchObject({ status: "failed", build_num: T });

    const slow = await client.post(`/api/v1.1/project/${SLOW}/tree/main`, {});
    expect(slow.status).toBe(201);
    S = (slow.body as Build).build_num;
    const number = S;
    await waitFor("the slow step to start", async () =>
      existsSync(join(shared, "slow-started")) ? true : undefined,
    );
    expect(await client.post(`/api/v1.1/project/${SLOW}/${number}/retry`)).toEqual({
      status: 409,
      body: { message: "Workflow main is still running: cancel it, or let it end, before rerunning it." },
    });
    const canceled = await client.post(`/api/v1.1/project/${SLOW}/${number}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({
      build_num: number,
      status: "canceled",
      lifecycle: "finished",
      outcome: "canceled",
      canceled: true,
      failed: null,
    });
    expect(await client.post(`/api/v1.1/project/${SLOW}/${number}/cancel`)).toEqual({
      status: 409,
      body: { message: `Job ${number} has already ended (it is canceled): there is nothing to cancel.` },
    });
    expect(await client.post(`${V1}/99/cancel`)).toEqual({
      status: 404,
      body: { message: `Job 99 not found in project ${SLUG}.` },
    });
    // An SSH retry is a rerun with SSH: refused while the caller has no SSH key to let in.
    const ssh = await client.post(`${V1}/${R}/ssh`);
    expect(ssh.status).toBe(400);
    expect(ssh.body.message).toMatch(/SSH/);
  });

  it("recent builds: newest first, limit and offset, filter, one branch, shallow; across followed projects", async () => {
    const numbers = async (path: string) =>
      ((await client.get(path)).body as unknown as Build[]).map((b) => [b.build_num, b.status]);
    expect(await numbers(V1)).toEqual([
      [R, "fixed"],
      [T, "failed"],
      [B, "success"],
    ]);
    expect(await numbers(`${V1}?limit=1&offset=1`)).toEqual([[T, "failed"]]);
    expect(await numbers(`${V1}?filter=failed`)).toEqual([[T, "failed"]]);
    expect(await numbers(`${V1}?filter=successful`)).toEqual([
      [R, "fixed"],
      [B, "success"],
    ]);
    expect(await numbers(`${V1}?filter=completed&offset=2`)).toEqual([[B, "success"]]);
    expect(await numbers(`${V1}?filter=running`)).toEqual([]);
    expect(await numbers(`${V1}/tree/main?limit=2`)).toEqual([
      [R, "fixed"],
      [T, "failed"],
    ]);
    expect(await numbers(`${V1}/tree/other`)).toEqual([]);
    const [latest] = (await client.get(V1)).body as unknown as Build[];
    expect(latest).toMatchObject({ retry_of: T, previous: { build_num: T, status: "failed" } });
    const [shallow] = (await client.get(`${V1}?shallow=true&limit=1`)).body as unknown as Build[];
    expect(shallow).toMatchObject({
      build_num: R,
      status: "fixed",
      subject: "Commit .circleci/config.yml",
    });
    for (const field of ["previous", "retry_of", "all_commit_details"])
      expect(Object.keys(shallow!)).not.toContain(field);
    expect(shallow!.workflows).not.toHaveProperty("upstream_job_ids");

    for (const [query, message] of [
      ["limit=101", "Invalid query: limit: at most 100 (CircleCI's limit)"],
      ["limit=0", "Invalid query: limit: at least 1"],
      ["offset=-1", "Invalid query: offset: a whole number"],
      ["offset=10001", "Invalid query: offset: at most 10000"],
      ["filter=pending", "Invalid query: filter: expected completed, successful, failed or running"],
      ["shallow=yes", "Invalid query: shallow: expected true or false"],
    ]) {
      expect(await client.get(`${V1}?${query}`)).toEqual({ status: 400, body: { message } });
    }

    // Only followed projects: the slow one is not, until it is followed.
    expect(await numbers("/api/v1.1/recent-builds")).toEqual([
      [R, "fixed"],
      [T, "failed"],
      [B, "success"],
    ]);
    await client.post(`/api/v1.1/project/${SLOW}/follow`);
    const recent = (await client.get("/api/v1.1/recent-builds?limit=2")).body as unknown as Build[];
    expect(recent.map((b) => [b.reponame, b.build_num, b.status])).toEqual([
      ["v1-slow", S, "canceled"],
      ["v1", R, "fixed"],
    ]);
    expect(
      ((await client.get("/api/v1.1/recent-builds?offset=3")).body as unknown as Build[]).map((b) => [
        b.reponame,
        b.build_num,
      ]),
    ).toEqual([["v1", B]]);

    const projects = (await client.get("/api/v1.1/projects")).body as unknown as Record<string, unknown>[];
    const v1 = projects.find((p) => p.reponame === "v1")!;
    const summary = (n: number, status: string, outcome: string) => ({
      build_num: n,
      status,
      outcome,
      vcs_revision: repo.head,
      pushed_at: expect.any(String),
      added_at: expect.any(String),
    });
    expect(v1.branches).toEqual({
      main: {
        recent_builds: [
          summary(R, "fixed", "success"),
          summary(T, "failed", "failed"),
          summary(B, "success", "success"),
        ],
        running_builds: [],
        last_success: summary(R, "fixed", "success"),
        last_non_success: summary(T, "failed", "failed"),
      },
    });
  });

  it("environment variables: listed and answered masked, deleted by name; bad names refused", async () => {
    expect(await client.get(`${V1}/envvar`)).toEqual({ status: 200, body: [] });
    expect(await client.post(`${V1}/envvar`, { name: "NPM_TOKEN", value: "secret-1234" })).toEqual({
      status: 201,
      body: { name: "NPM_TOKEN", value: "xxxx1234" },
    });
    expect(await client.get(`${V1}/envvar`)).toEqual({
      status: 200,
      body: [{ name: "NPM_TOKEN", value: "xxxx1234" }],
    });
    expect(await client.get(`${V1}/envvar/NPM_TOKEN`)).toEqual({
      status: 200,
      body: { name: "NPM_TOKEN", value: "xxxx1234" },
    });
    expect((await client.post(`${V1}/envvar`, { name: "1BAD", value: "x" })).status).toBe(400);
    expect((await client.post(`${V1}/envvar`, { name: "OK" })).status).toBe(400);
    expect(await del(`${V1}/envvar/NPM_TOKEN`)).toEqual({ status: 200, body: { message: "ok" } });
    expect(await del(`${V1}/envvar/NPM_TOKEN`)).toEqual({
      status: 404,
      body: { message: `Environment variable NPM_TOKEN not found in project ${SLUG}.` },
    });
    expect(await client.get(`${V1}/envvar`)).toEqual({ status: 200, body: [] });
  });

  it("checkout keys: created as deploy or user keys, listed newest first, read and deleted by fingerprint", async () => {
    const deploy = await client.post(`${V1}/checkout-key`, { type: "deploy-key" });
    expect(deploy).toEqual({
      status: 201,
      body: {
        public_key: expect.stringMatching(/^ssh-ed25519 /),
        type: "deploy-key",
        fingerprint: expect.stringMatching(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/),
        preferred: true,
        time: expect.any(String),
        login: null,
      },
    });
    const user = await client.post(`${V1}/checkout-key`, { type: "github-user-key" });
    expect(user.body).toMatchObject({ type: "github-user-key", preferred: true });
    const list = (await client.get(`${V1}/checkout-key`)).body as unknown as Record<string, unknown>[];
    expect(list.map((k) => [k.fingerprint, k.type, k.preferred])).toEqual([
      [user.body.fingerprint, "github-user-key", true],
      [deploy.body.fingerprint, "deploy-key", false],
    ]);
    expect(await client.get(`${V1}/checkout-key/${deploy.body.fingerprint}`)).toEqual({
      status: 200,
      body: { ...deploy.body, preferred: false },
    });
    expect(await client.post(`${V1}/checkout-key`, { type: "rsa" })).toEqual({
      status: 400,
      body: { message: 'Invalid body: type: expected "deploy-key" or "github-user-key"' },
    });
    expect(await del(`${V1}/checkout-key/${deploy.body.fingerprint}`)).toEqual({
      status: 200,
      body: { message: "ok" },
    });
    expect((await client.get(`${V1}/checkout-key/${deploy.body.fingerprint}`)).status).toBe(404);
  });

  it("answers 404 with a message for paths v1.1 does not have", async () => {
    for (const path of ["/api/v1.1/nope", `${V1}/nope`, `${V1}/12/nope`, "/api/v1.1/project/gh/acme"]) {
      const res = await client.get(path);
      expect({ path, ...res }).toEqual({ path, status: 404, body: { message: `Not found: GET ${path}` } });
    }
    expect((await fetch(`${runtime.url}/api/v1.1/nope`)).status).toBe(404);
  });
});
