/**
 * The CircleCI API v2 reads added for clients that call them, on the local stack: an
 * organization's pipelines and one user's, a pipeline by number and its config, collaborations
 * and users (organizations and users by UUID, `started_by` a user's id), the 2019 path of a
 * workflow's jobs, trailing slashes, CORS, and status badges (SVG and PNG).
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser, type User } from "../packages/core/src/auth/index.ts";
import { deterministicUuid } from "../packages/core/src/id.ts";
import { continuationKey } from "../packages/core/src/pipeline/index.ts";
import { updateSettings } from "../packages/core/src/settings/index.ts";
import { badgeSvg } from "../packages/functions/src/http/badges.ts";
import { api, gitRepo, pushPayload, sign, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let admin: ReturnType<typeof api>;
let alice: ReturnType<typeof api>;
let aliceUser: User;
let adminId: string;

/** Succeeds at once, without a builder: a workflow of one no-op job. */
const PASSING = "version: 2.1\njobs:\n  gate:\n    type: no-op\nworkflows:\n  main:\n    jobs: [gate]\n";
/** Waits for ever on an approval (the badge reads running). */
const HELD = "version: 2.1\nworkflows:\n  hold:\n    jobs:\n      - wait:\n          type: approval\n";
/** Does not compile: the pipeline errors. */
const BROKEN = "version: 2.1\nworkflows:\n  main:\n    jobs: [missing]\n";
/** A setup config; its job would need a builder, so the test continues the pipeline itself. */
const SETUP = `version: 2.1
setup: true
jobs:
  generate:
    machine: true
    steps:
      - run: echo generating
workflows:
  setup:
    jobs: [generate]
`;

/** The pipelines of gh/acme in the order they were triggered, as `[slug, number, who]`. */
const acme: [string, number, "admin" | "alice"][] = [];

const pause = () => new Promise((r) => setTimeout(r, 3));

/** What `POST /compile-config-with-defaults` prints for a config (`circleci config process`). */
async function processed(source: string): Promise<string> {
  const answer = await admin.post("/api/v2/compile-config-with-defaults", { config_yaml: source });
  return answer.body["output-yaml"] as string;
}

/** A git repository whose branches each hold their own config. */
function repoWithBranches(main: string, branches: Record<string, string> = {}) {
  const repo = gitRepo({ ".circleci/config.yml": main });
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@localhost", ...args], {
      cwd: repo.path,
    });
  for (const [branch, config] of Object.entries(branches)) {
    git("checkout", "-q", "-b", branch, "main");
    repo.commit({ ".circleci/config.yml": config });
  }
  git("checkout", "-q", "main");
  return repo;
}

async function addProject(slug: string, repoPath: string) {
  const answer = await admin.post("/api/gyre/projects", { repo_url: repoPath, slug });
  expect(answer.status).toBe(201);
  return answer.body;
}

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("reads"), port: 0, agents: 0 });
  admin = api(runtime.url, runtime.adminToken);
  adminId = (await admin.get("/api/v2/me")).body.id as string;
  // Alice, not an administrator, triggers pipelines: every signed-in user may write here.
  await updateSettings(runtime.gyre, { default_project_permission: "write" });
  aliceUser = await createUser(runtime.gyre, { login: "alice", name: "Alice Liddell" });
  alice = api(runtime.url, await createToken(runtime.gyre, aliceUser.id, "test"));

  await addProject("gh/acme/one", repoWithBranches(PASSING).path);
  await addProject("gh/acme/two", repoWithBranches(PASSING).path);
  // 22 pipelines across the two projects, alternating, two of them alice's: past one page.
  for (let i = 0; i < 22; i++) {
    const slug = i % 2 === 0 ? "gh/acme/one" : "gh/acme/two";
    const who = i === 1 || i === 14 ? "alice" : "admin";
    const answer = await (who === "alice" ? alice : admin).post(`/api/v2/project/${slug}/pipeline`, {
      branch: "main",
    });
    expect(answer.status).toBe(201);
    acme.push([slug, answer.body.number as number, who]);
    await pause();
  }
});

