/**
 * A builder that must run docker jobs in containers (GYRE_DOCKER_FALLBACK=fail, as on AWS) and
 * finds no Docker engine is unhealthy: it takes no jobs (they wait queued rather than fail) and
 * says so in its health file; once an engine answers, it is healthy again and runs them.
 * Needs podman and runc (CI installs them).
 */
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { startTestEngine, TEST_IMAGE, type TestEngine } from "./support/podman.ts";
import { api, gitRepo, stepOutputs, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let engine: TestEngine | undefined;
const dir = tempDir("health");
const socket = join(dir, "docker.sock"); // dangling until an engine is linked in
const healthFile = join(dir, "health");
const health = () => {
  try {
    return readFileSync(healthFile, "utf8");
  } catch {
    return undefined;
  }
};

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("health-data"),
    port: 0,
    agentEnv: { GYRE_DOCKER_FALLBACK: "fail", GYRE_DOCKER_SOCKET: socket, GYRE_HEALTH_FILE: healthFile },
  });
});

afterAll(async () => {
  await runtime?.stop();
  await engine?.stop();
});

describe("builder health", () => {
  it("takes no docker job without an engine, then runs it once an engine answers", async () => {
    const client = api(runtime.url, runtime.adminToken);
    expect(await waitFor("the builder to report", async () => health() || undefined)).toMatch(
      new RegExp(`^unhealthy: no Docker engine answers at ${socket} \\(.+\\)\\n$`),
    );
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1\njobs:\n  inside:\n    docker:\n      - image: ${TEST_IMAGE}\n    steps:\n      - run: echo in a container\nworkflows:\n  main:\n    jobs: [inside]\n`,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/health" });
    await trigger(client, "gh/acme/health");
    await new Promise((r) => setTimeout(r, 1500));
    expect((await client.get("/api/v2/project/gh/acme/health/job/1")).body.status).toBe("queued");

    engine = await startTestEngine();
    symlinkSync(engine.socket, socket);
    const job = await waitFor(
      "the job to run",
      async () => {
        const j = (await client.get("/api/v2/project/gh/acme/health/job/1")).body;
        return ["success", "failed", "infrastructure_fail"].includes(j.status as string) ? j : undefined;
      },
      45_000,
    );
    expect(job.status).toBe("success");
    expect(health()).toBe("healthy\n");
    const steps = await stepOutputs(client, "gh/acme/health", 1);
    expect(steps[0]!.output).toContain(`Docker: image ${TEST_IMAGE} (local)`);
    expect(steps.at(-1)!.output).toBe("in a container\n");
  });
});
