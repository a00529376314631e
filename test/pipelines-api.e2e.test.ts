/** Listing pipelines through API v2: newest first, pages of 20 with a token, branch filter fills pages. */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const slug = "gh/acme/listing";

// Only an approval job: pipelines are created without any builder work.
const CONFIG = "version: 2.1\nworkflows:\n  hold:\n    jobs:\n      - wait:\n          type: approval\n";

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("listing"), port: 0, agents: 0 });
  client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({ ".circleci/config.yml": CONFIG });
  execFileSync("git", ["branch", "feature"], { cwd: repo.path });
  await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  // The feature pipeline is the oldest: with 22 newer main pipelines, it sits past the first page.
  expect((await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "feature" })).status).toBe(201);
  for (let i = 0; i < 22; i++)
    expect((await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" })).status).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("GET /api/v2/project/{slug}/pipeline", () => {
  it("pages newest first, 20 at a time, with a token to the rest", async () => {
    const first = (await client.get(`/api/v2/project/${slug}/pipeline`)).body;
    expect(first.items!.map((p) => p.number)).toEqual(Array.from({ length: 20 }, (_, i) => 23 - i));
    expect(first.next_page_token).toEqual(expect.any(String));
    const second = (await client.get(`/api/v2/project/${slug}/pipeline?page-token=${first.next_page_token}`))
      .body;
    expect(second.items!.map((p) => p.number)).toEqual([3, 2, 1]);
    expect(second.next_page_token).toBeNull();
  });

  it("finds a branch's pipelines even when they lie beyond the first 20", async () => {
    const feature = (await client.get(`/api/v2/project/${slug}/pipeline?branch=feature`)).body;
    expect(feature.items!.map((p) => [p.number, (p.vcs as { branch: string }).branch])).toEqual([
      [1, "feature"],
    ]);
    expect(feature.next_page_token).toBeNull();
  });

  it("answers 400 to a page token it did not issue", async () => {
    const res = await client.get(`/api/v2/project/${slug}/pipeline?page-token=not-a-token`);
    expect(res).toEqual({ status: 400, body: { message: "Invalid page-token." } });
  });
});