afterAll(async () => {
  await runtime?.stop();
});

const numbersOf = (items: Record<string, unknown>[]) =>
  items.map((p) => [p.project_slug as string, p.number as number]);

describe("GET /api/v2/pipeline (listPipelines)", () => {
  const newestFirst = () => [...acme].reverse().map(([slug, number]) => [slug, number] as [string, number]);

  it("lists an organization's pipelines across its projects, newest first, 20 a page", async () => {
    const first = await admin.get("/api/v2/pipeline?org-slug=gh/acme");
    expect(first.status).toBe(200);
    expect(numbersOf(first.body.items!)).toEqual(newestFirst().slice(0, 20));
    expect(first.body.next_page_token).toEqual(expect.any(String));
    const second = await admin.get(
      `/api/v2/pipeline?org-slug=gh/acme&page-token=${first.body.next_page_token}`,
    );
    expect(numbersOf(second.body.items!)).toEqual(newestFirst().slice(20));
    expect(second.body.next_page_token).toBeNull();
  });

  it("keeps its pages in order when pipelines are added between them", async () => {
    const first = await admin.get("/api/v2/pipeline?org-slug=github/acme");
    const added = await admin.post("/api/v2/project/gh/acme/two/pipeline", { branch: "main" });
    acme.push(["gh/acme/two", added.body.number as number, "admin"]);
    const second = await admin.get(
      `/api/v2/pipeline?org-slug=github/acme&page-token=${first.body.next_page_token}`,
    );
    // The page after the first goes on where it ended; the new pipeline heads a new first page.
    const before = [...acme]
      .slice(0, -1)
      .reverse()
      .map(([s, n]) => [s, n]);
    expect(numbersOf(second.body.items!)).toEqual(before.slice(20));
    expect(numbersOf((await admin.get("/api/v2/pipeline?org-slug=gh/acme")).body.items!)[0]).toEqual([
      "gh/acme/two",
      added.body.number,
    ]);
  });

  it("lists only the caller's pipelines with mine=true", async () => {
    const mine = await alice.get("/api/v2/pipeline?org-slug=gh/acme&mine=true");
    const hers = [...acme].reverse().filter(([, , who]) => who === "alice");
    expect(numbersOf(mine.body.items!)).toEqual(hers.map(([s, n]) => [s, n]));
    expect(mine.body.next_page_token).toBeNull();
    expect(mine.body.items!.map((p) => (p.trigger as { actor: unknown }).actor)).toEqual([
      { login: "alice", avatar_url: null },
      { login: "alice", avatar_url: null },
    ]);
  });

  it("without org-slug lists every project's pipelines, newest first", async () => {
    const all = (await admin.get("/api/v2/pipeline")).body.items!;
    const slugs = (await admin.get("/api/gyre/projects")).body.items!.map((p) => p.slug as string);
    const everything = (
      await Promise.all(
        slugs.map(async (s) => (await admin.get(`/api/v2/project/${s}/pipeline`)).body.items!),
      )
    ).flat();
    everything.sort((a, b) => (b.created_at as string).localeCompare(a.created_at as string));
    expect(numbersOf(all)).toEqual(numbersOf(everything.slice(0, 20)));
  });

  it("answers 400 to a malformed org-slug, a mine that is not a boolean and a foreign page token", async () => {
    expect(await admin.get("/api/v2/pipeline?org-slug=acme")).toEqual({
      status: 400,
      body: { message: "Invalid query: org-slug: expected <vcs>/<org>, e.g. gh/acme" },
    });
    expect(await admin.get("/api/v2/pipeline?org-slug=gh/acme&mine=yes")).toEqual({
      status: 400,
      body: { message: "Invalid query: mine: expected true or false" },
    });
    const token = (await admin.get("/api/v2/pipeline?org-slug=gh/acme")).body.next_page_token;
    // A token of the organization's list is not one of the caller's own pipelines.
    expect(await admin.get(`/api/v2/pipeline?org-slug=gh/acme&mine=true&page-token=${token}`)).toEqual({
      status: 400,
      body: { message: "Invalid page-token." },
    });
    expect(await admin.get("/api/v2/pipeline?page-token=bm90LWEtdG9rZW4")).toEqual({
      status: 400,
      body: { message: "Invalid page-token." },
    });
  });

  it("answers 404 for an organization without projects", async () => {
    expect(await admin.get("/api/v2/pipeline?org-slug=gh/nobody")).toEqual({
      status: 404,
      body: { message: "Organization gh/nobody not found." },
    });
  });
});

