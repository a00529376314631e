import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { CreateProjectBody } from "../protocol/api.ts";
import { z } from "../protocol/schema.ts";
import { getItem } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Index, Keys } from "../table.ts";
import {
  createProject,
  getProject,
  getWebhookSecret,
  listProjects,
  parseSlug,
  reserveNumbers,
  slugForRepo,
} from "./index.ts";

describe("project slugs", () => {
  it.each([
    ["gh/acme/api", { slug: "gh/acme/api", vcsType: "github", org: "acme", name: "api" }],
    ["github/acme/api", { slug: "gh/acme/api", vcsType: "github", org: "acme", name: "api" }],
    ["bb/acme/web.site", { slug: "bb/acme/web.site", vcsType: "bitbucket", org: "acme", name: "web.site" }],
    ["local/me/demo", { slug: "local/me/demo", vcsType: "local", org: "me", name: "demo" }],
  ])("parses %s", (slug, expected) => {
    expect(parseSlug(slug)).toEqual(expected);
  });

  it.each([
    "acme/api",
    "gh/acme",
    "gl/acme/api",
    "gh/acme/api/extra",
    "gh/ac me/api",
    "",
    "gh/acme/..",
    "gh/./api",
  ])("refuses %j with bad_request", (slug) => {
    expect(() => parseSlug(slug)).toThrow(GyreError);
    expect(() => parseSlug(slug)).toThrow(`Invalid project slug "${slug}"`);
  });

  it.each([
    ["https://github.com/acme/api.git", "gh/acme/api"],
    ["https://github.com/acme/api", "gh/acme/api"],
    ["git@github.com:acme/api.git", "gh/acme/api"],
    ["/home/me/src/demo", "local/src/demo"],
    ["/tmp/my repo/", "local/tmp/my-repo"],
    // Never a `.` or `..` part, which every URL naming the project would resolve away.
    ["/srv/git/../api", "local/git/api"],
    ["./demo", "local/local/demo"],
  ])("derives the slug of %s", (url, slug) => {
    expect(slugForRepo(url)).toBe(slug);
  });
});

describe("adding a project's body", () => {
  it.each([
    ["https://x-access-token:ghp_SECRET@github.com/acme/api.git"],
    ["https://ghp_SECRET@github.com/acme/api.git"],
    ["ssh://git:hunter2@git.example.com/acme/api.git"],
  ])("refuses a repository URL carrying a credential, %s, saying where a credential goes", (url) => {
    const parsed = CreateProjectBody.safeParse({ repo_url: url });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/^must not carry a credential \(user:password@\)/);
  });

  it.each([
    ["https://github.com/acme/api.git"],
    ["ssh://git@github.com/acme/api.git"],
    ["git@github.com:acme/api.git"],
    ["/srv/git/api"],
  ])("takes %s", (url) => {
    expect(CreateProjectBody.safeParse({ repo_url: url }).success).toBe(true);
  });

  it.each([
    [
      "not a url at all",
      "expected a git URL (https://…, ssh://…, git@host:org/repo.git) or an absolute path",
    ],
    ["relative/path", "expected a git URL"],
    ["https://github.com/", "names no repository"],
    ["ftp://example.com/acme/api.git", "uses ftp:, which git does not clone from"],
  ])("refuses the repository URL %j: %s", (url, message) => {
    const parsed = CreateProjectBody.safeParse({ repo_url: url });
    expect(parsed.error?.issues[0]?.message).toContain(message);
  });

  it.each(["gh/acme/..", "gh/./api"])("refuses the slug %s", (slug) => {
    expect(CreateProjectBody.safeParse({ repo_url: "/srv/git/api", slug }).success).toBe(false);
  });
});

