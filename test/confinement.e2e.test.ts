/**
 * File steps run in the agent, outside the job's sandbox: a job must not be able to make the
 * agent upload the builder's secrets (here, by a symlink to the data directory's master key),
 * while its own files, /tmp included, upload as usual.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("confine"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("file steps in a sandboxed job", () => {
  it("upload the job's own files (also from /tmp) and refuse a symlink to the builder's secrets", async () => {
    const slug = "gh/acme/confine";
    const key = join(runtime.dataDir, "master.key");
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  smuggle:
    machine: true
    steps:
      - run:
          name: Prepare
          command: |
            mkdir -p /tmp/out
            echo "report" > /tmp/out/report.txt
            ln -s ${key} leak.bin
      - store_artifacts:
          path: /tmp/out
          destination: reports
      - store_artifacts:
          path: leak.bin
workflows:
  main:
    jobs: [smuggle]
`,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const job = await waitFor("the job to finish", async () => {
      const j = (await client.get(`/api/v2/project/${slug}/job/1`)).body;
      return ["success", "failed"].includes(j.status as string) ? j : undefined;
    });
    expect(created.status).toBe(201);
    expect(job.status).toBe("failed");
    const artifacts = (await client.get(`/api/v2/project/${slug}/1/artifacts`)).body.items!;
    expect(artifacts.map((a) => a.path)).toEqual(["reports/report.txt"]);
    const last = (await stepOutputs(client, slug, 1)).at(-1)!;
    expect(last).toEqual({
      name: "Uploading artifacts",
      status: "failed",
      output:
        "Gyre: leak.bin is outside this job's directories (its working directory, HOME and /tmp); builders do not read or write anywhere else.\n",
    });
  });
});
