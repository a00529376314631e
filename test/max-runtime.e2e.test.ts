/** A job that runs past the builder's maximum run time is stopped and ends `timedout`. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("maxtime"),
    port: 0,
    agentEnv: { GYRE_MAX_JOB_SECONDS: "2" },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("the maximum run time of a job", () => {
  it("stops a job that runs too long: the job is timedout and the workflow failed", async () => {
    const slug = "gh/acme/forever";
    const repo = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  forever:\n    machine: true\n    steps:\n      - run:\n          name: Forever\n          command: echo started; sleep 120\nworkflows:\n  main:\n    jobs: [forever]\n",
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const job = await waitFor("the job to end", async () => {
      const j = (await client.get(`/api/v2/project/${slug}/job/1`)).body;
      return ["success", "failed", "timedout"].includes(j.status as string) ? j : undefined;
    });
    expect(job.status).toBe("timedout");
    const [workflow] = (await client.get(`/api/v2/pipeline/${created.body.id}/workflow`)).body.items!;
    expect(workflow!.status).toBe("failed");
    const last = (await stepOutputs(client, slug, 1)).at(-1)!;
    expect(last.name).toBe("Forever");
    expect(last.output).toBe(
      "started\n\nGyre: this job reached its maximum run time (2 s) and was stopped.\n",
    );
  });
});