describe("GET /api/v2/project/{slug}/pipeline/mine (listMyPipelines)", () => {
  it("lists the project's pipelines the caller triggered, newest first", async () => {
    const hers = await alice.get("/api/v2/project/gh/acme/two/pipeline/mine");
    expect(hers.status).toBe(200);
    expect(numbersOf(hers.body.items!)).toEqual([["gh/acme/two", acme[1]![1]]]);
    expect(hers.body.next_page_token).toBeNull();
    const his = await admin.get("/api/v2/project/gh/acme/one/pipeline/mine");
    const expected = [...acme].reverse().filter(([s, , w]) => s === "gh/acme/one" && w === "admin");
    expect(numbersOf(his.body.items!)).toEqual(expected.map(([s, n]) => [s, n]));
  });

  it("answers 404 for an unknown project and 400 for a page token it did not issue", async () => {
    expect(await alice.get("/api/v2/project/gh/acme/none/pipeline/mine")).toEqual({
      status: 404,
      body: { message: "Project gh/acme/none not found." },
    });
    expect(await alice.get("/api/v2/project/gh/acme/one/pipeline/mine?page-token=junk")).toEqual({
      status: 400,
      body: { message: "Invalid page-token." },
    });
  });
});

describe("GET /api/v2/project/{slug}/pipeline/{number} (getPipelineByNumber)", () => {
  it("answers the pipeline with that number, as GET /pipeline/{id} does", async () => {
    const listed = (await admin.get("/api/v2/project/gh/acme/one/pipeline")).body.items![0]!;
    const byNumber = await admin.get(`/api/v2/project/gh%2Facme%2Fone/pipeline/${listed.number}`);
    expect(byNumber).toEqual(await admin.get(`/api/v2/pipeline/${listed.id}`));
    expect(byNumber.body.number).toBe(listed.number);
  });

  it("answers 404 for a number the project has not reached and 400 for one that is not a number", async () => {
    expect(await admin.get("/api/v2/project/gh/acme/one/pipeline/999")).toEqual({
      status: 404,
      body: { message: "Pipeline 999 of project gh/acme/one not found." },
    });
    for (const bad of ["0", "abc", "1e3"])
      expect(await admin.get(`/api/v2/project/gh/acme/one/pipeline/${bad}`)).toEqual({
        status: 400,
        body: { message: "pipeline-number must be a positive integer (at most 12 digits)." },
      });
  });
});

