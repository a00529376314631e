/**
 * The docker executor end to end: the local runtime's builder agents run docker jobs through
 * a real Docker Engine API (podman, see support/podman.ts) with a locally imported image.
 * Checks that steps run in the image, a service answers by its name and on localhost, the
 * job's environment arrives, a failing step fails the job, nothing is left behind, a builder
 * without an engine falls back to the sandbox (or fails the job when told to), and
 * `setup_remote_docker` gives a job an engine of its own. Needs podman and runc (CI installs them).
 */
import { readdirSync, readFileSync } from "node:fs";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { IMAGE_MARKER, startTestEngine, TEST_IMAGE, type TestEngine } from "./support/podman.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

let engine: TestEngine;
let docker: Docker;
const started: LocalRuntime[] = [];

async function start(agentEnv: Record<string, string>, agents = 1) {
  const r = await startLocalRuntime({
    dataDir: tempDir("docker"),
    port: 0,
    heartbeatSeconds: 5,
    agents,
    agentEnv,
  });
  started.push(r);
  return r;
}

beforeAll(async () => {
  engine = await startTestEngine();
  docker = new Docker({ socketPath: engine.socket });
}, 120_000);

afterAll(async () => {
  for (const r of started) await r.stop();
  await engine?.stop();
});

let projects = 0;

/** Adds a project with `config`, triggers it and waits for its workflow to end. */
async function runPipeline(on: LocalRuntime, config: string, files: Record<string, string> = {}) {
  const client = api(on.url, on.adminToken);
  const slug = `gh/docker/p${++projects}`;
  const repo = gitRepo({ ".circleci/config.yml": config, ...files });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  const pipeline = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
  expect(pipeline.status).toBe(201);
  const { jobs } = await waitFor(
    "the workflow to finish",
    async () => {
      const [wf] = (await client.get(`/api/v2/pipeline/${pipeline.body.id}/workflow`)).body.items!;
      if (!wf || !["success", "failed"].includes(wf.status as string)) return undefined;
      return { jobs: (await client.get(`/api/v2/workflow/${wf.id}/job`)).body.items! };
    },
    90_000,
  );
  const output = async (name: string) => {
    const job = jobs.find((j) => j.name === name)!;
    const steps = await stepOutputs(client, slug, job.job_number as number);
    return {
      status: job.status as string,
      steps: steps.map((s) => s.output),
      names: steps.map((s) => s.name),
    };
  };
  return { output, repo };
}

const indent = (text: string, n: number) =>
  text
    .split("\n")
    .map((l) => `${" ".repeat(n)}${l}`)
    .join("\n");

/** A config with one docker job per entry: `steps` is YAML for the job's steps. */
const dockerJobs = (
  jobs: Record<string, { images?: string; steps: string; environment?: string }>,
) => `version: 2.1
jobs:
${Object.entries(jobs)
  .map(
    ([name, job]) => `  ${name}:
    docker:
${indent(job.images ?? `- image: ${TEST_IMAGE}`, 6)}
${job.environment ? `    environment:\n${indent(job.environment, 6)}\n` : ""}    steps:
${indent(job.steps, 6)}`,
  )
  .join("\n")}
workflows:
  main:
    jobs: [${Object.keys(jobs).join(", ")}]
`;

// A tiny TCP service in the test image: perl answers every connection with one line.
const DB_SERVICE = `- image: ${TEST_IMAGE}
  name: db
  environment:
    ANSWER: hello from db
  command:
    - perl
    - -MIO::Socket::INET
    - -e
    - '$s = IO::Socket::INET->new(LocalPort => 7070, Listen => 5, ReuseAddr => 1) or die $!; while ($c = $s->accept) { print $c "$ENV{ANSWER}\\n"; close $c }'`;

const CONNECT = (host: string) =>
  `for i in {1..100}; do if exec 3<>/dev/tcp/${host}/7070; then head -1 <&3; break; fi 2>/dev/null; sleep 0.1; done`;

async function leftovers() {
  const containers = await docker.listContainers({ all: true, filters: { label: ["dev.gyre.allocation"] } });
  const networks = (await docker.listNetworks()).filter(
    (n) => n.Name.startsWith("gyre-") && n.Name !== "gyre-test",
  );
  return { containers: containers.map((c) => c.Names), networks: networks.map((n) => n.Name) };
}

