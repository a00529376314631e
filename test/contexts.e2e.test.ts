/**
 * CircleCI contexts end to end on the local stack: the API (shapes from the published OpenAPI
 * document, values never returned), jobs that name contexts (values in clear for the job,
 * masked in its output, layered project < contexts < job), and a job naming a context that
 * does not exist (CircleCI's `unauthorized`, never run).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, outputsByName, runPipeline, stepOutputs, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const SECRET = "c0ntext-secret-9876";
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NO_SUCH_ID = "00000000-0000-4000-8000-000000000000";

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("contexts"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

/** PUT and DELETE, which the shared test client does not have. */
async function send(method: "PUT" | "DELETE", path: string, body?: unknown, token = runtime.adminToken) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { "circle-token": token, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function createContext(name: string, owner = "gh/acme") {
  const created = await client.post("/api/v2/context", {
    name,
    owner: { slug: owner, type: "organization" },
  });
  expect(created.status).toBe(200);
  return created.body as { id: string; name: string; created_at: string };
}

async function project(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
}

describe("the context API (CircleCI API v2)", () => {
  let ctx: { id: string; name: string; created_at: string };

  it("creates a context and answers CircleCI's Context shape", async () => {
    ctx = await createContext("api-shapes");
    expect(Object.keys(ctx).sort()).toEqual(["created_at", "id", "name"]);
    expect(ctx).toEqual({
      id: expect.stringMatching(UUID),
      name: "api-shapes",
      created_at: expect.stringMatching(ISO),
    });
    expect((await client.get(`/api/v2/context/${ctx.id}`)).body).toEqual(ctx);
  });

  it("lists an owner's contexts by owner-slug (either VCS spelling), and no one else's", async () => {
    const other = await createContext("api-shapes", "gh/someone-else");
    expect(other.id).not.toBe(ctx.id);
    const list = await client.get("/api/v2/context?owner-slug=gh/acme&owner-type=organization");
    expect(list).toEqual({ status: 200, body: { items: [ctx], next_page_token: null } });
    expect((await client.get("/api/v2/context?owner-slug=github/acme")).body).toEqual(list.body);
    expect((await client.get("/api/v2/context?owner-slug=gh/nobody")).body).toEqual({
      items: [],
      next_page_token: null,
    });
  });

  it("stores variables and answers names and dates, never values", async () => {
    const put = await send("PUT", `/api/v2/context/${ctx.id}/environment-variable/API_TOKEN`, {
      value: SECRET,
    });
    expect(put).toEqual({
      status: 200,
      body: { variable: "API_TOKEN", created_at: expect.stringMatching(ISO), context_id: ctx.id },
    });
    // Replacing keeps the creation date.
    const again = await send("PUT", `/api/v2/context/${ctx.id}/environment-variable/API_TOKEN`, {
      value: "v2",
    });
    expect(again.body).toEqual(put.body);
    const list = await client.get(`/api/v2/context/${ctx.id}/environment-variable`);
    expect(list).toEqual({ status: 200, body: { items: [put.body], next_page_token: null } });
    expect(JSON.stringify([put, again, list])).not.toContain(SECRET);
    const scan = await runtime.gyre.aws.dynamo.send(
      new ScanCommand({ TableName: runtime.gyre.resources.tableName }),
    );
    expect(JSON.stringify(scan.Items)).toContain("API_TOKEN");
    expect(JSON.stringify(scan.Items)).not.toContain(SECRET);
  });

  it("answers 409 for a duplicate name, 400 for bad input, 404 for unknown contexts and variables", async () => {
    const dup = await client.post("/api/v2/context", { name: "api-shapes", owner: { slug: "gh/acme" } });
    expect(dup).toEqual({
      status: 409,
      body: { message: 'A context named "api-shapes" already exists for gh/acme.' },
    });
    for (const body of [
      { name: "x" },
      { owner: { slug: "gh/acme" } },
      { name: "", owner: { slug: "gh/acme" } },
      { name: "x", owner: { slug: "acme" } },
      { name: "x", owner: { slug: "gh/acme", type: "account" } },
      { name: "x", owner: { id: NO_SUCH_ID } },
    ]) {
      expect((await client.post("/api/v2/context", body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await client.post("/api/v2/context", "{nope")).status).toBe(400);
    expect((await client.get("/api/v2/context")).status).toBe(400);
    expect((await client.get("/api/v2/context?owner-slug=gh/acme&page-token=garbage")).status).toBe(400);
    const variable = `/api/v2/context/${ctx.id}/environment-variable`;
    expect((await send("PUT", `${variable}/1BAD`, { value: "x" })).status).toBe(400);
    expect((await send("PUT", `${variable}/OK`, { value: 42 })).body).toEqual({
      message: "Invalid body: value: Invalid input: expected string, received number",
    });
    expect((await send("PUT", `${variable}/BIG`, { value: "x".repeat(32 * 1024 + 1) })).status).toBe(400);

    expect((await client.get(`/api/v2/context/${NO_SUCH_ID}`)).status).toBe(404);
    expect((await client.get("/api/v2/context/not-a-uuid")).status).toBe(404);
    expect((await client.get(`/api/v2/context/${NO_SUCH_ID}/environment-variable`)).status).toBe(404);
    expect(
      (await send("PUT", `/api/v2/context/${NO_SUCH_ID}/environment-variable/A`, { value: "x" })).status,
    ).toBe(404);
    expect((await send("DELETE", `/api/v2/context/${NO_SUCH_ID}`)).status).toBe(404);
    expect((await send("DELETE", `${variable}/NOPE`)).status).toBe(404);
  });

  it("deletes variables and contexts (with their variables)", async () => {
    const variable = `/api/v2/context/${ctx.id}/environment-variable`;
    await send("PUT", `${variable}/GONE`, { value: "soon" });
    expect(await send("DELETE", `${variable}/GONE`)).toEqual({
      status: 200,
      body: { message: "Environment variable deleted." },
    });
    expect((await client.get(variable)).body.items!.map((v) => v.variable)).toEqual(["API_TOKEN"]);
    expect(await send("DELETE", `/api/v2/context/${ctx.id}`)).toEqual({
      status: 200,
      body: { message: "Context deleted." },
    });
    expect((await client.get(`/api/v2/context/${ctx.id}`)).status).toBe(404);
    expect((await client.get(variable)).status).toBe(404);
    expect((await client.get("/api/v2/context?owner-slug=gh/acme")).body.items).toEqual([]);
  });

  it("refuses a builder's token (403) and no token (401)", async () => {
    const builderToken = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    const builder = api(runtime.url, builderToken);
    const ctx = await createContext("builders-keep-out");
    expect((await builder.get("/api/v2/context?owner-slug=gh/acme")).status).toBe(403);
    expect((await builder.get(`/api/v2/context/${ctx.id}`)).status).toBe(403);
    expect((await builder.get(`/api/v2/context/${ctx.id}/environment-variable`)).status).toBe(403);
    expect((await builder.post("/api/v2/context", { name: "x", owner: { slug: "gh/acme" } })).status).toBe(
      403,
    );
    expect(
      (await send("PUT", `/api/v2/context/${ctx.id}/environment-variable/X`, { value: "x" }, builderToken))
        .status,
    ).toBe(403);
    expect((await send("DELETE", `/api/v2/context/${ctx.id}`, undefined, builderToken)).status).toBe(403);
    expect((await api(runtime.url, "").get("/api/v2/context?owner-slug=gh/acme")).status).toBe(401);
  });
});

describe("jobs that use contexts", () => {
  it("get the variables of the contexts their workflow names, masked in the output, layered project < contexts (later wins) < job", async () => {
    const slug = "gh/acme/ctx-app";
    const base = await createContext("base");
    const deploy = await createContext("deploy");
    const put = (id: string, name: string, value: string) =>
      send("PUT", `/api/v2/context/${id}/environment-variable/${name}`, { value });
    await put(deploy.id, "DEPLOY_KEY", SECRET);
    await put(base.id, "ORDER", "from-base");
    await put(deploy.id, "ORDER", "from-deploy");
    await put(deploy.id, "SHARED", "from-context");
    await put(deploy.id, "LAYERED", "from-context");
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
            echo "key: $DEPLOY_KEY"
            [ "$DEPLOY_KEY" = "${SECRET}" ] && echo "the job sees the real value"
            [ "$ORDER" = from-deploy ] && echo "order: the later context wins"
            [ "$SHARED" = from-context ] && echo "shared: the context wins over the project"
            [ "$PROJECT_ONLY" = project-only ] && echo "project only: kept"
            echo "order: $ORDER, layered: $LAYERED"
  plain:
    machine: true
    steps:
      - run:
          name: Plain
          command: |
            echo "key: [\${DEPLOY_KEY:-unset}]"
            [ "$SHARED" = from-project ] && echo "shared: the project's"
workflows:
  main:
    jobs:
      - use:
          context: [base, deploy]
      - plain
`,
    );
    for (const [name, value] of [
      ["SHARED", "from-project"],
      ["LAYERED", "from-project"],
      ["PROJECT_ONLY", "project-only"],
    ]) {
      expect((await client.post(`/api/v2/project/${slug}/envvar`, { name, value })).status).toBe(201);
    }
    const { workflow, byName: jobs } = await runPipeline(client, slug);
    expect(workflow.status).toBe("success");
    const use = await outputsByName(client, slug, jobs.use!.job_number as number);
    expect(use.Use).toBe(
      "key: ********\n" +
        "the job sees the real value\n" +
        "order: the later context wins\n" +
        "shared: the context wins over the project\n" +
        "project only: kept\n" +
        // Context values are masked like project values; the job's own environment is not secret.
        "order: ********, layered: from-job\n",
    );
    // A job of the same workflow that names no context gets none of its variables.
    const plain = await outputsByName(client, slug, jobs.plain!.job_number as number);
    expect(plain.Plain).toBe("key: [unset]\nshared: the project's\n");
  });

  it("a job naming a context that does not exist ends `unauthorized` without running, saying why", async () => {
    const slug = "gh/acme/ctx-missing";
    await project(
      slug,
      `version: 2.1
jobs:
  deploy:
    machine: true
    steps:
      - run: echo "this must not run" > /dev/null; echo ran
  after:
    machine: true
    steps:
      - run: echo after
workflows:
  main:
    jobs:
      - deploy:
          context: [no-such-context]
      - after:
          requires: [deploy]
`,
    );
    const { workflow, byName: jobs } = await runPipeline(client, slug);
    expect(jobs.deploy!.status).toBe("unauthorized");
    expect(jobs.after!.status).toBe("not_run");
    expect(workflow.status).toBe("unauthorized");
    const number = jobs.deploy!.job_number as number;
    expect((await client.get(`/api/v2/project/${slug}/job/${number}`)).body.status).toBe("unauthorized");
    const steps = await stepOutputs(client, slug, number);
    expect(steps).toEqual([
      {
        name: "Spin up environment",
        status: "failed",
        output: expect.stringContaining(
          'Unauthorized: Context not found: "no-such-context" in organization gh/acme.',
        ),
      },
    ]);
  });
});