describe("GET /api/v2/pipeline/{id}/config (getPipelineConfigById)", () => {
  it("answers the config source and its compiled form", async () => {
    const { id } = await trigger(admin, "gh/acme/one");
    expect(await admin.get(`/api/v2/pipeline/${id}/config`)).toEqual({
      status: 200,
      body: { source: PASSING, compiled: await processed(PASSING) },
    });
  });

  it("answers the source of a config that did not compile, with an empty compiled config", async () => {
    await addProject("gh/globex/broken", repoWithBranches(BROKEN).path);
    const { id, pipeline } = await trigger(admin, "gh/globex/broken");
    expect(pipeline.state).toBe("errored");
    expect(await admin.get(`/api/v2/pipeline/${id}/config`)).toEqual({
      status: 200,
      body: { source: BROKEN, compiled: "" },
    });
  });

  it("answers a setup pipeline's setup config, then the continuation as its config", async () => {
    await addProject("gh/globex/setup", repoWithBranches(SETUP).path);
    const { id, pipeline } = await trigger(admin, "gh/globex/setup");
    expect(pipeline.state).toBe("setup");
    const setupFields = { "setup-config": SETUP, "compiled-setup-config": await processed(SETUP) };
    expect((await admin.get(`/api/v2/pipeline/${id}/config`)).body).toEqual({
      source: "",
      compiled: "",
      ...setupFields,
    });
    const continued = await admin.post("/api/v2/pipeline/continue", {
      "continuation-key": await continuationKey(runtime.gyre, id),
      configuration: PASSING,
    });
    expect(continued.status).toBe(200);
    expect((await admin.get(`/api/v2/pipeline/${id}/config`)).body).toEqual({
      source: PASSING,
      compiled: await processed(PASSING),
      ...setupFields,
    });
  });

  it("answers 404 for an unknown pipeline", async () => {
    expect(await admin.get("/api/v2/pipeline/6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a/config")).toEqual({
      status: 404,
      body: { message: "Pipeline 6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a not found." },
    });
    expect(await admin.get("/api/v2/pipeline/not-an-id/config")).toEqual({
      status: 404,
      body: { message: "Pipeline not found: its id must be a UUID." },
    });
  });
});

