/**
 * Gyre and a GitHub Enterprise Server's API (`/api/v3`), end to end on the local stack against
 * the GitHub stand-in (core/src/github/stand-in.ts: a local server that records requests, never
 * the internet): adding a project installs its webhook and deploy key, removing it removes
 * them; every workflow posts `pending` then its final state once, as `ci/circleci: <workflow>`
 * linking to the workflow; `set_github_status` off posts nothing; a rate limit is waited out; a
 * GitHub that keeps failing never fails the build; posts go through an HTTP proxy when the
 * environment names one; `gyre github resync` builds the branch heads that have no pipeline.
 */
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { main } from "../packages/cli/src/main.ts";
import { api, gitRepo, pushPayload, sign, tempDir, waitFor } from "./support.ts";

const SLUG = "gh/acme/app";
const TOKEN = "ghp_standInToken_0123456789abcdef";
const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
  test:
    machine: true
    steps:
      - run: echo test
  lint:
    machine: true
    steps:
      - run: exit 1
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
  lint:
    jobs: [lint]
`;

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let github: GithubStandIn;
let repo: ReturnType<typeof gitRepo>;
let secret: string;
const logs: string[] = [];

/** What the tests read of Gyre's project answers. */
type Answer = Record<string, unknown> & { webhook_secret: string; github: Record<string, unknown> };

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer };
}

let sequence = 0;
async function push(sha: string, branch = "main") {
  const body = pushPayload("acme/app", sha, branch);
  const response = await fetch(`${runtime.url}/webhooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": `statuses-${++sequence}`,
      "x-hub-signature-256": sign(secret, body),
    },
    body,
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { pipeline_id: string }).pipeline_id;
}

/** The pipeline's workflows once every one of them ended, by name. */
async function finished(pipelineId: string) {
  return waitFor("the workflows to end", async () => {
    const items = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items ?? [];
    if (items.length < 2 || items.some((w) => ["running", "failing", "on_hold"].includes(w.status as string)))
      return undefined;
    return Object.fromEntries(items.map((w) => [w.name as string, w]));
  });
}

const statusesOf = (sha: string) => github.statuses().filter((s) => s.sha === sha);

/** The statuses of `sha` once there are `count`, after a moment in which no more come. */
async function settledStatuses(sha: string, count: number) {
  await waitFor(`${count} statuses of ${sha.slice(0, 8)}`, async () =>
    statusesOf(sha).length >= count ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 500));
  return statusesOf(sha).map((s) => [s.context, s.state]);
}

beforeAll(async () => {
  github = await startGithubStandIn({ basePath: "/api/v3" });
  runtime = await startLocalRuntime({
    dataDir: tempDir("github-statuses"),
    port: 0,
    log: (line) => logs.push(line),
  });
  client = api(runtime.url, runtime.adminToken);
  repo = gitRepo({ ".circleci/config.yml": CONFIG });
});

afterAll(async () => {
  await runtime?.stop();
  await github?.close();
});

