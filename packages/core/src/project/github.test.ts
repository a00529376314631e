/**
 * A project's settings, its GitHub connection (the token sealed, opened only for the client),
 * its open pull requests and its removal, over the in-memory table.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setEnvVar } from "../envvar/index.ts";
import { z } from "../protocol/schema.ts";
import { getItem, putItem } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Index, Keys } from "../table.ts";
import { githubConnection } from "./github.ts";
import {
  createProject,
  DEFAULT_SETTINGS,
  defaultApiUrl,
  deleteProject,
  findProject,
  getProject,
  listProjects,
  reserveNumbers,
  updateProjectGithub,
  updateProjectSettings,
} from "./index.ts";
import {
  forgetBranch,
  forgetPullRequest,
  openPullRequests,
  pullRequestsOfBranch,
  recordPullRequest,
} from "./pull-requests.ts";

const TOKEN = "ghp_sealedTokenValue_987654321";
let table: TestTable;
beforeAll(async () => {
  table = await memoryTable();
});
afterAll(async () => {
  await table.close();
});

const raw = (slug: string) =>
  getItem(table.gyre, Keys.project(slug), z.record(z.string(), z.unknown()), "project");

describe("the GitHub API a repository implies", () => {
  it.each([
    ["https://github.com/acme/api.git", "https://api.github.com"],
    ["git@github.com:acme/api.git", "https://api.github.com"],
    ["ssh://git@GitHub.com/acme/api.git", "https://api.github.com"],
    ["https://ghe.example.com/acme/api.git", "https://ghe.example.com/api/v3"],
    ["git@ghe.example.com:acme/api.git", "https://ghe.example.com/api/v3"],
    ["https://user:pw@ghe.example.com/acme/api", "https://ghe.example.com/api/v3"],
    ["/srv/git/api", undefined],
    ["file:///srv/git/api", undefined],
  ])("%s: %s", (url, api) => {
    expect(defaultApiUrl(url)).toBe(api);
  });
});

describe("settings", () => {
  it("start at CircleCI's defaults and change one at a time", async () => {
    const { gyre } = table;
    const { project } = await createProject(gyre, { repoUrl: "/src/settings", slug: "gh/acme/settings" });
    expect(project.settings).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toEqual({
      buildForkPrs: false,
      forkedPrSecrets: false,
      onlyBuildPrs: false,
      setGithubStatus: true,
      autocancelBuilds: false,
    });
    await updateProjectSettings(gyre, project.slug, { buildForkPrs: true });
    await updateProjectSettings(gyre, project.slug, { setGithubStatus: false });
    expect((await getProject(gyre, project.slug)).settings).toEqual({
      ...DEFAULT_SETTINGS,
      buildForkPrs: true,
      setGithubStatus: false,
    });
    await expect(updateProjectSettings(gyre, "gh/acme/none", { onlyBuildPrs: true })).rejects.toThrow(
      "not found",
    );
  });

  it("may be given when the project is added", async () => {
    const { project } = await createProject(table.gyre, {
      repoUrl: "/src/given",
      slug: "gh/acme/given",
      settings: { onlyBuildPrs: true },
    });
    expect(project.settings).toEqual({ ...DEFAULT_SETTINGS, onlyBuildPrs: true });
  });
});

describe("the GitHub connection", () => {
  it("keeps the token sealed, shows only that there is one, and opens it for the client", async () => {
    const { gyre } = table;
    const { project } = await createProject(gyre, {
      repoUrl: "https://ghe.example.com/acme/api.git",
      slug: "gh/acme/api",
      github: { token: TOKEN },
    });
    expect(project.github).toEqual({ apiUrl: "https://ghe.example.com/api/v3", hasToken: true });
    expect(JSON.stringify(project)).not.toContain(TOKEN);
    expect(JSON.stringify(await raw(project.slug))).not.toContain(TOKEN);
    expect(await githubConnection(gyre, project.slug)).toEqual({
      apiUrl: "https://ghe.example.com/api/v3",
      token: TOKEN,
    });
    await updateProjectGithub(gyre, project.slug, { apiUrl: "http://127.0.0.1:9/api/v3", hookId: 7 });
    expect((await getProject(gyre, project.slug)).github).toEqual({
      apiUrl: "http://127.0.0.1:9/api/v3",
      hasToken: true,
      hookId: 7,
    });
    await updateProjectGithub(gyre, project.slug, { hookId: null });
    expect((await getProject(gyre, project.slug)).github?.hookId).toBeUndefined();
  });

  it("is none for a project without a token, a local project or one that is gone", async () => {
    const { gyre } = table;
    await createProject(gyre, { repoUrl: "https://github.com/acme/tokenless.git" });
    expect(await githubConnection(gyre, "gh/acme/tokenless")).toBeUndefined();
    expect((await getProject(gyre, "gh/acme/tokenless")).github).toEqual({
      apiUrl: "https://api.github.com",
      hasToken: false,
    });
    // A local project has no GitHub connection, and cannot be given one.
    await expect(
      createProject(gyre, { repoUrl: "/src/local", slug: "local/src/local", github: { token: TOKEN } }),
    ).rejects.toThrow("only a GitHub project");
    const { project } = await createProject(gyre, { repoUrl: "/src/local", slug: "local/src/local" });
    expect(project.github).toBeUndefined();
    expect(await githubConnection(gyre, project.slug)).toBeUndefined();
    expect(await githubConnection(gyre, "gh/acme/none")).toBeUndefined();
  });
});

describe("open pull requests", () => {
  it("are recorded, listed by branch (forks apart) and forgotten when closed or their branch goes", async () => {
    const { gyre } = table;
    const slug = "gh/acme/pulls";
    const at = (number: number, branch: string, fork?: { username: string; reponame: string }) => ({
      number,
      url: `https://github.com/acme/pulls/pull/${number}`,
      branch,
      headSha: "a".repeat(40),
      updatedAt: new Date(0).toISOString(),
      ...(fork ? { fork } : {}),
    });
    await recordPullRequest(gyre, slug, at(12, "feature"));
    await recordPullRequest(gyre, slug, at(3, "feature"));
    await recordPullRequest(gyre, slug, at(4, "pull/4", { username: "forker", reponame: "pulls" }));
    await recordPullRequest(gyre, slug, at(12, "feature"));
    expect((await openPullRequests(gyre, slug)).map((p) => p.number)).toEqual([3, 4, 12]);
    expect((await pullRequestsOfBranch(gyre, slug, "feature")).map((p) => p.number)).toEqual([3, 12]);
    expect(await pullRequestsOfBranch(gyre, slug, "pull/4")).toEqual([]);
    await forgetPullRequest(gyre, slug, 3);
    expect(await forgetBranch(gyre, slug, "feature")).toBe(1);
    expect((await openPullRequests(gyre, slug)).map((p) => p.number)).toEqual([4]);
  });
});

describe("removing a project", () => {
  it("removes everything in its partition and says what, and a project added again numbers on", async () => {
    const { gyre } = table;
    const slug = "gh/acme/removed";
    await createProject(gyre, { repoUrl: "/src/removed", slug, github: { token: TOKEN } });
    await setEnvVar(gyre, slug, { name: "ONE", value: "value-one" });
    await setEnvVar(gyre, slug, { name: "TWO", value: "value-two" });
    await recordPullRequest(gyre, slug, {
      number: 1,
      url: "u",
      branch: "b",
      headSha: "a".repeat(40),
      updatedAt: new Date(0).toISOString(),
    });
    await reserveNumbers(gyre, slug, 3);
    // What the pipeline and job lists hold of it stays; a new project numbers on after it.
    await putItem(gyre, {
      pk: "PIPELINE#p1",
      sk: "PIPELINE",
      gsi1pk: Index.pipelinesOf(slug),
      gsi1sk: "000000000041",
      number: 41,
    });
    await putItem(gyre, {
      pk: "WORKFLOW#w1",
      sk: "JOB#x",
      gsi1pk: Index.jobsOf(slug),
      gsi1sk: "000000000077",
      number: 77,
    });

    expect(await deleteProject(gyre, slug)).toEqual({ PROJECT: 1, ENVVAR: 2, PULL: 1 });
    expect(await findProject(gyre, slug)).toBeUndefined();
    expect((await listProjects(gyre)).map((p) => p.slug)).not.toContain(slug);
    expect(await raw(slug)).toBeUndefined();
    await expect(deleteProject(gyre, slug)).rejects.toThrow("not found");

    await createProject(gyre, { repoUrl: "/src/removed", slug });
    expect(await reserveNumbers(gyre, slug, 1)).toEqual({ pipelineNumber: 42, firstJobNumber: 78 });
  });
});
