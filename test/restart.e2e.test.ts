/**
 * A restart of the local runtime keeps every pipeline and its output, and a job that was
 * running when Gyre stopped is re-driven by the reconciler instead of staying `running`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { newIntakeMessage } from "../packages/core/src/pipeline/index.ts";
import { recordDelivery } from "../packages/core/src/webhook/github.ts";
import { api, gitRepo, tempDir, trigger, waitFor } from "./support.ts";

const started: LocalRuntime[] = [];
// Jobs run sandboxed with a private /tmp: markers live in a directory every job is shown.
const shared = tempDir("shared");
const start = async (dataDir: string) => {
  const runtime = await startLocalRuntime({
    dataDir,
    port: 0,
    heartbeatSeconds: 2,
    reconcileGraceMs: 1000,
    reconcileIntervalMs: 500,
    agentEnv: { GYRE_SANDBOX_BIND: shared },
  });
  started.push(runtime);
  return { runtime, client: api(runtime.url, runtime.adminToken) };
};

afterEach(async () => {
  for (const r of started.splice(0)) await r.stop();
});

async function workflowOf(client: ReturnType<typeof api>, pipelineId: string) {
  const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
  return workflow!;
}

describe("restarting the local runtime", () => {
  it("keeps pipelines, jobs, output and the admin token", async () => {
    const dataDir = tempDir("restart");
    const repo = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  hi:\n    machine: true\n    steps:\n      - run: echo kept\nworkflows:\n  main:\n    jobs: [hi]\n",
    });
    const first = await start(dataDir);
    await first.client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/kept" });
    const created = await trigger(first.client, "gh/acme/kept");
    await waitFor("success", async () =>
      (await workflowOf(first.client, created.id)).status === "success" ? true : undefined,
    );
    await first.runtime.stop();
    started.length = 0;

    const second = await start(dataDir);
    expect(second.runtime.adminToken).toBe(first.runtime.adminToken);
    const pipeline = (await second.client.get(`/api/v2/pipeline/${created.id}`)).body;
    expect(pipeline).toMatchObject({ id: created.id, number: 1, state: "created" });
    expect((await workflowOf(second.client, created.id)).status).toBe("success");
    const build = (await second.client.get("/api/v1.1/project/gh/acme/kept/1")).body as {
      status: string;
      steps: { actions: { output_url: string }[] }[];
    };
    expect(build.status).toBe("success");
    const output = await second.client.get(new URL(build.steps.at(-1)!.actions[0]!.output_url).pathname);
    expect(output.body).toMatchObject([{ type: "out", message: "kept\n" }]);
    // Numbering continues where it stopped.
    const next = await second.client.post("/api/v2/project/gh/acme/kept/pipeline", { branch: "main" });
    expect(next.body.number).toBe(2);
  });

  it("re-drives a job that was running when Gyre stopped", async () => {
    const dataDir = tempDir("restart-running");
    const marker = join(shared, "started");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1\njobs:\n  slow:\n    machine: true\n    steps:\n      - run: if [ -f ${marker} ]; then echo resumed; else touch ${marker}; sleep 120; fi\nworkflows:\n  main:\n    jobs: [slow]\n`,
    });
    const first = await start(dataDir);
    await first.client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/resume" });
    const created = await first.client.post("/api/v2/project/gh/acme/resume/pipeline", { branch: "main" });
    await waitFor("the job to start", async () => (existsSync(marker) ? true : undefined));
    await first.runtime.stop();
    started.length = 0;

    const second = await start(dataDir);
    const workflow = await waitFor(
      "the re-driven job to finish",
      async () => {
        const w = await workflowOf(second.client, created.body.id as string);
        return ["success", "failed"].includes(w.status as string) ? w : undefined;
      },
      30_000,
    );
    expect(workflow.status).toBe("success");
    const job = (await second.client.get("/api/v2/project/gh/acme/resume/job/1")).body;
    expect(job.status).toBe("success");
  });

  it("turns a push accepted before a stop, but never taken from the in-memory queue, into its pipeline", async () => {
    const dataDir = tempDir("restart-lost-push");
    const repo = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  hi:\n    machine: true\n    steps:\n      - run: echo found again\nworkflows:\n  main:\n    jobs: [hi]\n",
    });
    const first = await start(dataDir);
    await first.client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/lost" });
    // What the webhook does, minus the enqueue that the stop is about to lose.
    const message = newIntakeMessage({
      projectSlug: "gh/acme/lost",
      trigger: { type: "webhook", receivedAt: new Date().toISOString(), actor: "octocat" },
      ref: { branch: "main", revision: repo.head },
    });
    expect(await recordDelivery(first.runtime.gyre, "d-lost", message)).toBe(true);
    await first.runtime.stop();
    started.length = 0;

    const second = await start(dataDir);
    const pipeline = await waitFor("the re-driven pipeline", async () => {
      const p = await second.client.get(`/api/v2/pipeline/${message.pipelineId}`);
      return p.status === 200 ? p.body : undefined;
    });
    expect(pipeline).toMatchObject({
      id: message.pipelineId,
      state: "created",
      vcs: { revision: repo.head },
    });
    expect(
      await waitFor("success", async () =>
        (await workflowOf(second.client, message.pipelineId)).status === "success" ? true : undefined,
      ),
    ).toBe(true);
    // The delivery still counts as seen: a replay of it creates nothing new.
    expect(await recordDelivery(second.runtime.gyre, "d-lost", message)).toBe(false);
  });
});
