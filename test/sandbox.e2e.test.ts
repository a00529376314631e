/**
 * Job isolation end to end: the local runtime with real builder agents running jobs under
 * bubblewrap and cgroups. Each job here tries to reach something it must not (the data
 * directory's keys and tokens, another job's directory, the host's /tmp, the network, more
 * memory than its class) and the test checks it could not, then that an ordinary job still
 * checks out and runs. Needs bwrap (CI installs it): without it every job here is refused.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalKeyPort } from "@gyre/core/secret/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

const started: LocalRuntime[] = [];
let runtime: LocalRuntime;

async function start(agentEnv: Record<string, string>, agents = 1) {
  const r = await startLocalRuntime({
    dataDir: tempDir("sandbox"),
    port: 0,
    heartbeatSeconds: 5,
    agents,
    agentEnv,
  });
  started.push(r);
  return r;
}

beforeAll(async () => {
  runtime = await start(
    {
      GYRE_SANDBOX_NETWORK: "none",
      GYRE_RESOURCE_CLASSES: JSON.stringify({ small: { cpus: 1, memoryMb: 64, pids: 200 } }),
    },
    2,
  );
  // The master key is created on first use: make sure there is one to steal.
  await new LocalKeyPort(runtime.dataDir).generateDataKey();
});

afterAll(async () => {
  for (const r of started) await r.stop();
});

const machineJobs = (jobs: Record<string, string>, resourceClass?: string) =>
  `version: 2.1
jobs:
${Object.entries(jobs)
  .map(
    ([name, command]) => `  ${name}:
    machine: true${resourceClass ? `\n    resource_class: ${resourceClass}` : ""}
    steps:
      - run: |
${command
  .split("\n")
  .map((l) => `          ${l}`)
  .join("\n")}`,
  )
  .join("\n")}
workflows:
  main:
    jobs: [${Object.keys(jobs).join(", ")}]
`;

let projects = 0;

/** Adds a project with `config`, triggers it and waits for its workflow to end. */
async function runPipeline(on: LocalRuntime, config: string, files: Record<string, string> = {}) {
  const client = api(on.url, on.adminToken);
  const slug = `gh/sandbox/p${++projects}`;
  const repo = gitRepo({ ".circleci/config.yml": config, ...files });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  const pipeline = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
  expect(pipeline.status).toBe(201);
  const { workflow, jobs } = await waitFor(
    "the workflow to finish",
    async () => {
      const [wf] = (await client.get(`/api/v2/pipeline/${pipeline.body.id}/workflow`)).body.items!;
      if (!wf || !["success", "failed"].includes(wf.status as string)) return undefined;
      return { workflow: wf, jobs: (await client.get(`/api/v2/workflow/${wf.id}/job`)).body.items! };
    },
    45_000,
  );
  const output = async (name: string) => {
    const job = jobs.find((j) => j.name === name)!;
    const steps = (await stepOutputs(client, slug, job.job_number as number)).map((s) => s.output);
    return { status: job.status as string, steps, all: steps.join("") };
  };
  return { workflow, jobs, output, repo };
}