describe("organizations and users", () => {
  it("lists the organizations of the projects as collaborations, each with one UUID", async () => {
    const answer = await alice.get("/api/v2/me/collaborations");
    expect(answer.status).toBe(200);
    const orgs = answer.body as unknown as Record<string, string>[];
    const one = (await alice.get("/api/v2/project/gh/acme/one")).body;
    const two = (await alice.get("/api/v2/project/gh/acme/two")).body;
    const globex = (await alice.get("/api/v2/project/gh/globex/broken")).body;
    expect(one.organization_id).toBe(two.organization_id);
    expect(globex.organization_id).not.toBe(one.organization_id);
    expect(orgs).toEqual([
      { id: one.organization_id, "vcs-type": "github", name: "acme", avatar_url: "", slug: "gh/acme" },
      { id: globex.organization_id, "vcs-type": "github", name: "globex", avatar_url: "", slug: "gh/globex" },
    ]);
    expect(one.organization_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it("answers a user by id, and 404 for an unknown id or one that is not a UUID", async () => {
    expect(await admin.get(`/api/v2/user/${aliceUser.id}`)).toEqual({
      status: 200,
      body: { id: aliceUser.id, login: "alice", name: "Alice Liddell" },
    });
    expect(await admin.get(`/api/v2/user/${adminId.toUpperCase()}`)).toEqual({
      status: 200,
      body: { id: adminId, login: "admin", name: "Administrator" },
    });
    expect(await admin.get("/api/v2/user/6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a")).toEqual({
      status: 404,
      body: { message: "User 6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a not found." },
    });
    expect(await admin.get("/api/v2/user/alice")).toEqual({
      status: 404,
      body: { message: "User alice not found." },
    });
  });

  it("gives a workflow the triggering user's id as started_by", async () => {
    const { id } = await trigger(alice, "gh/acme/one");
    const [workflow] = (await alice.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    expect(workflow!.started_by).toBe(aliceUser.id);
  });

  it("attributes a push to the user with the pusher's login, or to a UUID of the login", async () => {
    const repo = repoWithBranches(PASSING);
    const secret = (await addProject("gh/initech/pushed", repo.path)).webhook_secret as string;
    // Each push a new commit: a head delivered again answers its first pipeline.
    const push = async (pusher: string) => {
      const head = repo.commit({ [`${pusher}.txt`]: pusher });
      const payload = JSON.parse(pushPayload("initech/pushed", head));
      payload.pusher = { name: pusher, email: `${pusher}@localhost` };
      const body = JSON.stringify(payload);
      const answer = await fetch(`${runtime.url}/webhooks/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": `delivery-${pusher}`,
          "x-hub-signature-256": sign(secret, body),
        },
        body,
      });
      expect(answer.status).toBe(202);
      const pipelineId = ((await answer.json()) as { pipeline_id: string }).pipeline_id;
      const [workflow] = await waitFor("the push's workflow", async () => {
        const items = (await admin.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items;
        return items && items.length > 0 ? items : undefined;
      });
      return workflow!.started_by;
    };
    expect(await push("alice")).toBe(aliceUser.id);
    expect(await push("Codertocat")).toBe(deterministicUuid("vcs-user", "github", "Codertocat"));
  });
});

describe("GET /api/v2/workflow/{id}/jobs (the 2019 preview's path)", () => {
  it("answers as GET /workflow/{id}/job does", async () => {
    const { id } = await trigger(admin, "gh/acme/two");
    const [workflow] = (await admin.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    const jobs = await admin.get(`/api/v2/workflow/${workflow!.id}/jobs`);
    expect(jobs).toEqual(await admin.get(`/api/v2/workflow/${workflow!.id}/job`));
    expect(jobs.body.items!.map((j) => [j.name, j.status])).toEqual([["gate", "success"]]);
  });

  it("answers 404 for an unknown workflow", async () => {
    expect(await admin.get("/api/v2/workflow/6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a/jobs")).toEqual({
      status: 404,
      body: { message: "Workflow 6c0b2d63-1a0e-4f43-9a3b-1d2f6f0f1e2a not found." },
    });
  });
});

describe("trailing slashes and CORS", () => {
  it("answers a path with a trailing slash as the path without it", async () => {
    expect(await alice.get("/api/v2/me/")).toEqual(await alice.get("/api/v2/me"));
    expect(await alice.get("/api/v2/me/collaborations/")).toEqual(
      await alice.get("/api/v2/me/collaborations"),
    );
    expect(await admin.get("/api/v2/project/gh/acme/one/pipeline/1/")).toEqual(
      await admin.get("/api/v2/project/gh/acme/one/pipeline/1"),
    );
  });

  it("answers a browser's preflight without a token, allowing the Circle-Token header", async () => {
    for (const path of ["/api/v2/me", "/api/v1.1/project/gh/acme/one/1"]) {
      const answer = await fetch(`${runtime.url}${path}`, {
        method: "OPTIONS",
        headers: {
          origin: "https://dashboard.example",
          "access-control-request-method": "GET",
          "access-control-request-headers": "circle-token",
        },
      });
      expect(answer.status).toBe(204);
      expect(answer.headers.get("access-control-allow-origin")).toBe("*");
      expect(answer.headers.get("access-control-allow-headers")).toBe(
        "Circle-Token,Content-Type,Authorization,Idempotency-Key,X-Client-Trace-Id",
      );
      expect(answer.headers.get("access-control-allow-methods")).toBe(
        "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS",
      );
      expect(answer.headers.get("access-control-max-age")).toBe("600");
    }
  });

  it("lets a browser read answers, errors included", async () => {
    const headers = { origin: "https://dashboard.example" };
    const ok = await fetch(`${runtime.url}/api/v2/me`, {
      headers: { ...headers, "circle-token": runtime.adminToken },
    });
    expect([ok.status, ok.headers.get("access-control-allow-origin")]).toEqual([200, "*"]);
    const refused = await fetch(`${runtime.url}/api/v2/me`, { headers });
    expect([
      refused.status,
      refused.headers.get("access-control-allow-origin"),
      await refused.json(),
    ]).toEqual([401, "*", { message: "You must log in first." }]);
  });
});

describe("status badges", () => {
  const get = (path: string, token = runtime.adminToken) =>
    fetch(`${runtime.url}${path}${path.includes("?") ? "&" : "?"}circle-token=${token}`);

  beforeAll(async () => {
    const repo = repoWithBranches(PASSING, {
      held: HELD,
      broken: BROKEN,
      "feature/x": `# feature\n${PASSING}`,
    });
    await addProject("gh/globex/status", repo.path);
    for (const branch of ["main", "held", "broken", "feature/x"]) {
      const { id } = await trigger(admin, "gh/globex/status", { branch });
      // Wait until the workflow has settled where it stays (success, or on hold).
      await waitFor(`the ${branch} pipeline to settle`, async () => {
        const p = (await admin.get(`/api/v2/pipeline/${id}`)).body;
        if (p.state === "errored") return true;
        const items = (await admin.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
        return items.length > 0 && items.every((w) => ["success", "on_hold"].includes(w.status as string))
          ? true
          : undefined;
      });
    }
    await addProject("gh/initech/idle", repoWithBranches(PASSING).path);
  });

  it("shows the default branch's latest pipeline as CircleCI's svg badge, uncached", async () => {
    const answer = await get("/gh/globex/status.svg");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    expect(answer.headers.get("cache-control")).toBe("no-cache");
    const svg = await answer.text();
    expect(svg).toBe(badgeSvg("svg", "passed"));
    expect(svg).toContain('aria-label="CircleCI: passed"');
    expect(svg).toContain(">PASSED</text>");
  });

  it("shows running, failed and no builds, as an svg or a shield", async () => {
    const cases = [
      ["/gh/globex/status.svg?branch=held", "svg", "running", "RUNNING"],
      ["/gh/globex/status.svg?style=shield&branch=held", "shield", "running", "running"],
      ["/gh/globex/status.svg?branch=broken", "svg", "failed", "FAILED"],
      ["/gh/globex/status.svg?style=shield&branch=broken", "shield", "failed", "failing"],
      ["/gh/globex/status.svg?style=shield", "shield", "passed", "passing"],
      ["/gh/globex/status.svg?branch=quiet", "svg", "none", "NO BUILDS"],
      ["/gh/initech/idle.svg?style=shield", "shield", "none", "no builds"],
    ] as const;
    for (const [path, style, status, word] of cases) {
      const svg = await (await get(path)).text();
      expect([path, svg]).toEqual([path, badgeSvg(style, status)]);
      expect(svg).toContain(`>${word}</text>`);
    }
  });

  it("reads the branch from /tree/{branch}, URL-escaped", async () => {
    expect(await (await get("/gh/globex/status/tree/feature%2Fx.svg?style=shield")).text()).toBe(
      badgeSvg("shield", "passed"),
    );
    expect(await (await get("/gh/globex/status/tree/held.svg")).text()).toBe(badgeSvg("svg", "running"));
  });

  it("renders the same badge as a PNG", async () => {
    for (const [path, style, status] of [
      ["/gh/globex/status.png", "svg", "passed"],
      ["/gh/globex/status.png?style=shield&branch=broken", "shield", "failed"],
    ] as const) {
      const answer = await get(path);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("image/png");
      expect(answer.headers.get("cache-control")).toBe("no-cache");
      const png = Buffer.from(await answer.arrayBuffer());
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // IHDR: the SVG's width and height.
      const width = Number(/width="(\d+)"/.exec(badgeSvg(style, status))![1]);
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([width, 20]);
    }
  });

  it("needs a token: the project is private", async () => {
    const answer = await fetch(`${runtime.url}/gh/globex/status.svg`);
    expect([answer.status, await answer.json()]).toEqual([401, { message: "You must log in first." }]);
    const wrong = await get("/gh/globex/status.svg", "gyre_not-a-token");
    expect([wrong.status, await wrong.json()]).toEqual([401, { message: "Invalid token provided." }]);
  });

  it("answers 400 to an unknown style or a bad branch and 404 to an unknown project", async () => {
    const style = await get("/gh/globex/status.svg?style=flat");
    expect([style.status, await style.json()]).toEqual([
      400,
      { message: "Invalid query: style: expected svg or shield" },
    ]);
    const branch = await get("/gh/globex/status/tree/a..b.svg");
    expect([branch.status, await branch.json()]).toEqual([
      400,
      {
        message:
          "Invalid branch (the path after /tree/): (root): a valid git ref name (no spaces, control characters, ~ ^ : ? * [ \\ or ..)",
      },
    ]);
    const unknown = await get("/gh/globex/nothing.png");
    expect([unknown.status, await unknown.json()]).toEqual([
      404,
      { message: "Project gh/globex/nothing not found." },
    ]);
  });
});
