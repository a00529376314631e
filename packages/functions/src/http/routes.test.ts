/**
 * The HTTP app in-process (`app.request()`) over the local stand-ins (dynalite, fauxqs, s3rver
 * as the local runtime starts them, no builder): page tokens, escaped slugs, bounded
 * identifiers, what a webhook keeps, v1.1 actions per node, and schema errors that write nothing.
 */
import { createHmac } from "node:crypto";
import { GetCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalRuntime, startLocalRuntime } from "@gyre/cli/local/runtime";
import { getJobByNumber } from "@gyre/core/job/index";
import { registerNode } from "@gyre/core/node/index";
import { writeOutput } from "@gyre/core/output/index";
import { Limits, TRUNCATED } from "@gyre/core/protocol/api";
import { encodePageToken } from "@gyre/core/protocol/page-token";
import { Index, Keys } from "@gyre/core/table";
import type { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gitRepo, pushPayload, tempDir, waitFor } from "../../../../test/support.ts";
import { createApp } from "./app.ts";
import type { Env } from "./context.ts";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    parallelism: 2
    steps:
      - run: echo one
      - run: echo two
workflows:
  main:
    jobs: [build]
`;

let runtime: LocalRuntime;
let app: Hono<Env>;
let secret: string;
let repo: ReturnType<typeof gitRepo>;
const errors: unknown[] = [];

/** What the tests read of an answer (whatever the route, they read only these). */
type Body = {
  message: string;
  id: string;
  webhook_secret: string;
  items?: { id: string; job_number?: number }[];
  steps?: unknown;
};
type Answer = { status: number; body: Body };

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await app.request(path, {
    method,
    headers: {
      "circle-token": runtime.adminToken,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, body: json } as Answer;
}

/** Every item of the table, in a stable order: what a refused request must leave as it was. */
async function table(): Promise<string[]> {
  const items: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await runtime.gyre.aws.dynamo.send(
      new ScanCommand({ TableName: runtime.gyre.resources.tableName, ExclusiveStartKey: start }),
    );
    items.push(...(out.Items ?? []).map((i) => JSON.stringify(i)));
    start = out.LastEvaluatedKey;
  } while (start);
  return items.sort();
}

const deliver = (body: string, headers: Record<string, string>) =>
  app.request("/webhooks/github", {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "push", ...headers },
    body,
  });
const sign = (body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("routes"),
    port: 0,
    agents: 0,
    reconcileIntervalMs: 3_600_000,
  });
  app = createApp(runtime.gyre, { logError: (e) => errors.push(e) });
  repo = gitRepo({ ".circleci/config.yml": CONFIG });
  const created = await call("POST", "/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/api" });
  expect(created.status).toBe(201);
  secret = created.body.webhook_secret;
  expect(
    (await call("POST", "/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/web" })).status,
  ).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("page tokens", () => {
  it("refuses a crafted or foreign page-token with 400 (a crafted one answered 500)", async () => {
    const crafted = [
      Buffer.from(JSON.stringify({ pk: 5 })).toString("base64url"),
      Buffer.from(JSON.stringify({ pk: "x", sk: "y", gsi1pk: "z", gsi1sk: "w" })).toString("base64url"),
      Buffer.from("[]").toString("base64url"),
      "not a token at all",
      "A".repeat(10_000),
      // Project A's own list token, used on project B's list.
      encodePageToken(Index.pipelinesOf("gh/acme/api"), {
        pk: "PIPELINE#00000000-0000-0000-0000-000000000000",
        sk: "PIPELINE",
        gsi1pk: Index.pipelinesOf("gh/acme/api"),
        gsi1sk: "000000000001",
      }),
    ];
    for (const token of crafted) {
      const res = await call(
        "GET",
        `/api/v2/project/gh/acme/web/pipeline?page-token=${encodeURIComponent(token)}`,
      );
      expect(res.status, token.slice(0, 40)).toBe(400);
    }
    expect(errors).toEqual([]);
  });
});

describe("URL-escaped project slugs", () => {
  it.each([
    "/api/v2/project/gh%2Facme%2Fapi",
    "/api/v2/project/gh%2facme%2fapi/pipeline",
    "/api/v2/project/gh/acme%2Fapi/envvar",
    "/api/v2/project/gh%2Facme%2Fapi/checkout-key",
    "/api/v1.1/project/gh%2Facme%2Fapi/ssh-key",
  ])("answers %s as its unescaped form", async (path) => {
    const escaped = await call("GET", path);
    const plain = await call("GET", decodeURIComponent(path));
    expect(escaped.status).toBe(200);
    expect(escaped).toEqual(plain);
  });

  it("leaves a path whose escaped slug is not vcs/org/repo alone", async () => {
    expect((await call("GET", "/api/v2/project/gh%2Facme")).status).toBe(404);
    expect((await call("GET", "/api/v2/project/gh%2Fa%2Fb%2Fc")).status).toBe(404);
  });
});

describe("bounded identifiers", () => {
  const long = "a".repeat(3000);

  it("refuses over-long slugs in every project route with 400 naming the part", async () => {
    for (const path of [
      `/api/v2/project/gh/${long}/api`,
      `/api/v2/project/gh/acme/${long}/pipeline`,
      `/api/v2/project/gh/acme/${long}/envvar`,
      `/api/v2/project/gh/acme/${long}/job/1`,
      `/api/v2/project/gh/acme/${long}/1/artifacts`,
      `/api/v2/project/gh/acme/${long}/checkout-key`,
      `/api/v1.1/project/gh/acme/${long}/1`,
      `/api/v1.1/project/gh/acme/${long}/ssh-key`,
    ]) {
      const res = await call("GET", path);
      expect(res.status, path.slice(0, 60)).toBe(400);
      expect(res.body.message).toMatch(/at most 100 characters/);
      expect(res.body.message.length).toBeLessThan(400);
    }
  });

  it("answers 404 for pipeline and workflow ids that are not UUIDs", async () => {
    for (const path of [
      `/api/v2/pipeline/${long}`,
      `/api/v2/pipeline/${long}/workflow`,
      `/api/v2/workflow/${long}`,
      `/api/v2/workflow/${long}/job`,
      "/api/v2/pipeline/not-a-uuid",
    ]) {
      expect((await call("GET", path)).status, path.slice(0, 40)).toBe(404);
    }
  });

  it("refuses over-long environment variable names, delivery ids and project slugs with 400", async () => {
    const before = await table();
    expect((await call("GET", `/api/v2/project/gh/acme/api/envvar/${long}`)).status).toBe(400);
    expect((await call("DELETE", `/api/v2/project/gh/acme/api/envvar/${long}`)).status).toBe(400);
    expect(
      (await call("POST", "/api/v2/project/gh/acme/api/envvar", { name: long, value: "x" })).status,
    ).toBe(400);
    const body = pushPayload("acme/api", repo.head);
    const res = await deliver(body, { "x-github-delivery": long, "x-hub-signature-256": sign(body) });
    expect(res.status).toBe(400);
    expect(
      (await call("POST", "/api/gyre/projects", { repo_url: repo.path, slug: `gh/acme/${long}` })).status,
    ).toBe(400);
    // A slug derived from the URL is bounded too.
    expect((await call("POST", "/api/gyre/projects", { repo_url: `/tmp/${long}` })).status).toBe(400);
    expect(await table()).toEqual(before);
  });

  it("refuses a webhook whose repository.full_name is 3,000 characters with 400 before any lookup", async () => {
    const payload = JSON.parse(pushPayload("acme/api", repo.head));
    payload.repository.full_name = `acme/${"r".repeat(3000)}`;
    const body = JSON.stringify(payload);
    const res = await deliver(body, {
      "x-github-delivery": "d-long-name",
      "x-hub-signature-256": sign(body),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/repository\.full_name: at most 201 characters/);
    expect(errors).toEqual([]);
  });
});

describe("what a push keeps", () => {
  it("accepts a signed push with a 600 KB commit message, keeping a bounded message", async () => {
    const payload = JSON.parse(pushPayload("acme/api", repo.head));
    payload.head_commit.message = `${"Subject ".repeat(40_000)}\n\n${"body ".repeat(80_000)}`;
    const body = JSON.stringify(payload);
    expect(body.length).toBeGreaterThan(600_000);
    const res = await deliver(body, {
      "x-github-delivery": "d-huge-message",
      "x-hub-signature-256": sign(body),
    });
    expect(res.status).toBe(202);
    const record = await runtime.gyre.aws.dynamo.send(
      new GetCommand({ TableName: runtime.gyre.resources.tableName, Key: Keys.delivery("d-huge-message") }),
    );
    const commit = record.Item!.message.commit as { subject: string; body: string };
    expect(commit.subject.endsWith(TRUNCATED)).toBe(true);
    expect(commit.subject.length).toBe(Limits.commitSubject + TRUNCATED.length);
    expect(commit.body.length).toBe(Limits.commitBody + TRUNCATED.length);
    expect(JSON.stringify(record.Item).length).toBeLessThan(40_000);
  });

  it("refuses a branch name over 255 bytes with 400 naming the limit", async () => {
    const body = pushPayload("acme/api", repo.head, "b".repeat(256));
    const res = await deliver(body, {
      "x-github-delivery": "d-long-branch",
      "x-hub-signature-256": sign(body),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/at most 255 bytes/);
  });

  it("refuses pipeline parameters past CircleCI's limits with 400 naming the limit", async () => {
    const before = await table();
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`p${i}`, i]));
    for (const [parameters, limit] of [
      [many, /at most 100 parameters/],
      [{ ["k".repeat(129)]: "v" }, /128/],
      [{ k: "v".repeat(513) }, /512/],
    ] as const) {
      // The trigger route's schema is the pipeline module's (ParametersSchema): refused, and
      // its messages are that module's.
      const trigger = await call("POST", "/api/v2/project/gh/acme/api/pipeline", {
        branch: "main",
        parameters,
      });
      expect(trigger.status).toBe(400);
      const continued = await call("POST", "/api/v2/pipeline/continue", {
        "continuation-key": "x",
        configuration: "version: 2.1",
        parameters,
      });
      expect(continued.status).toBe(400);
      expect(continued.body.message).toMatch(limit);
    }
    expect(await table()).toEqual(before);
  });
});

describe("v1.1 build details", () => {
  it("labels each action with the node it ran on when the nodes' steps differ", async () => {
    const triggered = await call("POST", "/api/v2/project/gh/acme/api/pipeline", { branch: "main" });
    expect(triggered.status).toBe(201);
    const jobNumber = await waitFor("the job", async () => {
      const workflows =
        (await call("GET", `/api/v2/pipeline/${triggered.body.id}/workflow`)).body.items ?? [];
      if (!workflows[0]) return undefined;
      const jobs = (await call("GET", `/api/v2/workflow/${workflows[0].id}/job`)).body.items ?? [];
      return jobs[0]?.job_number as number | undefined;
    });
    const job = await getJobByNumber(runtime.gyre, "gh/acme/api", jobNumber);
    const at = "2024-05-01T10:00:00.000Z";
    const step = (index: number, status: "success" | "failed") => ({
      index,
      name: `step ${index}`,
      type: "run",
      status,
      startedAt: at,
      endedAt: at,
      exitCode: status === "success" ? 0 : 1,
    });
    const ref = (index: number) => ({ jobId: job.id, attempt: job.attempt, index });
    // Node 0 failed in its first step; node 1 ran both.
    await writeOutput(runtime.gyre, ref(0), { steps: [step(0, "failed")], chunks: [] });
    await writeOutput(runtime.gyre, ref(1), { steps: [step(0, "success"), step(1, "success")], chunks: [] });
    const build = await call("GET", `/api/v1.1/project/gh/acme/api/${jobNumber}`);
    expect(build.status).toBe(200);
    const actions = (
      build.body.steps as { actions: { index: number; step: number; output_url: string }[] }[]
    ).map((s) => s.actions.map((a) => [a.step, a.index, new URL(a.output_url).pathname]));
    const base = `/api/v1.1/project/gh/acme/api/${jobNumber}/output`;
    expect(actions).toEqual([
      [
        [0, 0, `${base}/0/0`],
        [0, 1, `${base}/0/1`],
      ],
      [[1, 1, `${base}/1/1`]],
    ]);
  });
});

describe("schema errors", () => {
  it("answer 400 naming the field and what was expected, and write nothing", async () => {
    const before = await table();
    const cases: [string, string, unknown, RegExp][] = [
      ["POST", "/api/v2/project/gh/acme/api/envvar", { name: 5, value: "x" }, /name: .*expected string/],
      ["POST", "/api/v2/project/gh/acme/api/envvar", { name: "OK", value: 42 }, /value: .*expected string/],
      ["POST", "/api/gyre/projects", { repo_url: 5 }, /repo_url: expected a string/],
      ["POST", "/api/v2/context", { name: "x", owner: "gh/acme" }, /owner: .*expected object/],
      ["POST", "/api/v2/project/gh/acme/api/checkout-key", { type: "rsa" }, /type: expected "deploy-key"/],
      ["POST", "/api/v1.1/project/gh/acme/api/ssh-key", { private_key: ["x"] }, /private_key: /],
      ["POST", "/api/v2/compile-config-with-defaults", { config_yaml: 1 }, /config_yaml: expected a string/],
      ["PUT", "/api/gyre/orbs/acme/tools/1.0.0", { source: 1 }, /source: expected a string/],
    ];
    for (const [method, path, body, expected] of cases) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.message, `${method} ${path}`).toMatch(/^Invalid body: /);
      expect(res.body.message, `${method} ${path}`).toMatch(expected);
    }
    expect(await table()).toEqual(before);
    expect(errors).toEqual([]);
  });

  it("answer 400 naming the field on the builders' storage requests, before any lookup", async () => {
    const node = await registerNode(runtime.gyre, { name: "routes-node" });
    const builder = { "circle-token": node.credential };
    const whose = {
      allocation: {
        workflowId: "6f1c7c2e-4d0b-4d52-9a57-0b7e6f6b1a10",
        jobName: "build",
        jobId: "2a4b6c8d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",
        attempt: 1,
        index: 0,
      },
      node_id: node.node_id,
    };
    const before = await table();
    const cases: [string, unknown, RegExp][] = [
      ["/agent/v1/storage/upload", { ...whose, kind: "tarball" }, /kind: .*"artifact"/],
      ["/agent/v1/storage/upload", { ...whose, kind: "artifact", content_type: 7 }, /content_type: /],
      [
        "/agent/v1/storage/commit",
        { ...whose, kind: "cache", name: "k", sha256: "xyz", bytes: 1 },
        /sha256: 64 lowercase hex digits/,
      ],
      [
        "/agent/v1/storage/commit",
        { ...whose, kind: "workspace", sha256: "a".repeat(64), bytes: -1 },
        /bytes: /,
      ],
      [
        "/agent/v1/storage/commit",
        { ...whose, kind: "artifact", sha256: "a".repeat(64), bytes: 1 },
        /kind: /,
      ],
      ["/agent/v1/caches/lookup", { ...whose, keys: [] }, /keys: /],
      ["/agent/v1/workspace/layers", { ...whose, node_id: "" }, /node_id: /],
      [
        "/agent/v1/timings",
        { allocation: { ...whose.allocation, attempt: 2 ** 60 }, node_id: node.node_id },
        /allocation.attempt: /,
      ],
    ];
    for (const [path, body, expected] of cases) {
      const res = await call("POST", path, body, builder);
      expect(res.status, path).toBe(400);
      expect(res.body.message, path).toMatch(/^Invalid body: /);
      expect(res.body.message, path).toMatch(expected);
    }
    expect(await table()).toEqual(before);
    expect(errors).toEqual([]);
  });
});