describe("projects in the table", () => {
  let table: TestTable;
  beforeAll(async () => {
    table = await memoryTable();
  });
  afterAll(async () => {
    await table.close();
  });

  it("creates a project once, reads and lists it, and keeps its webhook secret sealed", async () => {
    const { gyre } = table;
    const { project, webhookSecret } = await createProject(gyre, {
      repoUrl: "https://github.com/acme/api.git",
    });
    expect(project).toMatchObject({ slug: "gh/acme/api", vcsType: "github", defaultBranch: "main" });
    await expect(createProject(gyre, { repoUrl: "/elsewhere", slug: "gh/acme/api" })).rejects.toThrow(
      "already exists",
    );
    expect(await getProject(gyre, "github/acme/api")).toEqual(project);
    expect(await listProjects(gyre)).toEqual([project]);
    expect(await getWebhookSecret(gyre, "gh/acme/api")).toEqual({ project, secret: webhookSecret });
    const item = await getItem(
      gyre,
      Keys.project("gh/acme/api"),
      z.record(z.string(), z.unknown()),
      "project",
    );
    expect(item).toMatchObject({ gsi1pk: Index.projects(), gsi1sk: "gh/acme/api", pipelineCounter: 0 });
    expect(JSON.stringify(item)).not.toContain(webhookSecret);
    await expect(getProject(gyre, "gh/acme/none")).rejects.toThrow("not found");
  });

  it("reserves pipeline and job numbers in blocks", async () => {
    const { gyre } = table;
    await createProject(gyre, { repoUrl: "/src/numbers", slug: "local/src/numbers" });
    expect(await reserveNumbers(gyre, "local/src/numbers", 3, 1, 3)).toEqual({
      pipelineNumber: 1,
      firstJobNumber: 1,
    });
    expect(await reserveNumbers(gyre, "local/src/numbers", 2, 0)).toEqual({
      pipelineNumber: 1,
      firstJobNumber: 4,
    });
    expect((await getProject(gyre, "local/src/numbers")).jobsPerPipeline).toBe(3);
    await expect(reserveNumbers(gyre, "local/src/none", 1)).rejects.toThrow("not found");
  });

  it("hands a burst of concurrent reservations distinct numbers in arrival order, in fewer counter writes than reservations", async () => {
    const { gyre } = table;
    await createProject(gyre, { repoUrl: "/src/burst", slug: "local/src/burst" });
    let updates = 0;
    gyre.aws.dynamo.middlewareStack.add(
      (next, ctx) => (args) => {
        if (/^Update(Item)?Command$/.test(ctx.commandName ?? "")) updates++;
        return next(args);
      },
      { step: "initialize", name: "countUpdates" },
    );
    // Reservation i asks for i % 3 jobs; every fourth joins the last pipeline (no new number).
    const asks = Array.from({ length: 40 }, (_, i) => ({ jobs: i % 3, pipelines: i % 4 === 3 ? 0 : 1 }));
    const answers = await Promise.all(
      asks.map((a) => reserveNumbers(gyre, "local/src/burst", a.jobs, a.pipelines)),
    );
    gyre.aws.dynamo.middlewareStack.remove("countUpdates");
    // As if each had been its own update, one after the other, in the order they were asked.
    let pipeline = 0;
    let job = 0;
    const expected = asks.map((a) => {
      pipeline += a.pipelines;
      const first = job + 1;
      job += a.jobs;
      return { pipelineNumber: pipeline, firstJobNumber: first };
    });
    expect(answers).toEqual(expected);
    expect(updates).toBeLessThan(asks.length);
    expect(updates).toBeGreaterThan(0);
    // The counters hold the sums: the next reservation continues after the burst.
    expect(await reserveNumbers(gyre, "local/src/burst", 1)).toEqual({
      pipelineNumber: pipeline + 1,
      firstJobNumber: job + 1,
    });
    // A burst against a project that does not exist fails every reservation in it.
    const missing = await Promise.allSettled(
      Array.from({ length: 5 }, () => reserveNumbers(gyre, "local/src/none", 1)),
    );
    expect(missing.map((m) => m.status)).toEqual(Array(5).fill("rejected"));
  });
});
