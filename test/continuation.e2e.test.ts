/**
 * Dynamic configuration (`setup: true`) end to end: the setup workflow's job posts the real
 * configuration to POST /api/v2/pipeline/continue with its CIRCLE_CONTINUATION_KEY, and the
 * continuation's workflows run in the same pipeline.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { continuationKey } from "../packages/core/src/pipeline/index.ts";
import { api, gitRepo, stepOutputs, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("continue"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

/** A setup config whose job sends `.circleci/<file>` as the continuation (JSON built with awk). */
const setupConfig = (file: string) => `version: 2.1
setup: true
jobs:
  generate:
    machine: true
    steps:
      - checkout
      - run:
          name: Continue
          command: |
            echo "key: $CIRCLE_CONTINUATION_KEY"
            awk 'BEGIN { printf "{\\"continuation-key\\": \\"%s\\", \\"parameters\\": {\\"target\\": \\"staging\\"}, \\"configuration\\": \\"", ENVIRON["CIRCLE_CONTINUATION_KEY"] }
                 { gsub(/\\\\/, "\\\\\\\\"); gsub(/"/, "\\\\\\""); printf "%s\\\\n", $0 }
                 END { printf "\\"}" }' .circleci/${file} > body.json
            curl -sS -o answer.json -w '%{http_code}\\n' -X POST "$GYRE_API_URL/api/v2/pipeline/continue" \\
              -H 'content-type: application/json' --data @body.json
            cat answer.json; echo
workflows:
  setup:
    jobs: [generate]
`;

const CONTINUATION = `version: 2.1
parameters:
  target:
    type: string
    default: nowhere
jobs:
  deploy:
    machine: true
    steps:
      - run: echo "deploying to << pipeline.parameters.target >>"
workflows:
  deploy:
    jobs: [deploy]
`;

async function workflows(pipelineId: string) {
  return (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
}

describe("setup: true and POST /api/v2/pipeline/continue", () => {
  it("runs the setup workflow, then the continuation's workflows in the same pipeline, once", async () => {
    const slug = "gh/acme/dynamic";
    const repo = gitRepo({
      ".circleci/config.yml": setupConfig("continue.yml"),
      ".circleci/continue.yml": CONTINUATION,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const { id, created, pipeline } = await trigger(client, slug);
    // Answered at once, before git is read; a setup pipeline once the intake compiled it.
    expect(created.state).toBe("pending");
    expect(pipeline.state).toBe("setup");
    const done = await waitFor("both workflows to succeed", async () => {
      const items = await workflows(id);
      return items.length === 2 && items.every((w) => w.status === "success") ? items : undefined;
    });
    expect(done.map((w) => w.name).sort()).toEqual(["deploy", "setup"]);
    expect((await client.get(`/api/v2/pipeline/${id}`)).body.state).toBe("created");

    const setupJob = (await client.get(`/api/v2/workflow/${done.find((w) => w.name === "setup")!.id}/job`))
      .body.items![0]!;
    const setupOut = (await stepOutputs(client, slug, setupJob.job_number as number)).at(-1)!.output;
    // The key is a secret of the job: masked in its output like a project variable.
    expect(setupOut).toBe('key: ********\n200\n{"message":"Pipeline continued."}\n');

    const deployJob = (await client.get(`/api/v2/workflow/${done.find((w) => w.name === "deploy")!.id}/job`))
      .body.items![0]!;
    expect((await stepOutputs(client, slug, deployJob.job_number as number)).at(-1)!.output).toBe(
      "deploying to staging\n",
    );
  });

  it("accepts the same continuation again (a retry) without duplicating anything, and refuses another with 409", async () => {
    const slug = "gh/acme/dynamic-retry";
    const repo = gitRepo({
      ".circleci/config.yml": setupConfig("continue.yml"),
      ".circleci/continue.yml": CONTINUATION,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    await waitFor("both workflows to succeed", async () => {
      const items = await workflows(created.body.id as string);
      return items.length === 2 && items.every((w) => w.status === "success") ? items : undefined;
    });
    const key = await continuationKey(runtime.gyre, created.body.id as string);
    const send = (configuration: string) =>
      fetch(`${runtime.url}/api/v2/pipeline/continue`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ "continuation-key": key, configuration, parameters: { target: "staging" } }),
      });
    const again = await send(CONTINUATION);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ message: "Pipeline continued." });
    expect((await workflows(created.body.id as string)).map((w) => w.name).sort()).toEqual([
      "deploy",
      "setup",
    ]);
    const other = await send(CONTINUATION.replace("deploying to", "shipping to"));
    expect(other.status).toBe(409);
    expect(await other.json()).toEqual({ message: "This pipeline has already been continued." });
  });

  it("refuses a wrong key with 401 and a malformed body with 400, whatever the pipeline", async () => {
    const continueWith = (body: unknown) =>
      fetch(`${runtime.url}/api/v2/pipeline/continue`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const wrong = await continueWith({
      "continuation-key": "00000000-0000-0000-0000-000000000000.x",
      configuration: CONTINUATION,
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ message: "Invalid continuation key." });
    const malformed = await continueWith({ configuration: CONTINUATION });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({
      message: "Invalid body: continuation-key: Invalid input: expected string, received undefined",
    });
  });

  it("errors the pipeline when the continuation is invalid, with the parser's message", async () => {
    const slug = "gh/acme/dynamic-bad";
    const repo = gitRepo({
      ".circleci/config.yml": setupConfig("broken.yml"),
      ".circleci/broken.yml": "version: 2.1\nworkflows:\n  w:\n    jobs: [missing]\n",
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const pipeline = await waitFor("the pipeline to error", async () => {
      const p = (await client.get(`/api/v2/pipeline/${created.body.id}`)).body;
      return p.state === "errored" ? p : undefined;
    });
    // Every problem at once: the undeclared parameter the setup job passed (no line of the config
    // is at fault: it declares no parameters), and the bad job, located.
    expect(pipeline.errors).toEqual([
      {
        type: "config",
        message: 'pipeline parameter "target" was passed but the config does not declare it',
      },
      { type: "config", message: 'workflows.w.jobs[0]: unknown job "missing" (line 4, column 12)' },
    ]);
    expect((await workflows(created.body.id as string)).map((w) => w.name)).toEqual(["setup"]);
  });
});
