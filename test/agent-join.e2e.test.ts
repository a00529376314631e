/**
 * `gyre agent --server --token`: a builder joins a running Gyre with nothing but its URL and
 * the join token, offers the classes it is told, runs their jobs, and on SIGTERM drains and
 * leaves. A real CLI process, a real agent, the local stack.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, runPipeline, tempDir, waitFor } from "./support.ts";

const CLI = join(import.meta.dirname, "..", "packages", "cli", "src", "main.ts");
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("join"), port: 0, agents: 0, heartbeatSeconds: 3 });
  client = api(runtime.url, runtime.adminToken);
});
afterAll(async () => {
  await runtime?.stop();
});

function gyre(args: string[]): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  let output = "";
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    env: {
      ...process.env,
      GYRE_NODE_CPUS: "2",
      GYRE_NODE_MEMORY_MB: "4096",
      GYRE_NODE_RESERVED_CPUS: "0",
      GYRE_NODE_RESERVED_MEMORY_MB: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return { child, output: () => output, exit: new Promise((ok) => child.on("exit", ok)) };
}

describe("gyre agent --server --token", () => {
  it("joins with the join token alone, offers the classes asked for, runs a job, and leaves on SIGTERM", async () => {
    const token = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    const agent = gyre([
      "agent",
      "--server",
      runtime.url,
      "--token",
      token,
      "--classes",
      "small",
      "--name",
      "joined-1",
      "--work-dir",
      tempDir("join-work"),
    ]);
    const node = await waitFor("the joined node", async () => {
      const items = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
      return items.find((n) => n.name === "joined-1");
    });
    expect(node).toMatchObject({ status: "ready", classes: { small: { cpus: 1, memory_mb: 2048 } } });
    const repo = gitRepo({
      ".circleci/config.yml":
        "version: 2.1\njobs:\n  build:\n    machine: true\n    resource_class: small\n    steps:\n      - run: echo joined\nworkflows:\n  main:\n    jobs: [build]\n",
    });
    expect(
      (await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/joined" })).status,
    ).toBe(201);
    const { byName } = await runPipeline(client, "gh/acme/joined");
    expect(byName.build?.status).toBe("success");
    agent.child.kill("SIGTERM");
    expect(await agent.exit).toBe(0);
    expect(agent.output()).toContain(`agent joined-1: drained; node ${node.id} left`);
    const after = (await client.get("/api/gyre/nodes")).body.items as Record<string, unknown>[];
    expect(after.find((n) => n.id === node.id)).toMatchObject({
      status: "down",
      left_at: expect.any(String),
    });
  });

  it("says what is wrong with a bad token or an unknown class, and exits 1", async () => {
    const bad = gyre(["agent", "--server", runtime.url, "--token", "not-a-token"]);
    expect(await bad.exit).toBe(1);
    expect(bad.output()).toBe("gyre: Invalid token provided.\n");
    const token = readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim();
    const unknown = gyre([
      "agent",
      "--server",
      runtime.url,
      "--token",
      token,
      "--classes",
      "gpu.nvidia.small",
    ]);
    expect(await unknown.exit).toBe(1);
    expect(unknown.output()).toContain(
      "No queue for resource class gpu.nvidia.small: the server has small, medium, medium+, large, xlarge, 2xlarge.",
    );
  });
});