describe("adding a GitHub project", () => {
  it("is refused, and nothing is left, when GitHub refuses the webhook", async () => {
    github.answerNext({
      status: 401,
      method: "POST",
      path: /\/hooks$/,
      body: { message: "Bad credentials" },
    });
    const refused = await call("POST", "/api/gyre/projects", {
      repo_url: repo.path,
      slug: SLUG,
      github: { token: "bad", api_url: github.url },
    });
    expect(refused).toEqual({
      status: 422,
      body: {
        message:
          "GitHub refused to add the webhook to acme/app: POST /api/v3/repos/acme/app/hooks: 401 Bad credentials",
      },
    });
    expect((await call("GET", `/api/gyre/projects/${SLUG}`)).status).toBe(404);
  });

  it("installs the webhook (the project's secret, its four events) and the checkout key as a deploy key", async () => {
    github.requests.length = 0;
    const added = await call("POST", "/api/gyre/projects", {
      repo_url: repo.path,
      slug: SLUG,
      github: { token: TOKEN, api_url: github.url },
    });
    expect(added.status).toBe(201);
    secret = added.body.webhook_secret;
    expect(JSON.stringify(added.body)).not.toContain(TOKEN);
    const [hook, key] = github.requests;
    expect(hook).toMatchObject({
      method: "POST",
      path: "/repos/acme/app/hooks",
      body: {
        name: "web",
        active: true,
        events: ["push", "pull_request", "create", "delete"],
        config: { url: `${runtime.url}/webhooks/github`, content_type: "json", secret, insecure_ssl: "0" },
      },
    });
    expect(hook!.headers.authorization).toBe(`token ${TOKEN}`);
    const checkoutKey = (await client.get(`/api/v2/project/${SLUG}/checkout-key`)).body.items![0]!;
    expect(key).toMatchObject({
      method: "POST",
      path: "/repos/acme/app/keys",
      body: { title: `Gyre ${SLUG}`, key: checkoutKey["public-key"], read_only: true },
    });
    expect(added.body.github).toEqual({
      api_url: github.url,
      has_token: true,
      webhook_url: `${runtime.url}/webhooks/github`,
      hook_id: github.hooks[0]!.id,
      deploy_key_id: github.keys[0]!.id,
      deploy_key_fingerprint: checkoutKey.fingerprint,
    });
    expect(added.body.settings).toEqual({
      build_fork_prs: false,
      forked_pr_secrets: false,
      only_build_prs: false,
      set_github_status: true,
      autocancel_builds: false,
    });
    // Read back: the token is never answered.
    const read = await call("GET", `/api/gyre/projects/${SLUG}`);
    expect(read.body.github.has_token).toBe(true);
    expect(JSON.stringify(read.body)).not.toContain(TOKEN);
  });
});

describe("changing a GitHub project", () => {
  it("refuses a new API URL without its token, changing nothing (the stored token goes nowhere else)", async () => {
    const before = (await call("GET", `/api/gyre/projects/${SLUG}`)).body;
    expect(
      await call("PATCH", `/api/gyre/projects/${SLUG}`, {
        settings: { only_build_prs: true },
        github: { api_url: "http://127.0.0.1:9/api/v3" },
      }),
    ).toEqual({
      status: 400,
      body: {
        message: "A new github.api_url needs its github.token too: the stored token is not sent elsewhere.",
      },
    });
    expect((await call("GET", `/api/gyre/projects/${SLUG}`)).body).toEqual(before);
  });
});

