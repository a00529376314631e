/**
 * What a job sees of its environment, end to end on the local stack: project variables
 * through CircleCI's envvar API (sealed at rest, masked in the API and in the output),
 * CircleCI's precedence, its built-in variables, $BASH_ENV between steps, and parallelism.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser } from "../packages/core/src/auth/index.ts";
import { readSettings, updateSettings } from "../packages/core/src/settings/index.ts";
import { api, gitRepo, outputsByName, runPipeline, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const SECRET = "s3cr3t-value-1234";

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("env"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

async function project(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  return repo;
}

describe("project environment variables (CircleCI's envvar API)", () => {
  const slug = "gh/acme/env";

  beforeAll(async () => {
    await project(
      slug,
      `version: 2.1
jobs:
  use:
    machine: true
    environment:
      LAYERED: from-job
    steps:
      - run:
          name: Use
          command: |
            echo "value: $DEPLOY_TOKEN"
            printf '%s' "$DEPLOY_TOKEN" | base64
            [ "$DEPLOY_TOKEN" = "${SECRET}" ] && echo "the job sees the real value"
            echo "layered: $LAYERED"
      - run:
          name: Step environment
          environment:
            LAYERED: from-step
          command: |
            echo "layered: $LAYERED"
workflows:
  main:
    jobs: [use]
`,
    );
  });

  it("stores a variable and answers with it masked, never in clear", async () => {
    const created = await client.post(`/api/v2/project/${slug}/envvar`, {
      name: "DEPLOY_TOKEN",
      value: SECRET,
    });
    expect(created).toEqual({ status: 201, body: { name: "DEPLOY_TOKEN", value: "xxxx1234" } });
    await client.post(`/api/v2/project/${slug}/envvar`, { name: "LAYERED", value: "from-project" });
    expect((await client.get(`/api/v2/project/${slug}/envvar`)).body).toEqual({
      items: [
        { name: "DEPLOY_TOKEN", value: "xxxx1234" },
        { name: "LAYERED", value: "xxxxject" },
      ],
      next_page_token: null,
    });
    expect((await client.get(`/api/v2/project/${slug}/envvar/DEPLOY_TOKEN`)).body).toEqual({
      name: "DEPLOY_TOKEN",
      value: "xxxx1234",
    });
  });

  it("keeps values encrypted at rest: no table item holds the value in clear", async () => {
    const scan = await runtime.gyre.aws.dynamo.send(
      new ScanCommand({ TableName: runtime.gyre.resources.tableName }),
    );
    const dump = JSON.stringify(scan.Items);
    expect(dump).toContain("DEPLOY_TOKEN");
    expect(dump).not.toContain(SECRET);
    expect(dump).not.toContain(Buffer.from(SECRET).toString("base64"));
  });

  it("hands jobs the value, masks it in the output (plain and base64), and layers project < job < step", async () => {
    const { jobs } = await runPipeline(client, slug);
    expect(jobs[0]!.status).toBe("success");
    const out = await outputsByName(client, slug, jobs[0]!.job_number as number);
    expect(out.Use).toBe("value: ********\n********\nthe job sees the real value\nlayered: from-job\n");
    expect(out["Step environment"]).toBe("layered: from-step\n");
  });

  it("refuses bad names and bodies with 400 and unknown variables with 404, and deletes", async () => {
    expect((await client.post(`/api/v2/project/${slug}/envvar`, { name: "1BAD", value: "x" })).status).toBe(
      400,
    );
    expect((await client.post(`/api/v2/project/${slug}/envvar`, { name: "OK", value: 42 })).body).toEqual({
      message: "Invalid body: value: Invalid input: expected string, received number",
    });
    expect((await client.post(`/api/v2/project/${slug}/envvar`, "{nope")).status).toBe(400);
    expect(
      (await client.post(`/api/v2/project/${slug}/envvar`, { name: "BIG", value: "x".repeat(33 * 1024) }))
        .status,
    ).toBe(400);
    expect((await client.get(`/api/v2/project/${slug}/envvar/NOPE`)).status).toBe(404);
    expect((await client.get("/api/v2/project/gh/acme/nothing/envvar")).status).toBe(404);
    const deleted = await fetch(`${runtime.url}/api/v2/project/${slug}/envvar/LAYERED`, {
      method: "DELETE",
      headers: { "circle-token": runtime.adminToken },
    });
    expect(await deleted.json()).toEqual({ message: "Environment variable deleted." });
    expect((await client.get(`/api/v2/project/${slug}/envvar/LAYERED`)).status).toBe(404);
  });

  it("is not readable with a builder's token", async () => {
    const builder = api(runtime.url, readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim());
    expect((await builder.get(`/api/v2/project/${slug}/envvar`)).status).toBe(403);
  });
});

describe("CircleCI's built-in environment", () => {
  it("gives each job CIRCLE_* variables, carries $BASH_ENV between steps, and runs one allocation per parallel index", async () => {
    const slug = "gh/acme/builtins";
    const repo = await project(
      slug,
      `version: 2.1
jobs:
  split:
    machine: true
    parallelism: 3
    steps:
      - run:
          name: Builtins
          command: echo "$CI $CIRCLECI $CIRCLE_BRANCH $CIRCLE_SHA1 $CIRCLE_JOB $CIRCLE_BUILD_NUM $CIRCLE_NODE_INDEX/$CIRCLE_NODE_TOTAL $CIRCLE_PROJECT_USERNAME/$CIRCLE_PROJECT_REPONAME"
      - run:
          name: Export
          command: echo 'export FROM_EARLIER_STEP="index $CIRCLE_NODE_INDEX"' >> "$BASH_ENV"
      - run:
          name: Import
          command: echo "$FROM_EARLIER_STEP"
workflows:
  main:
    jobs: [split]
`,
    );
    const { jobs } = await runPipeline(client, slug);
    expect(jobs[0]!.status).toBe("success");
    const number = jobs[0]!.job_number as number;
    const details = (await client.get(`/api/v2/project/${slug}/job/${number}`)).body;
    expect(details.parallelism).toBe(3);
    expect(jobs[0]!.parallelism).toBe(3);
    expect(details.parallel_runs).toMatchObject([
      { index: 0, status: "success" },
      { index: 1, status: "success" },
      { index: 2, status: "success" },
    ]);
    // Each run names the builder node it ran on (as the Nomad API knows it) and when it ran.
    const nodes = new Map(
      ((await client.get("/v1/nodes")).body as unknown as { ID: string; Name: string }[]).map((n) => [
        n.ID,
        n.Name,
      ]),
    );
    type Run = { node: { id: string; name: string }; started_at: string; stopped_at: string };
    for (const run of details.parallel_runs as Run[]) {
      expect(run.node.name).toBe(nodes.get(run.node.id));
      expect(Date.parse(run.stopped_at)).toBeGreaterThanOrEqual(Date.parse(run.started_at));
      expect(Date.parse(run.started_at)).toBeGreaterThanOrEqual(Date.parse(details.started_at as string));
    }
    // Someone who may only view the project sees which node by its id, not its host name.
    const viewer = await createUser(runtime.gyre, { login: "env-viewer" });
    const viewerToken = await createToken(runtime.gyre, viewer.id, "view");
    const before = (await readSettings(runtime.gyre)).default_project_permission;
    await updateSettings(runtime.gyre, { default_project_permission: "view" });
    try {
      const seen = (await api(runtime.url, viewerToken).get(`/api/v2/project/${slug}/job/${number}`)).body;
      expect((seen.parallel_runs as Run[]).map((r) => r.node)).toEqual(
        (details.parallel_runs as Run[]).map((r) => ({ id: r.node.id, name: null })),
      );
    } finally {
      await updateSettings(runtime.gyre, { default_project_permission: before });
    }
    for (const index of [0, 1, 2]) {
      const out = await outputsByName(client, slug, number, index);
      expect(out.Builtins).toBe(`true true main ${repo.head} split ${number} ${index}/3 acme/builtins\n`);
      expect(out.Import).toBe(`index ${index}\n`);
    }
  });
});
