/**
 * The output API the web app reads (`/api/gyre/projects/{slug}/jobs/{n}/output/...`) on the
 * local stack with a real builder agent: a step's chunks from a chunk number on, each once and
 * dated, `more` and `complete` as a follower needs them, raw downloads of a step and a node, and
 * precise refusals for anything else.
 */
import { issueToken } from "@gyre/core/auth/tokens";
import { createUser } from "@gyre/core/auth/users";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, outputsByName, runPipeline, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let job: number;
const slug = "gh/acme/output";
const base = () => `/api/gyre/projects/${slug}/jobs/${job}/output`;

type Read = {
  chunks: { seq: number; at: string; data: string }[];
  next: number;
  more: boolean;
  complete: boolean;
};

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("job-output"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({
    ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Slowly
          command: for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.4; done
      - run:
          name: Quiet
          command: "true"
workflows:
  main:
    jobs: [build]
`,
  });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  const run = await runPipeline(client, slug);
  expect(run.workflow.status).toBe("success");
  job = run.byName.build!.job_number as number;
});

afterAll(async () => {
  await runtime?.stop();
});

/** The index of a step by name, from the v1.1 build details. */
async function stepIndex(name: string): Promise<number> {
  const build = (await client.get(`/api/v1.1/project/${slug}/${job}`)).body as {
    steps: { name: string; actions: { step: number }[] }[];
  };
  return build.steps.find((s) => s.name === name)!.actions[0]!.step;
}

describe("job output for the web app", () => {
  it("reads a step chunk by chunk from a chunk number: each chunk once, dated, until complete", async () => {
    const step = await stepIndex("Slowly");
    const first = (await client.get(`${base()}/0/${step}?limit=1`)).body as Read;
    expect(first.chunks).toHaveLength(1);
    expect(first).toMatchObject({ next: 1, more: true, complete: false });
    expect(first.chunks[0]!.seq).toBe(0);
    expect(Number.isNaN(Date.parse(first.chunks[0]!.at))).toBe(false);

    const reads = [first];
    while (reads.at(-1)!.more)
      reads.push((await client.get(`${base()}/0/${step}?from=${reads.at(-1)!.next}&limit=1`)).body as Read);
    const last = reads.at(-1)!;
    expect(last.complete).toBe(true);
    const seqs = reads.flatMap((r) => r.chunks.map((c) => c.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const text = reads.flatMap((r) => r.chunks.map((c) => c.data)).join("");
    expect(text).toBe((await outputsByName(client, slug, job)).Slowly);
    expect(text).toContain("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n");

    // Asked again from where it stopped: nothing more, still complete.
    expect((await client.get(`${base()}/0/${step}?from=${last.next}`)).body).toEqual({
      chunks: [],
      next: last.next,
      more: false,
      complete: true,
    });
    // Without a limit: every chunk in one read.
    const all = (await client.get(`${base()}/0/${step}`)).body as Read;
    expect(all.chunks.map((c) => c.data).join("")).toBe(text);
    expect(all.complete).toBe(true);
  });

  it("downloads a step's output and the whole node's, each step under its own header", async () => {
    const outputs = await outputsByName(client, slug, job);
    const step = await stepIndex("Slowly");
    const raw = await fetch(`${runtime.url}${base()}/0/${step}?format=raw`, {
      headers: { "circle-token": runtime.adminToken },
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(raw.headers.get("content-disposition")).toBe(
      `attachment; filename="gh-acme-output-${job}-step${step}.txt"`,
    );
    expect(await raw.text()).toBe(outputs.Slowly);

    const whole = await fetch(`${runtime.url}${base()}/0?format=raw`, {
      headers: { "circle-token": runtime.adminToken },
    });
    expect(whole.headers.get("content-disposition")).toBe(`attachment; filename="gh-acme-output-${job}.txt"`);
    const text = await whole.text();
    expect(text).toContain(`==> Slowly (success, exit 0)\n${outputs.Slowly}`);
    expect(text.indexOf("==> Slowly")).toBeLessThan(text.indexOf("==> Quiet"));
  });

  it("refuses what it cannot answer, naming it", async () => {
    const step = await stepIndex("Slowly");
    expect(await client.get(`${base()}/0/${step}?limit=0`)).toEqual({
      status: 400,
      body: { message: "Invalid query: limit: an integer from 1 to 64" },
    });
    expect((await client.get(`${base()}/0/${step}?limit=65`)).status).toBe(400);
    expect((await client.get(`${base()}/0/${step}?from=-1`)).status).toBe(400);
    expect((await client.get(`${base()}/0/${step}?format=html`)).status).toBe(400);
    expect((await client.get(`${base()}/0/${step}?fromm=1`)).status).toBe(400);
    expect(await client.get(`${base()}/0`)).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining("add ?format=raw") },
    });
    expect(await client.get(`${base()}/3/${step}`)).toEqual({
      status: 404,
      body: { message: `Job ${job} has no parallel run 3.` },
    });
    expect(await client.get(`${base()}/0/999`)).toEqual({
      status: 404,
      body: { message: `Job ${job} has no step 999.` },
    });
    expect((await client.get(`/api/gyre/projects/${slug}/jobs/9999/output/0/0`)).status).toBe(404);
    expect((await client.get(`/api/gyre/projects/gh/acme/nothing/jobs/${job}/output/0/0`)).status).toBe(404);
    expect((await api(runtime.url, "gyre_wrong").get(`${base()}/0/${step}`)).status).toBe(401);
  });

  it("answers only who may view the project: 404 for a user who may not see it, 403 for a status-only token", async () => {
    const step = await stepIndex("Slowly");
    const outsider = await createUser(runtime.gyre, { login: "outsider" });
    const theirs = await issueToken(runtime.gyre, outsider.id, "laptop");
    expect((await api(runtime.url, theirs.token).get(`${base()}/0/${step}`)).status).toBe(404);
    const me = (await client.get("/api/v2/me")).body.id as string;
    const badge = await issueToken(runtime.gyre, me, "badge", { project: { slug, scope: "status" } });
    expect((await api(runtime.url, badge.token).get(`${base()}/0/${step}?format=raw`)).status).toBe(403);
  });
});