describe("commit statuses", () => {
  it("posts each workflow's pending, then its final state, once, linking to the workflow", async () => {
    const pipelineId = await push(repo.head);
    const workflows = await finished(pipelineId);
    expect(workflows.main!.status).toBe("success");
    expect(workflows.lint!.status).toBe("failed");
    const posted = await settledStatuses(repo.head, 4);
    expect(posted.filter(([c]) => c === "ci/circleci: main")).toEqual([
      ["ci/circleci: main", "pending"],
      ["ci/circleci: main", "success"],
    ]);
    expect(posted.filter(([c]) => c === "ci/circleci: lint")).toEqual([
      ["ci/circleci: lint", "pending"],
      ["ci/circleci: lint", "failure"],
    ]);
    const pipeline = (await client.get(`/api/v2/pipeline/${pipelineId}`)).body;
    const success = statusesOf(repo.head).find((s) => s.state === "success")!;
    expect(success).toMatchObject({
      repo: "acme/app",
      description: "Your tests passed on Gyre!",
      target_url: `${runtime.url}/pipelines/${SLUG}/${pipeline.number}/workflows/${workflows.main!.id}`,
    });
    const request = github.requests.find((r) => r.path === `/repos/acme/app/statuses/${repo.head}`)!;
    expect(request.headers.authorization).toBe(`token ${TOKEN}`);
  });

  it("posts nothing with set_github_status off", async () => {
    expect(
      (await call("PATCH", `/api/gyre/projects/${SLUG}`, { settings: { set_github_status: false } })).status,
    ).toBe(200);
    const sha = repo.commit({ "quiet.txt": "1" });
    await finished(await push(sha));
    await new Promise((r) => setTimeout(r, 500));
    expect(statusesOf(sha)).toEqual([]);
    await call("PATCH", `/api/gyre/projects/${SLUG}`, { settings: { set_github_status: true } });
  });

  it("waits out a rate-limit answer, then posts", async () => {
    github.answerNext({
      status: 403,
      method: "POST",
      path: /\/statuses\//,
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(Date.now() / 1000)) },
      body: { message: "API rate limit exceeded for installation ID 1." },
    });
    const sha = repo.commit({ "limited.txt": "1" });
    await finished(await push(sha));
    expect(await settledStatuses(sha, 4)).toHaveLength(4);
    const answers = github.requests.filter((r) => r.path.endsWith(`/statuses/${sha}`)).map((r) => r.status);
    expect(answers[0]).toBe(403);
    expect(answers.filter((s) => s === 201)).toHaveLength(4);
  });

  it("never fails or stalls the build when GitHub keeps failing: retried a few times, then logged", async () => {
    // A project of its own with one workflow: two posts, each tried three times (writes of one
    // token go a second apart, GitHub's advice, so fewer posts make a faster test).
    const slug = "gh/acme/down";
    const down = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo build\nworkflows:\n  main:\n    jobs: [build]\n",
    });
    const added = await call("POST", "/api/gyre/projects", {
      repo_url: down.path,
      slug,
      github: { token: TOKEN, api_url: github.url },
    });
    expect(added.status).toBe(201);
    const warned: string[] = [];
    const spy = vi
      .spyOn(console, "warn")
      .mockImplementation((line: unknown) => void warned.push(String(line)));
    try {
      const failing = { status: 502, method: "POST", path: /\/statuses\//, body: { message: "Bad Gateway" } };
      github.answerNext(...Array.from({ length: 6 }, () => failing));
      const body = pushPayload("acme/down", down.head);
      const delivered = await fetch(`${runtime.url}/webhooks/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": "statuses-down",
          "x-hub-signature-256": sign(added.body.webhook_secret, body),
        },
        body,
      });
      const { pipeline_id } = (await delivered.json()) as { pipeline_id: string };
      const started = Date.now();
      const workflow = await waitFor("the workflow to end", async () => {
        const [w] = (await client.get(`/api/v2/pipeline/${pipeline_id}/workflow`)).body.items ?? [];
        return w && w.status !== "running" ? w : undefined;
      });
      expect(workflow.status).toBe("success");
      // The build waited at most a few seconds for GitHub at each change (FOREGROUND_MS).
      expect(Date.now() - started).toBeLessThan(20_000);
      const said = () =>
        [...logs, ...warned].filter((l) => l.includes(`${down.head.slice(0, 12)} was not posted`));
      await waitFor("both failures to be logged", async () => (said().length >= 2 ? true : undefined));
      expect(said()).toEqual(
        expect.arrayContaining([
          `github: the pending status "ci/circleci: main" of ${slug}@${down.head.slice(0, 12)} was not posted: POST /api/v3/repos/acme/down/statuses/${down.head}: 502 Bad Gateway`,
          `github: the success status "ci/circleci: main" of ${slug}@${down.head.slice(0, 12)} was not posted: POST /api/v3/repos/acme/down/statuses/${down.head}: 502 Bad Gateway`,
        ]),
      );
      expect([...logs, ...warned].join("\n")).not.toContain(TOKEN);
      // Each post was tried three times (two retries), then given up.
      expect(
        github.requests.filter((r) => r.path.endsWith(`/statuses/${down.head}`)).map((r) => r.status),
      ).toEqual([502, 502, 502, 502, 502, 502]);
    } finally {
      spy.mockRestore();
    }
  });

  // Through a proxy, by name: test/proxy.e2e.test.ts (loopback is never proxied).
  it("reaches a GitHub on loopback directly even with HTTP_PROXY set", async () => {
    const seen: string[] = [];
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    proxy.on("connect", (req, socket: Socket, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = req.url!.split(":");
      const upstream = connect(Number(port), host, () => {
        socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      sockets.add(upstream).add(socket);
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
    });
    await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    delete process.env.NO_PROXY;
    try {
      const sha = repo.commit({ "proxied.txt": "1" });
      await finished(await push(sha));
      expect(await settledStatuses(sha, 4)).toHaveLength(4);
      expect(seen).toEqual([]);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      for (const s of sockets) s.destroy();
      proxy.close();
    }
  });
});

describe("gyre github resync", () => {
  it("triggers a pipeline for each branch head that has none", async () => {
    const built = repo.head;
    const missed = repo.commit({ "missed.txt": "a push GitHub could not deliver" });
    github.branches.set(
      "acme/app",
      new Map([
        ["main", built],
        ["feature/missed", missed],
      ]),
    );
    // A branch GitHub has whose head no delivery brought: the push to feature/missed.
    const printed: string[] = [];
    const spy = vi
      .spyOn(console, "log")
      .mockImplementation((line: unknown) => void printed.push(String(line)));
    const env = { GYRE_URL: process.env.GYRE_URL, GYRE_TOKEN: process.env.GYRE_TOKEN };
    process.env.GYRE_URL = runtime.url;
    process.env.GYRE_TOKEN = runtime.adminToken;
    try {
      expect(await main(["github", "resync", SLUG])).toBe(0);
      expect(printed[0]).toMatch(/^feature\/missed {2}[0-9a-f]{12} {2}triggered pipeline [0-9a-f-]{36}$/);
      expect(printed[1]).toBe(`main  ${built.slice(0, 12)}  skipped: its head has a pipeline`);
      expect(printed.at(-1)).toBe(
        `${SLUG}: triggered 1 pipeline for branch heads GitHub's deliveries missed.`,
      );
      const pipelineId = printed[0]!.split(" ").at(-1)!;
      const pipeline = await waitFor("the resynced pipeline", async () => {
        const p = (await client.get(`/api/v2/pipeline/${pipelineId}`)).body;
        return p.state === "created" ? p : undefined;
      });
      expect(pipeline).toMatchObject({ vcs: { branch: "feature/missed", revision: missed } });
      await finished(pipelineId);

      printed.length = 0;
      expect(await main(["github", "resync", SLUG])).toBe(0);
      expect(printed.at(-1)).toBe(`${SLUG}: every branch head has a pipeline; nothing to resync.`);
      expect(github.requests.filter((r) => r.path === "/repos/acme/app/branches").length).toBe(2);
    } finally {
      spy.mockRestore();
      for (const [name, value] of Object.entries(env)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe("removing the project", () => {
  it("removes the webhook and the deploy key, then its records; its history stays and numbers go on", async () => {
    const hookId = github.hooks[0]!.id;
    const keyId = github.keys[0]!.id;
    const last = (await client.get(`/api/v2/project/${SLUG}/pipeline`)).body.items![0]!.number as number;
    await client.post(`/api/v2/project/${SLUG}/envvar`, { name: "GONE", value: "with-the-project" });
    const removed = await call("DELETE", `/api/gyre/projects/${SLUG}`);
    expect(removed).toEqual({
      status: 200,
      body: {
        message: `Project ${SLUG} removed; its pipelines, workflows, jobs and their output are kept.`,
        removed: {
          project: 1,
          env_vars: 1,
          checkout_keys: 1,
          ssh_keys: 0,
          trigger_records: 0,
          open_pull_requests: 0,
        },
        github: { hook_removed: true, deploy_key_removed: true },
      },
    });
    expect(github.requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([
      `/repos/acme/app/hooks/${hookId}`,
      `/repos/acme/app/keys/${keyId}`,
    ]);
    expect(github.hooks.filter((h) => h.repo === "acme/app")).toEqual([]);
    expect(github.keys.filter((k) => k.repo === "acme/app")).toEqual([]);
    expect((await call("GET", `/api/gyre/projects/${SLUG}`)).status).toBe(404);
    expect((await call("DELETE", `/api/gyre/projects/${SLUG}`)).status).toBe(404);

    // Added again (no GitHub this time): its pipelines number on after the last one.
    expect((await call("POST", "/api/gyre/projects", { repo_url: repo.path, slug: SLUG })).status).toBe(201);
    const next = await client.post(`/api/v2/project/${SLUG}/pipeline`, { branch: "main" });
    expect(next.body.number).toBe(last + 1);
    expect((await client.get(`/api/v2/project/${SLUG}/envvar`)).body.items).toEqual([]);
  });
});
