import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Gyre } from "../context.ts";
import { cancelJob, cancelWorkflow } from "../dispatch/actions.ts";
import { claimAllocation, finishAllocation } from "../dispatch/allocation.ts";
import { rerunWorkflow } from "../dispatch/rerun.ts";
import { type DispatchWorld, dispatchWorld } from "../dispatch/test-world.ts";
import { getWorkflow, readWorkflow } from "../workflow/index.ts";
import { deleteJob, parseBuildRef } from "./delete.ts";

describe("parseBuildRef: the build `gyre build delete` is given", () => {
  it.each([
    ["gh/acme/api/12", "gh/acme/api", 12, undefined],
    [" gh/acme/api/12 ", "gh/acme/api", 12, undefined],
    ["https://ci.example.com/gh/acme/api/1234", "gh/acme/api", 1234, "https://ci.example.com"],
    ["https://ci.example.com/api/v1.1/project/gh/acme/api/7", "gh/acme/api", 7, "https://ci.example.com"],
    [
      "https://ci.example.com/api/v2/project/github/acme/api/job/8",
      "github/acme/api",
      8,
      "https://ci.example.com",
    ],
    [
      "http://127.0.0.1:8080/pipelines/gh/acme/api/3/workflows/5f0c-uuid/jobs/9",
      "gh/acme/api",
      9,
      "http://127.0.0.1:8080",
    ],
    [
      "https://CI.example.com:443/pipelines/local/examples/demo/1/workflows/x/jobs/2",
      "local/examples/demo",
      2,
      "https://ci.example.com",
    ],
  ])("%s", (input, slug, number, origin) => {
    expect(parseBuildRef(input)).toEqual(origin ? { slug, number, origin } : { slug, number });
  });

  it.each([
    "gh/acme/api",
    "gh/acme/api/0",
    "gh/acme/api/x",
    "xx/acme/api/3",
    "gh/acme/api/12/extra",
    "https://ci.example.com/gh/acme",
    "https://ci.example.com/api/v2/project/gh/acme/api/pipeline/3",
    // Another host's build without the scheme: not one of this Gyre's.
    "other.example.com/pipelines/gh/acme/api/3/workflows/x/jobs/12",
    "",
  ])("refuses %j, saying what it wants", (input) => {
    expect(() => parseBuildRef(input)).toThrow(/Not a build: .* Give <vcs>\/<org>\/<repo>\/<job number>/);
  });
});

describe("deleteJob: the workflow of a deleted job", () => {
  /** Two jobs, and a workflow of those `jobs` (YAML flow style) name. */
  const config = (jobs: string) => `version: 2.1
jobs:
  build: { docker: [{ image: cimg/base:stable }], steps: [{ run: echo build }] }
  deploy: { docker: [{ image: cimg/base:stable }], steps: [{ run: echo deploy }] }
workflows:
  main: { jobs: ${jobs} }
`;
  const ONE = config("[build]");
  const CHAIN = config("[build, { deploy: { requires: [build] } }]");
  const SLUG = "gh/acme/widgets";
  let world: DispatchWorld;
  /** The world's Gyre with a bucket that holds nothing (the job's objects are not the point here). */
  let gyre: Gyre;
  beforeEach(async () => {
    world = await dispatchWorld();
    const s3 = { send: async () => ({ Contents: [], IsTruncated: false }) };
    gyre = { ...world.gyre, aws: Object.defineProperty(Object.create(world.gyre.aws), "s3", { value: s3 }) };
  });
  afterEach(async () => {
    await world.close();
  });

  it("keeps a canceled workflow's stopped_at when its only job is deleted", async () => {
    const { workflowIds } = await world.pipeline(ONE);
    const id = workflowIds[0]!;
    world.setNow(Date.parse("2026-01-01T00:05:00.000Z"));
    expect(await cancelWorkflow(gyre, id, "u-1")).toBe("canceled");
    const before = await getWorkflow(gyre, id);
    expect(before.stoppedAt).toBe("2026-01-01T00:05:00.000Z");
    world.setNow(Date.parse("2026-01-02T00:00:00.000Z"));
    await deleteJob(gyre, SLUG, 1);
    expect((await readWorkflow(gyre, id)).jobs).toEqual([]);
    expect(await getWorkflow(gyre, id)).toMatchObject({ status: "canceled", stoppedAt: before.stoppedAt });
  });

  it("keeps the stop of a workflow whose jobs left never ran (a canceled job's dependents, not_run)", async () => {
    const { workflowIds } = await world.pipeline(CHAIN);
    const id = workflowIds[0]!;
    world.setNow(Date.parse("2026-01-01T00:07:00.000Z"));
    await cancelJob(gyre, await world.job(id, "build"), "u-1");
    const before = await getWorkflow(gyre, id);
    expect(before).toMatchObject({ status: "canceled", stoppedAt: "2026-01-01T00:07:00.000Z" });
    expect((await world.job(id, "deploy")).status).toBe("not_run");
    await deleteJob(gyre, SLUG, 1);
    // The deleted job still counts: the workflow stays as it ended (canceled), not `not_run`.
    expect(await getWorkflow(gyre, id)).toMatchObject({ status: "canceled", stoppedAt: before.stoppedAt });
  });

  it("keeps a failed workflow failed when its failed job is deleted, and refuses to rerun it", async () => {
    const { workflowIds } = await world.pipeline(config("[build, deploy]"));
    const id = workflowIds[0]!;
    for (let i = 0; i < 2; i++) {
      const message = (await world.take())!;
      await claimAllocation(gyre, {
        allocation: message.allocation,
        node_id: "n-1",
        task_token: message.taskToken,
      });
      const status = message.allocation.jobName === "build" ? "failed" : "success";
      await finishAllocation(gyre, {
        allocation: message.allocation,
        node_id: "n-1",
        status,
        chunks: [],
        steps: [],
        parallelism: 1,
      });
      await world.finalized(message.allocation);
    }
    expect((await getWorkflow(gyre, id)).status).toBe("failed");
    const build = await world.job(id, "build");
    await deleteJob(gyre, SLUG, build.number);
    expect((await readWorkflow(gyre, id)).jobs.map((j) => j.name)).toEqual(["deploy"]);
    expect((await getWorkflow(gyre, id)).status).toBe("failed");
    await expect(rerunWorkflow(gyre, id, {}, { id: "u-1", login: "ada", admin: true })).rejects.toThrow(
      "Workflow main cannot be rerun: its job build was deleted, and with it its definition. Trigger a new pipeline instead.",
    );
  });
});