describe("the job sandbox", () => {
  it("keeps the data directory's keys and tokens out of a job's reach", async () => {
    const data = runtime.dataDir;
    const { output } = await runPipeline(
      runtime,
      machineJobs({
        steal: [
          `base64 -w0 ${data}/master.key || true`,
          `cat ${data}/admin-token ${data}/builder-token || true`,
          `ls -a ${data} || true`,
          `cat /proc/1/environ | tr '\\0' '\\n' | grep GYRE_AGENT_TOKEN || echo no agent token`,
        ].join("\n"),
      }),
    );
    const job = await output("steal");
    expect(job.status).toBe("success");
    expect(job.all).toContain(`${data}/master.key: No such file or directory`);
    expect(job.all).toContain(`${data}/admin-token: No such file or directory`);
    expect(job.all).toContain("no agent token");
    const key = readFileSync(join(data, "master.key"));
    expect(key.length).toBe(32);
    for (const secret of [
      key.toString("base64"),
      readFileSync(join(data, "admin-token"), "utf8").trim(),
      readFileSync(join(data, "builder-token"), "utf8").trim(),
    ])
      expect(job.all).not.toContain(secret);
    // What the job saw of the data directory: the path down to its own directory, nothing else.
    expect(job.steps[1]).toMatch(/^\.\n\.\.\nwork\n/m);
  });

  it("does not show a job another job's directory, even while both run", async () => {
    const work = join(runtime.dataDir, "work");
    const run = runPipeline(
      runtime,
      machineJobs({
        holder: "echo OTHER-JOB-SECRET > ~/secret\nsleep 4",
        snoop: `sleep 2\nls ${work}\ncat ${work}/*/home/secret || true`,
      }),
    );
    // Both jobs' directories exist on the host at once: they really ran side by side.
    await waitFor("both jobs to run", async () => {
      const n = existsSync(work) ? readdirSync(work).length : 0;
      return n >= 2 ? true : undefined;
    });
    const { output } = await run;
    const snoop = await output("snoop");
    expect(snoop.status).toBe("success");
    expect(snoop.all).not.toContain("OTHER-JOB-SECRET");
    expect(snoop.all).toContain("No such file or directory");
    const listed = snoop.steps[1]!.split("\n")[0]!;
    expect(listed).toMatch(/^[0-9a-f-]+-\d+-\d+$/);
    expect(readdirSync(work)).toEqual([]);
  });

  it("gives a job its own /tmp, gone from the host afterwards", async () => {
    const name = `gyre-sandbox-e2e-${process.pid}-${Date.now()}`;
    const { output } = await runPipeline(
      runtime,
      machineJobs({
        scratch: `echo scratch > /tmp/${name}\ncat /tmp/${name}\nls /tmp | grep -c gyre-marker || true`,
      }),
    );
    const job = await output("scratch");
    expect(job.status).toBe("success");
    expect(job.steps[1]).toMatch(/^scratch\n0\n$/);
    expect(existsSync(join(tmpdir(), name))).toBe(false);
  });

  it("with GYRE_SANDBOX_NETWORK=none, cannot connect to the runtime on 127.0.0.1 (and with host, can)", async () => {
    const port = new URL(runtime.url).port;
    const probe = `if exec 3<>/dev/tcp/127.0.0.1/${port}; then echo connected; else echo no connection; fi`;
    const closed = await output1(runtime, probe);
    expect(closed.steps[0]).toContain("Sandbox: bubblewrap, network none");
    expect(closed.steps[1]).toMatch(/Connection refused\nno connection\n$/);

    const open = await start({});
    const hostPort = new URL(open.url).port;
    const reached = await output1(open, probe.replace(`/${port};`, `/${hostPort};`));
    expect(reached.steps[0]).toContain("Sandbox: bubblewrap, network host");
    expect(reached.steps[1]).toBe("connected\n");
  });

  it("kills a job that goes over its resource class's memory and says why", async () => {
    const { output } = await runPipeline(runtime, machineJobs({ hog: "tail /dev/zero" }, "small"));
    const job = await output("hog");
    expect(job.status).toBe("failed");
    expect(job.steps[0]).toContain("Sandbox: bubblewrap, network none, memory 64 MB, pids 200, 1 vCPU");
    expect(job.steps[1]).toContain("Exited with code 137");
    expect(job.steps[1]).toContain("went over its memory limit (64 MB, resource class small)");
  });

  it("still checks out and runs an ordinary job", async () => {
    const config = `version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: cat greeting.txt && touch built && ls
workflows:
  main:
    jobs: [build]
`;
    const { workflow, output } = await runPipeline(runtime, config, {
      "greeting.txt": "hello from the repo\n",
    });
    expect(workflow.status).toBe("success");
    const job = await output("build");
    expect(job.steps[0]).toMatch(/^Gyre: this builder cannot provide the docker executor/);
    expect(job.steps[0]).toMatch(
      /\nSandbox: bubblewrap, network none, memory 4 GB, pids 1000, 2 vCPU \(resource class medium, cgroup v\d\)\n/,
    );
    expect(job.steps[1]).toMatch(/^Checked out [0-9a-f]{12} on main into /);
    expect(job.steps[2]).toBe("hello from the repo\nbuilt\ngreeting.txt\n");
  });
});

async function output1(on: LocalRuntime, command: string) {
  const { output } = await runPipeline(on, machineJobs({ probe: command }));
  return output("probe");
}