describe("the docker executor", () => {
  let runtime: LocalRuntime;
  beforeAll(async () => {
    runtime = await start({ GYRE_DOCKER_SOCKET: engine.socket, GYRE_REMOTE_DOCKER: "podman" }, 2);
  });

  it("runs steps in the image, with services by name and on localhost, and cleans up", async () => {
    const config = dockerJobs({
      build: {
        images: `- image: ${TEST_IMAGE}\n${DB_SERVICE}`,
        environment: "GREETING: hello from the config",
        steps: `- checkout
- run:
    name: where
    command: |
      cat ${IMAGE_MARKER}
      test -e /usr/bin/node && echo "node is here" || echo "no node here"
      echo "home=$HOME greeting=$GREETING step=$STEP_VAR job=$CIRCLE_JOB pwd=$(pwd)"
      echo "path=$PATH"
      cat greeting.txt
      touch made-in-container
    environment:
      STEP_VAR: from the step
- run:
    name: services
    command: |
      ${CONNECT("db")}
      ${CONNECT("localhost")}
- run:
    name: fails
    command: echo about to fail; exit 3
- run:
    name: after failure
    command: echo should not run`,
      },
    });
    const { output } = await runPipeline(runtime, config, { "greeting.txt": "hello from the repo\n" });
    const job = await output("build");
    expect(job.status).toBe("failed");
    expect(job.names).toEqual(["Spin up environment", "Checkout code", "where", "services", "fails"]);
    expect(job.steps[0]).toContain(`Docker: image ${TEST_IMAGE} (local), services: db`);
    expect(job.steps[0]).not.toContain("cannot provide");
    expect(job.steps[1]).toMatch(/^Checked out [0-9a-f]{12} on main into /);
    const where = job.steps[2]!;
    expect(where).toContain(`${TEST_IMAGE}\nno node here\n`);
    expect(where).toMatch(
      /home=\S+\/home greeting=hello from the config step=from the step job=build pwd=\S+\/home\/project\n/,
    );
    // The image's PATH, not the builder's (the job's own tool directory stays in front).
    expect(where).toMatch(
      /path=(\S+:)?\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin\n/,
    );
    expect(where).toContain("hello from the repo\n");
    expect(job.steps[3]).toBe("hello from db\nhello from db\n");
    expect(job.steps[4]).toBe("about to fail\n\nExited with code 3\n");
    expect(await leftovers()).toEqual({ containers: [], networks: [] });
  });

  it("limits the container to the resource class, kills a silent step, keeps file steps working", async () => {
    const config = dockerJobs({
      limits: {
        images: `- image: ${TEST_IMAGE}\n  user: circleci`,
        steps: `- run:
    name: limits
    command: cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max
- run:
    name: in the background
    command: sleep 600
    background: true
- run:
    name: artifact
    command: id -un && mkdir -p /tmp/out ~/.cache && echo made in the container > /tmp/out/note.txt
- store_artifacts:
    path: /tmp/out
- run:
    name: silent
    no_output_timeout: 1s
    command: echo before; sleep 300 & sleep 300
- run:
    name: after the timeout
    when: always
    command: for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | grep -c "^sleep 300" || true`,
      },
    });
    const began = Date.now();
    const { output } = await runPipeline(runtime, config);
    const job = await output("limits");
    expect(Date.now() - began).toBeLessThan(30_000);
    expect(job.status).toBe("failed");
    expect(job.steps[0]).toContain("memory 4 GB, pids 1000, 2 vCPU (resource class medium)");
    expect(job.steps[1]).toBe(`${4 * 1024 ** 3}\n1000\n`);
    expect(job.steps[3]).toBe("circleci\n");
    expect(job.steps[4]).toMatch(/\/tmp\/out\/note\.txt \(22 bytes\)\nUploaded 1 of 1 artifact\.\n$/);
    expect(job.steps[5]).toBe("before\n\nToo long with no output (exceeded 1s): context deadline exceeded\n");
    // The timed-out step's processes are gone, the one it left in the background too.
    expect(job.steps[6]).toBe("0\n");
    expect(await leftovers()).toEqual({ containers: [], networks: [] });
  });

  it("gives setup_remote_docker an engine of its own, gone after the job", async () => {
    const config = dockerJobs({
      remote: {
        steps: `- setup_remote_docker
- run: |
    echo "DOCKER_HOST=$DOCKER_HOST"
    curl -s --unix-socket "\${DOCKER_HOST#unix://}" http://docker/_ping; echo
    curl -s --unix-socket "\${DOCKER_HOST#unix://}" http://docker/info | grep -o '"DockerRootDir":"[^"]*"'`,
      },
    });
    const { output } = await runPipeline(runtime, config);
    const job = await output("remote");
    expect(job.status).toBe("success");
    expect(job.steps[1]).toMatch(/^Remote Docker engine \(podman, its own storage\) ready in/);
    const [host, ping, root] = job.steps[2]!.split("\n");
    expect(host).toMatch(/^DOCKER_HOST=unix:\/\/\S+\/remote-docker\/docker\.sock$/);
    expect(host).not.toContain(engine.socket);
    expect(ping).toBe("OK");
    // Its storage is in the job's own directory, not the builder engine's.
    expect(root).toMatch(/"DockerRootDir":"\S+\/remote-docker\/storage"/);
    const work = `${runtime.dataDir}/work`;
    expect(readdirSync(work)).toEqual([]);
    const services = readdirSync("/proc").filter((p) => {
      try {
        return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(work);
      } catch {
        return false;
      }
    });
    expect(services).toEqual([]);
    expect(await leftovers()).toEqual({ containers: [], networks: [] });
  });
});

describe("a builder without a Docker engine", () => {
  const job = dockerJobs({
    build: { steps: `- run: test -e ${IMAGE_MARKER} && echo in the image || echo on the host` },
  });

  it("runs docker jobs in the sandbox on the host and says so first", async () => {
    const runtime = await start({ GYRE_DOCKER_SOCKET: "/nonexistent/docker.sock" });
    const build = await (await runPipeline(runtime, job)).output("build");
    expect(build.status).toBe("success");
    expect(build.steps[0]!.split("\n").slice(0, 2)).toEqual([
      `Gyre: this builder cannot provide the docker executor yet; running on the host in a fresh working directory instead of docker image ${TEST_IMAGE}.`,
      "Gyre: no Docker engine answers at /nonexistent/docker.sock (connect ENOENT /nonexistent/docker.sock).",
    ]);
    expect(build.steps[0]).toContain("\nSandbox: bubblewrap");
    expect(build.steps[1]).toBe("on the host\n");
  });

  // With GYRE_DOCKER_FALLBACK=fail (AWS builders) a builder without an engine is unhealthy and
  // takes no jobs at all: test/health.e2e.test.ts. The job-level refusal for an engine that
  // disappears between that check and the job is unit-tested in executor/index.test.ts.
});
