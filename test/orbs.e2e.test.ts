/**
 * Orbs end to end on the local stack: publish through the API into the S3 stand-in, a
 * pipeline whose config imports the orb runs its command on a real builder agent, an
 * unpublished orb makes an errored pipeline, and `compile-config-with-defaults` plus the
 * `gyre config` / `gyre orb` commands answer as `circleci` users expect.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createToken, createUser } from "@gyre/core/auth/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, trigger as triggerPipeline, waitFor } from "./support.ts";

const ROOT = resolve(import.meta.dirname, "..");
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("orbs"), port: 0, heartbeatSeconds: 5 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

const TOOLS = (release: string) => `version: 2.1
description: Greetings for tests
commands:
  greet:
    parameters:
      to:
        type: string
        default: world
    steps:
      - run:
          name: Greet
          command: echo "hello from ${release}, << parameters.to >>"
`;

const USES_TOOLS = `version: 2.1
orbs:
  tools: acme/tools@1
jobs:
  build:
    machine: true
    steps:
      - tools/greet:
          to: gyre
workflows:
  main:
    jobs: [build]
`;

/** PUT with a raw YAML body, as curl or any HTTP client would send it. */
async function put(path: string, body: string, token = runtime.adminToken) {
  const response = await fetch(`${runtime.url}${path}`, {
    method: "PUT",
    headers: { "circle-token": token, "content-type": "application/yaml" },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function trigger(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  // Answered at once (`pending`); the pipeline once the intake read and compiled its config.
  const { created, pipeline } = await triggerPipeline(client, slug);
  expect(created.state).toBe("pending");
  return pipeline;
}

function gyre(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", join(ROOT, "packages/cli/src/main.ts"), ...args],
      { cwd: ROOT, env: { ...process.env, GYRE_URL: runtime.url, GYRE_TOKEN: runtime.adminToken } },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("the orb registry", () => {
  beforeAll(async () => {
    for (const v of ["1.0.0", "1.1.0", "2.0.0"]) {
      const res = await put(`/api/gyre/orbs/acme/tools/${v}`, TOOLS(v));
      expect(res).toEqual({ status: 201, body: { name: "acme/tools", version: v, created: true } });
    }
  });

  it("keeps published versions: same content 200, different 409, invalid 400, too big 413", async () => {
    expect(await put("/api/gyre/orbs/acme/tools/1.1.0", TOOLS("1.1.0"))).toEqual({
      status: 200,
      body: { name: "acme/tools", version: "1.1.0", created: false },
    });
    expect(await put("/api/gyre/orbs/acme/tools/1.1.0", TOOLS("changed"))).toEqual({
      status: 409,
      body: {
        message:
          "acme/tools@1.1.0 is already published with different content; published versions never change, so publish a new version.",
      },
    });
    expect(await put("/api/gyre/orbs/acme/tools/1.2", TOOLS("x"))).toEqual({
      status: 400,
      body: { message: `"1.2" is not an orb version: publish a plain semantic version such as 1.2.3.` },
    });
    expect(
      await put("/api/gyre/orbs/acme/broken/1.0.0", "description: no commands, jobs or executors\n"),
    ).toEqual({
      status: 400,
      body: {
        message:
          "acme/broken@1.0.0 is not an orb: the source must be a YAML map with at least one of commands, jobs or executors.",
      },
    });
    const big = await put("/api/gyre/orbs/acme/big/1.0.0", `${TOOLS("x")}# ${"x".repeat(1024 * 1024)}\n`);
    expect(big.status).toBe(413);
    expect((await client.get("/api/gyre/orbs")).body).toEqual({
      items: [{ name: "acme/tools", versions: ["1.0.0", "1.1.0", "2.0.0"] }],
    });
  });

  it("lets only admins publish", async () => {
    const user = await createUser(runtime.gyre, { login: "developer" });
    const token = await createToken(runtime.gyre, user.id, "test");
    expect(await put("/api/gyre/orbs/acme/mine/1.0.0", TOOLS("x"), token)).toEqual({
      status: 403,
      body: { message: "Only an administrator may do this." },
    });
    expect((await api(runtime.url, token).get("/api/gyre/orbs")).status).toBe(200);
    expect((await put("/api/gyre/orbs/acme/mine/1.0.0", TOOLS("x"), "nope")).status).toBe(401);
  });

  it("runs a job built from a registry orb's command, at the newest version the range allows", async () => {
    const slug = "gh/acme/uses-orb";
    const pipeline = await trigger(slug, USES_TOOLS);
    expect(pipeline).toMatchObject({ state: "created", errors: [] });
    const workflow = (await client.get(`/api/v2/pipeline/${pipeline.id}/workflow`)).body.items![0]!;
    const jobs = await waitFor("the job to finish", async () => {
      const items = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
      return items.every((j) => ["success", "failed"].includes(j.status as string)) ? items : undefined;
    });
    expect(jobs.map((j) => [j.name, j.status])).toEqual([["build", "success"]]);
    const steps = await stepOutputs(client, slug, jobs[0]!.job_number as number);
    expect(steps.map((s) => s.name)).toEqual(["Spin up environment", "Greet"]);
    expect(steps[1]!.output).toBe("hello from 1.1.0, gyre\n");
  });

  it("makes a config importing an unpublished orb an errored pipeline with the missing-orb message", async () => {
    const pipeline = await trigger(
      "gh/acme/ghost-orb",
      USES_TOOLS.replace("tools: acme/tools@1", "tools: acme/ghost@1.0.0"),
    );
    expect(pipeline.state).toBe("errored");
    expect(pipeline.errors).toEqual([
      {
        type: "config",
        message:
          'orbs.tools: orb acme/ghost@1.0.0 not found: no published version of acme/ghost matches "1.0.0" (line 3, column 10)',
      },
    ]);
  });
});

const PROCESSED = `version: 2
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Greet
          command: echo "hello from 1.1.0, gyre"
workflows:
  main:
    jobs:
      - build
  version: 2
`;

const INVALID = `version: 2.1
orbs:
  tools: acme/tools@7
jobs:
  build:
    machine: true
    stepz: []
workflows:
  main:
    jobs: [build]
`;
const INVALID_ERRORS = [
  'orbs.tools: orb acme/tools@7 not found: no published version of acme/tools matches "7" (line 3, column 10)',
  'jobs.build.stepz: unknown key "stepz" in job "build" (line 7, column 5)',
  'jobs.build: job "build" needs "steps": a list of steps (line 6, column 5)',
];

describe("POST /api/v2/compile-config-with-defaults", () => {
  it("answers a valid config with CircleCI's shape and the processed YAML", async () => {
    const res = await client.post("/api/v2/compile-config-with-defaults", { config_yaml: USES_TOOLS });
    expect(res).toEqual({
      status: 200,
      body: { valid: true, errors: [], "source-yaml": USES_TOOLS, "output-yaml": PROCESSED, warnings: [] },
    });
  });

  it("answers an invalid config with every error located, still 200", async () => {
    const res = await client.post("/api/v2/compile-config-with-defaults", { config_yaml: INVALID });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      valid: false,
      errors: INVALID_ERRORS.map((message) => ({ message })),
      "source-yaml": INVALID,
      "output-yaml": "",
      warnings: [],
    });
  });

  it("applies pipeline values and parameters the way the circleci CLI sends them", async () => {
    const config = `version: 2.1
parameters:
  who: { type: string, default: nobody }
jobs:
  build:
    machine: true
    steps:
      - run: echo << pipeline.parameters.who >> on << pipeline.git.branch >>
`;
    const res = await client.post("/api/v2/compile-config-with-defaults?include=plan", {
      config_yaml: config,
      options: {
        pipeline_values: { "pipeline.git.branch": "release" },
        pipeline_parameters: { who: "gyre" },
      },
    });
    expect(res.body.valid).toBe(true);
    expect(res.body["output-yaml"]).toContain("echo gyre on release");
    const plan = res.body.plan as { workflows: { jobs: { plan: { steps: { command: string }[] } }[] }[] };
    expect(plan.workflows[0]!.jobs[0]!.plan.steps[0]!.command).toBe("echo gyre on release");
  });

  it("refuses a request without config_yaml, or without a token", async () => {
    expect(await client.post("/api/v2/compile-config-with-defaults", {})).toEqual({
      status: 400,
      body: { message: "Invalid body: config_yaml: expected a string: the config" },
    });
    const anonymous = await api(runtime.url, "").post("/api/v2/compile-config-with-defaults", {
      config_yaml: USES_TOOLS,
    });
    expect(anonymous.status).toBe(401);
  });
});

describe("gyre config and gyre orb", () => {
  it("validate exits 0 for a valid config and 1 printing every error for an invalid one", async () => {
    const dir = tempDir("cli");
    writeFileSync(join(dir, "good.yml"), USES_TOOLS);
    writeFileSync(join(dir, "bad.yml"), INVALID);
    const [good, bad] = await Promise.all([
      gyre("config", "validate", join(dir, "good.yml")),
      gyre("config", "validate", join(dir, "bad.yml")),
    ]);
    expect(good).toEqual({
      code: 0,
      stdout: `Config file at ${join(dir, "good.yml")} is valid.\n`,
      stderr: "",
    });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toBe(
      [`Config file at ${join(dir, "bad.yml")} is invalid:`, ...INVALID_ERRORS.map((e) => `  ${e}`), ""].join(
        "\n",
      ),
    );
  });

  it("process prints the compiled YAML; orb publish publishes once", async () => {
    const dir = tempDir("cli");
    writeFileSync(join(dir, "config.yml"), USES_TOOLS);
    writeFileSync(join(dir, "orb.yml"), TOOLS("cli"));
    const processed = await gyre("config", "process", join(dir, "config.yml"));
    expect(processed).toEqual({ code: 0, stdout: PROCESSED, stderr: "" });
    const first = await gyre("orb", "publish", "acme/cli@0.1.0", join(dir, "orb.yml"));
    expect(first).toEqual({ code: 0, stdout: "Published acme/cli@0.1.0.\n", stderr: "" });
    const again = await gyre("orb", "publish", "acme/cli@0.1.0", join(dir, "orb.yml"));
    expect(again.stdout).toBe("acme/cli@0.1.0 is already published with this content.\n");
    writeFileSync(join(dir, "orb.yml"), TOOLS("changed"));
    const changed = await gyre("orb", "publish", "acme/cli@0.1.0", join(dir, "orb.yml"));
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain("acme/cli@0.1.0 is already published with different content");
  });
});
