/**
 * Issue 4's acceptance test: a realitycheck for Gyre. CircleCI checks a Server install with
 * its own project, circleci/realitycheck; test/realitycheck/ is that project adapted to run
 * offline here (see the comment at the top of its config). This test makes a git repository
 * of it, adds it as `gh/circleci/realitycheck`, gives it the CIRCLE_TOKEN and CIRCLE_HOSTNAME
 * project variables realitycheck needs (a real token and this server's URL, so the resource
 * class jobs really ask the API), triggers it, and checks everything through the API:
 * statuses of every job and workflow, step output, artifacts, test results, the workspace,
 * caches across two pipelines, matrix names, branch filters, approvals and masking.
 * Needs podman and runc for the docker executor (test/support/podman.ts), and bubblewrap.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { startTestEngine, TEST_IMAGE, type TestEngine } from "./support/podman.ts";
import {
  api,
  type StepOutput,
  stepOutputs,
  tempDir,
  trigger as triggerPipeline,
  waitFor,
} from "./support.ts";

const SLUG = "gh/circleci/realitycheck";
const PROJECT_DIR = join(import.meta.dirname, "realitycheck");
/** Workflow statuses after which nothing moves without a user (approving is not built yet). */
const SETTLED = new Set(["success", "failed", "error", "canceled", "not_run", "on_hold"]);

let engine: TestEngine;
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let head: string;
let began: number;

interface Job {
  name: string;
  status: string;
  type: string;
  number?: number;
  workflow: string;
}

/** The first pipeline: its workflows' statuses and every job, by name. */
let workflows: Record<string, string>;
let jobs: Record<string, Job>;

/** A git repository with the contents of test/realitycheck committed on `main`. */
function realitycheckRepo(): { path: string; head: string } {
  const path = tempDir("realitycheck");
  cpSync(PROJECT_DIR, path, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@localhost", ...args], { cwd: path })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-q", "-m", "realitycheck");
  return { path, head: git("rev-parse", "HEAD") };
}

async function trigger(parameters?: Record<string, boolean>): Promise<string> {
  // Answered at once; checked once the intake has read and compiled the config.
  const { id, pipeline } = await triggerPipeline(client, SLUG, {
    branch: "main",
    ...(parameters ? { parameters } : {}),
  });
  expect(pipeline.errors).toEqual([]);
  return id;
}

/** Waits until each of the pipeline's `count` workflows has settled; returns them with their jobs. */
async function settled(pipelineId: string, count: number) {
  const found = await waitFor(
    "every workflow to settle",
    async () => {
      const items = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
      if (items.length < count || items.some((w) => !SETTLED.has(w.status as string))) return undefined;
      return items;
    },
    120_000,
  );
  const all: Record<string, Job> = {};
  for (const workflow of found) {
    for (const j of (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!) {
      all[j.name as string] = {
        name: j.name as string,
        status: j.status as string,
        type: j.type as string,
        number: j.job_number as number | undefined,
        workflow: workflow.name as string,
      };
    }
  }
  return {
    workflows: Object.fromEntries(found.map((w) => [w.name as string, w.status as string])),
    jobs: all,
  };
}

/** Each step of a job's allocation `index`, in order: name, status and whole output. */
async function steps(name: string, from: Record<string, Job> = jobs, index = 0): Promise<StepOutput[]> {
  const job = from[name];
  expect(job?.number, `job ${name}`).toBeTypeOf("number");
  return stepOutputs(client, SLUG, job!.number!, index);
}

/** A job's step outputs by step name. */
async function outputs(name: string, from: Record<string, Job> = jobs, index = 0) {
  return Object.fromEntries((await steps(name, from, index)).map((s) => [s.name, s.output]));
}

beforeAll(async () => {
  began = Date.now();
  engine = await startTestEngine();
  runtime = await startLocalRuntime({
    dataDir: tempDir("realitycheck-data"),
    port: 0,
    agents: 4,
    // setup_remote_docker is opt-in for builders; this one allows it.
    agentEnv: { GYRE_DOCKER_SOCKET: engine.socket, GYRE_REMOTE_DOCKER: "podman" },
  });
  client = api(runtime.url, runtime.adminToken);
  const repo = realitycheckRepo();
  head = repo.head;
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug: SLUG })).status).toBe(201);
  // What realitycheck asks for in the project's settings.
  for (const [name, value] of Object.entries({
    CIRCLE_TOKEN: runtime.adminToken,
    CIRCLE_HOSTNAME: runtime.url,
  })) {
    const set = await client.post(`/api/v2/project/${SLUG}/envvar`, { name, value });
    expect(set).toEqual({ status: 201, body: { name, value: `xxxx${value.slice(-4)}` } });
  }
  ({ workflows, jobs } = await settled(await trigger(), 6));
}, 180_000);

