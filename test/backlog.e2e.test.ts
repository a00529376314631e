/**
 * A backlog on one builder, several times the heartbeat period long, on the local stack with
 * nothing mocked: every job waits in its queue for as long as it takes and runs once, at
 * attempt 1 (an allocation is lost only when its node stops heartbeating, never for waiting).
 * And workflows as CircleCI runs status-form `requires`.
 */
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { encodePageToken } from "../packages/core/src/protocol/page-token.ts";
import { Index } from "../packages/core/src/table.ts";
import { api, gitRepo, runPipeline, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const HEARTBEAT_SECONDS = 2;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("backlog"),
    port: 0,
    agents: 1,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    reconcileGraceMs: 0,
    // A node with room for one medium job at a time: the jobs queue behind each other.
    agentEnv: {
      GYRE_NODE_CPUS: "2",
      GYRE_NODE_MEMORY_MB: "4096",
      GYRE_NODE_RESERVED_CPUS: "0",
      GYRE_NODE_RESERVED_MEMORY_MB: "0",
    },
  });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

async function project(slug: string, config: string) {
  const res = await client.post("/api/gyre/projects", {
    repo_url: gitRepo({ ".circleci/config.yml": config }).path,
    slug,
  });
  expect(res.status).toBe(201);
}

/** The attempts whose output exists for a job, from the bucket (`output/<job>/<attempt>/...`). */
async function attemptsWithOutput(jobId: string): Promise<string[]> {
  const out = await runtime.gyre.aws.s3.send(
    new ListObjectsV2Command({ Bucket: runtime.gyre.resources.bucketName, Prefix: `output/${jobId}/` }),
  );
  return [...new Set((out.Contents ?? []).map((o) => o.Key!.split("/")[2]!))];
}

describe("a backlog several times the heartbeat period", () => {
  it("runs every job once, at attempt 1, however long it waited", async () => {
    const slug = "gh/acme/backlog";
    // 8 jobs of about 2 s each on one builder: the last waits several heartbeat periods in its queue.
    await project(
      slug,
      "version: 2.1\njobs:\n  slow:\n    machine: true\n    steps:\n      - run: sleep 0.5 && echo ran-once\nworkflows:\n  main:\n    jobs: [slow]\n",
    );
    const triggered = await Promise.all(
      Array.from({ length: 8 }, () => client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" })),
    );
    expect(triggered.map((t) => t.status)).toEqual(Array(8).fill(201));
    expect(new Set(triggered.map((t) => t.body.number)).size).toBe(8);
    const started = Date.now();
    const jobs = await waitFor(
      "every job to finish",
      async () => {
        const all = await Promise.all(
          triggered.map(async (t) => {
            const [workflow] = (await client.get(`/api/v2/pipeline/${t.body.id}/workflow`)).body.items ?? [];
            if (!workflow || workflow.status === "running") return undefined;
            return (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items![0];
          }),
        );
        return all.every(Boolean) ? all : undefined;
      },
      120_000,
    );
    expect(Date.now() - started).toBeGreaterThan(3 * HEARTBEAT_SECONDS * 1000);
    expect(jobs.map((j) => j!.status)).toEqual(Array(8).fill("success"));
    for (const job of jobs) {
      const details = (await client.get(`/api/v2/project/${slug}/job/${job!.job_number}`)).body;
      expect(details.parallel_runs).toMatchObject([{ index: 0, status: "success" }]);
      expect(details.messages).toEqual([]);
      // Only attempt 1 ever ran (a second attempt's output would be stored under 2/).
      expect(await attemptsWithOutput(job!.id as string)).toEqual(["1"]);
    }
  });
});

describe("status-form requires", () => {
  it("runs a job that requires its requirement to have failed, and not the one that requires success", async () => {
    const slug = "gh/acme/on-failure";
    await project(
      slug,
      `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: exit 1
  notify:
    machine: true
    steps:
      - run: echo build failed
  deploy:
    machine: true
    steps:
      - run: echo deploying
  report:
    machine: true
    steps:
      - run: echo either way
workflows:
  main:
    jobs:
      - build
      - notify:
          requires:
            - build: failed
      - deploy:
          requires: [build]
      - report:
          requires:
            - build: [success, failed]
`,
    );
    const run = await runPipeline(client, slug);
    expect(run.workflow.status).toBe("failed");
    expect(run.byName.build!.status).toBe("failed");
    expect(run.byName.notify!.status).toBe("success");
    expect(run.byName.report!.status).toBe("success");
    expect(run.byName.deploy!.status).toBe("not_run");
  });

  it("answers a retried trigger with the same Idempotency-Key with the same pipeline", async () => {
    const slug = "gh/acme/idempotent";
    await project(
      slug,
      "version: 2.1\njobs:\n  a:\n    machine: true\n    steps:\n      - run: echo a\nworkflows:\n  main:\n    jobs: [a]\n",
    );
    const headers = { "idempotency-key": "retry-me-123" };
    const [first, second] = await Promise.all([
      client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" }, headers),
      client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" }, headers),
    ]);
    const third = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" }, headers);
    expect(second.body.id).toBe(first.body.id);
    expect(third.body).toMatchObject({ id: first.body.id, number: first.body.number });
    const reused = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "other" }, headers);
    expect(reused).toEqual({
      status: 422,
      body: {
        message:
          "This Idempotency-Key was used for a different trigger request: use a new key for a new request.",
      },
    });
    const other = await trigger(client, slug);
    expect(other.id).not.toBe(first.body.id);
    const list = (await client.get(`/api/v2/project/${slug}/pipeline`)).body.items!;
    expect(list.map((p) => p.id).sort()).toEqual([first.body.id, other.id].sort());
  });

  it("refuses with 400 a page token forged for the right list but naming no position of it", async () => {
    const slug = "gh/acme/idempotent";
    const list = Index.pipelinesOf(slug);
    for (const key of [
      { pk: list, sk: "y" },
      { pk: "PIPELINE#x", sk: "PIPELINE", gsi1pk: list, gsi1sk: "zz" },
    ]) {
      const res = await client.get(
        `/api/v2/project/${slug}/pipeline?page-token=${encodePageToken(list, key)}`,
      );
      expect(res.status === 400 || res.status === 200).toBe(true);
      if (res.status === 400) expect(res.body).toEqual({ message: "Invalid page-token." });
    }
    const forged = encodePageToken(list, { pk: list, sk: "y" });
    expect((await client.get(`/api/v2/project/${slug}/pipeline?page-token=${forged}`)).status).toBe(400);
  });
});