afterAll(async () => {
  await runtime?.stop();
  await engine?.stop();
  console.log(`realitycheck: ${((Date.now() - began) / 1000).toFixed(1)} s in all`);
});

describe("realitycheck", () => {
  it("ends every workflow and job with CircleCI's status, matrix jobs named as CircleCI names them", () => {
    expect(workflows).toEqual({
      docker_resource_class_jobs: "success",
      vm_jobs: "success",
      // The approval waits; approving is not built yet.
      feature_jobs: "on_hold",
      cache_jobs: "success",
      failure_jobs: "failed",
      other_jobs: "success",
    });
    const summary = Object.fromEntries(
      Object.values(jobs).map((j) => [j.name, `${j.workflow}: ${j.type} ${j.status}`]),
    );
    expect(summary).toEqual({
      // Matrix jobs: the job's name, then each parameter's value in the parameters' name order.
      "executor_resource_class-docker-small": "docker_resource_class_jobs: build success",
      "executor_resource_class-docker-large": "docker_resource_class_jobs: build success",
      "executor_resource_class-machine-small": "docker_resource_class_jobs: build success",
      "executor_resource_class-machine-large": "docker_resource_class_jobs: build success",
      machine: "vm_jobs: build success",
      remote_docker: "vm_jobs: build success",
      secrets: "feature_jobs: build success",
      run_options: "feature_jobs: build success",
      split: "feature_jobs: build success",
      halting: "feature_jobs: build success",
      write_workspace: "feature_jobs: build success",
      read_workspace: "feature_jobs: build success",
      artifacts_test_results: "feature_jobs: build success",
      hold: "feature_jobs: approval on_hold",
      deploy: "feature_jobs: build blocked",
      // `release` is filtered out on main (branches: only: /release\/.*/): not in the workflow at all.
      save_and_restore_cache: "cache_jobs: build success",
      when_always: "failure_jobs: build failed",
      "env-subst-example": "other_jobs: build success",
    });
    // An approval has no job number; every other job has its own.
    expect(jobs.hold!.number).toBeUndefined();
    const numbers = Object.values(jobs).flatMap((j) => (j.number === undefined ? [] : [j.number]));
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it("runs docker jobs in the image with a service reachable by name and on localhost, honouring every run option", async () => {
    const run = await steps("run_options");
    expect(run.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Checkout code", "success"],
      ["Connect to db:7070", "success"],
      ["Connect to localhost:7070", "success"],
      ["Step environment and working directory", "success"],
      ["Job environment", "success"],
      ["Another shell", "success"],
      ["A server in the background", "success"],
      ["Connect to localhost:8080", "success"],
      ["Chatty but never silent", "success"],
      ["Always", "success"],
    ]);
    const out = Object.fromEntries(run.map((s) => [s.name, s.output]));
    expect(out["Spin up environment"]).toContain(`Docker: image ${TEST_IMAGE} (local), services: db`);
    expect(out["Spin up environment"]).toContain("(resource class medium)");
    expect(out["Checkout code"]).toMatch(
      new RegExp(`^Checked out ${head.slice(0, 12)} on main into \\S+/home/realitycheck\\n`),
    );
    expect(out["Connect to db:7070"]).toBe("hello from db\n");
    expect(out["Connect to localhost:7070"]).toBe("hello from db\n");
    expect(out["Step environment and working directory"]).toBe(
      "hello from the step in unit\nalpha_test.sh\nbravo_test.sh\ncharlie_test.sh\ndelta_test.sh\ntoken: ********\n",
    );
    expect(out["Job environment"]).toBe("hello from the job in realitycheck\n");
    expect(out["Another shell"]).toBe("perl says hello from the job\n");
    expect(out["Connect to localhost:8080"]).toBe("hello from the background\n");
    expect(out["Chatty but never silent"]).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    expect(out.Always).toBe("always runs\n");
    const build = (await client.get(`/api/v1.1/project/${SLUG}/${jobs.run_options!.number}`)).body as {
      steps: { name: string; actions: { background: boolean }[] }[];
    };
    expect(build.steps.filter((s) => s.actions[0]!.background).map((s) => s.name)).toEqual([
      "A server in the background",
    ]);
  });

  it("runs `machine: true` in the sandbox and each resource class with its own limits", async () => {
    const machine = await steps("machine");
    expect(machine.map((s) => [s.name, s.status, s.output])).toEqual([
      ["Spin up environment", "success", expect.stringContaining("Sandbox: bubblewrap")],
      // (An unnamed step: Gyre names it by its command's first line.)
      [expect.any(String), "success", "1\nDone sleeping.\n"],
    ]);
    for (const size of ["small", "large"]) {
      const docker = await steps(`executor_resource_class-docker-${size}`);
      const memory = size === "small" ? 2 : 8;
      expect(docker.map((s) => [s.name, s.status, s.output])).toEqual([
        ["Spin up environment", "success", expect.stringContaining(`memory ${memory} GB`)],
        ["verify required Environment Variables", "success", "CIRCLE_HOSTNAME and CIRCLE_TOKEN are set\n"],
        [
          "Verify that job ran with the requested resource_class option",
          "success",
          `memory limit: ${memory * 1024 ** 3}\n`,
        ],
      ]);
      expect(docker[0]!.output).toContain(`(resource class ${size})`);
      // realitycheck's own check: the job asks the API (CIRCLE_HOSTNAME, CIRCLE_TOKEN) for its resource class.
      const vm = await steps(`executor_resource_class-machine-${size}`);
      expect(vm.map((s) => [s.name, s.status, s.output])).toEqual([
        ["Spin up environment", "success", expect.stringContaining(`(resource class ${size}`)],
        ["verify required Environment Variables", "success", "CIRCLE_HOSTNAME and CIRCLE_TOKEN are set\n"],
        ["Verify that job ran with the requested resource_class option", "success", `${size}\n`],
      ]);
      expect(vm[0]!.output).toContain("Sandbox: bubblewrap");
      for (const type of ["docker", "machine"]) {
        const number = jobs[`executor_resource_class-${type}-${size}`]!.number;
        const details = (await client.get(`/api/v2/project/${SLUG}/job/${number}`)).body;
        expect(details.executor).toEqual({ type, resource_class: size });
      }
    }
  });

  it("splits the tests over `parallelism: 2` with circleci tests glob | circleci tests split", async () => {
    const number = jobs.split!.number!;
    const details = (await client.get(`/api/v2/project/${SLUG}/job/${number}`)).body;
    expect(details.parallelism).toBe(2);
    expect(details.parallel_runs).toMatchObject([
      { index: 0, status: "success" },
      { index: 1, status: "success" },
    ]);
    const ran = await Promise.all(
      [0, 1].map(async (index) => {
        const out = await outputs("split", jobs, index);
        return out["Run my share of the tests"]!.split("\n").filter(Boolean);
      }),
    );
    // Each node runs its own half; together they run every test once.
    expect(ran.map((r) => r.length)).toEqual([3, 3]);
    expect(ran.flat().sort()).toEqual(
      ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"].map((n) => `${n} ran`),
    );
  });

  it("ends a job successfully at `circleci-agent step halt`", async () => {
    expect((await steps("halting")).map((s) => [s.name, s.status, s.output])).toEqual([
      ["Spin up environment", "success", expect.any(String)],
      ["echo before the halt", "success", "before the halt\n"],
      ["Halt", "success", "halting after this step\n"],
    ]);
  });

  it("kills a silent step at its no_output_timeout, skips what follows, still runs `when: always` and `on_fail`", async () => {
    expect((await steps("when_always")).map((s) => [s.name, s.status, s.output])).toEqual([
      ["Spin up environment", "success", expect.any(String)],
      [
        "Goes quiet",
        "timedout",
        "going quiet\n\nToo long with no output (exceeded 1s): context deadline exceeded\n",
      ],
      ["Runs always", "success", "always runs\n"],
      ["Runs on failure", "success", "runs on failure\n"],
    ]);
  });

  it("persists a workspace in one job and attaches it in the job that requires it", async () => {
    const written = await outputs("write_workspace");
    expect(written["Persisting to Workspace"]).toMatch(/Total size uploaded: /);
    const read = await steps("read_workspace");
    expect(read.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Attaching Workspace", "success"],
      [expect.any(String), "success"],
    ]);
    expect(read[1]!.output).toMatch(
      / {2}write_workspace - .+\nApplied 1 workspace layer into \S+\/foo\/bar\/attached\n$/,
    );
    expect(read[2]!.output).toBe("built by write_workspace\nYay, value matches\n");
  });

  it("stores artifacts: listed through the API and downloaded with their content and type", async () => {
    const number = jobs.artifacts_test_results!.number!;
    const out = await steps("artifacts_test_results");
    expect(out.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Checkout code", "success"],
      ["Creating Dummy Artifacts", "success"],
      ["Uploading artifacts", "success"],
      ["Uploading artifacts", "success"],
      ["Uploading test results", "success"],
    ]);
    const list = await client.get(`/api/v2/project/${SLUG}/${number}/artifacts`);
    expect(list.status).toBe(200);
    const items = list.body.items as { path: string; node_index: number; url: string }[];
    expect(items.map((i) => [i.path, i.node_index]).sort()).toEqual([
      ["artifact-file.txt", 0],
      ["tmp/artifacts/artifact-2.txt", 0],
      ["tmp/artifacts/report.json", 0],
    ]);
    const download = async (path: string) => {
      const response = await fetch(items.find((i) => i.path === path)!.url, {
        headers: { "circle-token": runtime.adminToken },
      });
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        body: await response.text(),
      };
    };
    expect(await download("artifact-file.txt")).toEqual({
      status: 200,
      type: "text/plain",
      body: "my artifact file\n",
    });
    expect(await download("tmp/artifacts/artifact-2.txt")).toEqual({
      status: 200,
      type: "text/plain",
      body: "my artifact files in a dir\n",
    });
    expect(await download("tmp/artifacts/report.json")).toEqual({
      status: 200,
      type: "application/json",
      body: '{"realitycheck": true}\n',
    });
  });

  it("stores test results: listed through the API with their names and results", async () => {
    const number = jobs.artifacts_test_results!.number!;
    const tests = await client.get(`/api/v2/project/${SLUG}/${number}/tests`);
    expect(tests.status).toBe(200);
    const items = tests.body.items as Record<string, unknown>[];
    expect(items.map((t) => [t.classname, t.name, t.result, t.run_time])).toEqual([
      ["server.models.post", "adds a post", "success", 0.5],
      ["server.models.post", "deletes a post", "success", 0.25],
      ["client.app", "renders properly", "failure", 1],
      ["client.app", "is not written yet", "skipped", 0],
    ]);
    expect(items[0]).toMatchObject({ file: "server/models/post.test.js", message: "" });
    expect(items[2]!.message).toMatch(/expected a header/);
    expect(items[2]!.message).toMatch(/no header rendered/);
    const upload = (await outputs("artifacts_test_results"))["Uploading test results"];
    expect(upload).toContain("Uploaded 4 test results (2 passed, 1 failed, 1 skipped).\n");
  });

  it("gives setup_remote_docker a Docker engine of the job's own", async () => {
    const remote = await steps("remote_docker");
    expect(remote.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["No Docker engine before setup_remote_docker", "success"],
      ["Setup a remote Docker engine", "success"],
      ["docker version", "success"],
    ]);
    expect(remote[1]!.output).toBe("DOCKER_HOST=unset\n");
    expect(remote[2]!.output).toMatch(/^Remote Docker engine \(podman, its own storage\) ready in/);
    expect(remote[3]!.output).toBe('OK\n"ApiVersion"\n');
  });

  it("holds an approval's dependant: the approval on_hold, the dependant blocked, the workflow on_hold", () => {
    expect([jobs.hold!.type, jobs.hold!.status]).toEqual(["approval", "on_hold"]);
    expect(jobs.deploy!.status).toBe("blocked");
    expect(workflows.feature_jobs).toBe("on_hold");
  });

  it("masks the project's variables in output, plain and base64, and never shows them in clear", async () => {
    expect((await outputs("secrets"))["Project environment variables are masked"]).toBe(
      "token: ********\nhostname: ********\n********\n********\nthe job sees the real token\n",
    );
    const secrets = [runtime.adminToken, runtime.url];
    const forms = secrets.flatMap((s) => [
      s,
      Buffer.from(s).toString("base64"),
      Buffer.from(`${s}\n`).toString("base64"),
    ]);
    let checked = 0;
    for (const job of Object.values(jobs)) {
      if (job.number === undefined || job.status === "blocked" || job.status === "not_run") continue;
      const details = (await client.get(`/api/v2/project/${SLUG}/job/${job.number}`)).body;
      for (let index = 0; index < (details.parallelism as number); index++) {
        for (const step of await steps(job.name, jobs, index)) {
          checked++;
          for (const form of forms) expect(step.output, `${job.name}: ${step.name}`).not.toContain(form);
        }
      }
    }
    // Every step of the 17 jobs that ran (both nodes of the parallel one).
    expect(checked).toBeGreaterThan(60);
    // And the API shows them masked too.
    const listed = (await client.get(`/api/v2/project/${SLUG}/envvar`)).body.items;
    expect(listed).toEqual([
      { name: "CIRCLE_HOSTNAME", value: `xxxx${runtime.url.slice(-4)}` },
      { name: "CIRCLE_TOKEN", value: `xxxx${runtime.adminToken.slice(-4)}` },
    ]);
  });

  it("saves a cache and restores it in the same job and in the next pipeline", async () => {
    const key = `v3-file-cache-${createHash("sha256").update("stuff 1\n").digest("base64")}`;
    const first = jobs.save_and_restore_cache!.number!;
    const firstRun = await steps("save_and_restore_cache");
    expect(firstRun.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Checkout code", "success"],
      ["Restore an earlier pipeline's cache", "success"],
      ["What an earlier pipeline left", "success"],
      ["mkdir -p stuff", "success"],
      ['echo "5 from build $CIRCLE_BUILD_NUM" >./stuff/thing', "success"],
      ["Saving Cache", "success"],
      ["rm -rf ./stuff/thing", "success"],
      ["Restoring Cache", "success"],
      [expect.any(String), "success"],
    ]);
    expect(firstRun[2]!.output).toContain(`No cache is found for key: ${key}\n`);
    expect(firstRun[3]!.output).toBe("nothing restored\n");
    expect(firstRun[6]!.output).toContain(`Stored Cache to ${key}\n`);
    expect(firstRun[8]!.output).toContain(`Found a cache from build ${first} at ${key}\n`);
    expect(firstRun[9]!.output).toBe(`The cache was populated: 5 from build ${first}\n`);

    // The second pipeline runs only cache_jobs (pipeline parameter full: false).
    const second = await settled(await trigger({ full: false }), 1);
    expect(second.workflows).toEqual({ cache_jobs: "success" });
    expect(Object.keys(second.jobs)).toEqual(["save_and_restore_cache"]);
    const again = await steps("save_and_restore_cache", second.jobs);
    expect(again.map((s) => s.status).every((s) => s === "success")).toBe(true);
    expect(again[2]!.output).toContain(`Found a cache from build ${first} at ${key}\n`);
    expect(again[3]!.output).toBe(`5 from build ${first}\n`);
    expect(again[6]!.output).toContain(`Skipping cache generation, cache already exists for key: ${key}\n`);
    expect(again[9]!.output).toBe(`The cache was populated: 5 from build ${first}\n`);
  });

  it("runs realitycheck's env-subst-example: `circleci env subst` fills in the environment", async () => {
    const out = await steps("env-subst-example");
    expect(out.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Checkout code", "success"],
      ['echo \'the value of foo is "$foo" and next to alpha is "$alpha"\' > template.tmpl', "success"],
      ["cat template.tmpl", "success"],
      ["circleci env subst < template.tmpl > output.txt", "success"],
      ['grep "bar" output.txt | grep "beta"', "success"],
    ]);
    expect(out[5]!.output).toBe('the value of foo is "bar" and next to alpha is "beta"\n');
    expect([jobs["env-subst-example"]!.status, workflows.other_jobs]).toEqual(["success", "success"]);
  });
});
