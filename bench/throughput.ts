/**
 * Throughput: N trivial one-step jobs (`echo hi`) triggered at once on the local stack, and how
 * fast the fleet drains them, end to end. Three figures side by side, from the same run:
 * - the default fleet (`gyre start`: one node declared 16 vCPU / 32 GB, so up to eight medium
 *   jobs run at once);
 * - a node with room for one medium job (2 vCPU / 4 GB, no reserve): one at a time, as every
 *   builder ran before nodes had capacity;
 * - the floor: the same N commands run by a plain `bash` loop, one after the other.
 * For each fleet: jobs/s from the first trigger sent to the last job's `stopped_at`, queue time
 * (`queued_at` → `started_at`) p50/p95, and run time (`started_at` → `stopped_at`) p50/p95.
 * Completion is seen from the table's active index (nothing queued, running or pending is
 * left), so polling does not load the API while the jobs run.
 * Run: `npm run bench:throughput` (N=300, CONCURRENCY=50 triggers in flight, DEADLINE_S=900;
 * FLEETS=default,one to pick).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { queryRaw } from "../packages/core/src/store/index.ts";
import { ACTIVE_SHARDS } from "../packages/core/src/table.ts";
import { apiClient, at, burst, configRepo, fmt, percentile, wall } from "./support.ts";

const N = Number(process.env.N ?? 300);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const DEADLINE_S = Number(process.env.DEADLINE_S ?? 900);
const FLEETS = (process.env.FLEETS ?? "default,one").split(",");
const SLUG = "gh/bench/throughput";
const COMMAND = "echo hi";

const CONFIG = `version: 2.1
jobs:
  hi:
    machine: true
    steps:
      - run: ${COMMAND}
workflows:
  main:
    jobs: [hi]
`;

const ONE_MEDIUM = {
  GYRE_NODE_CPUS: "2",
  GYRE_NODE_MEMORY_MB: "4096",
  GYRE_NODE_RESERVED_CPUS: "0",
  GYRE_NODE_RESERVED_MEMORY_MB: "0",
};

const FLEET_ENV: Record<string, { label: string; env: Record<string, string> }> = {
  default: { label: "default fleet (1 node, 16 vCPU / 32 GB)", env: {} },
  one: { label: "one medium at a time (1 node, 2 vCPU / 4 GB)", env: ONE_MEDIUM },
};

interface Figures {
  label: string;
  accepted: number;
  success: number;
  statuses: Record<string, number>;
  jobsPerSecond: number;
  seconds: number;
  queueMs: number[];
  runMs: number[];
  /**
   * CPU ms per job: the server process (API, intake, executions, finalize, stand-ins), the
   * agents, and what the agents ran (sandboxes, steps).
   */
  cpu: { server: number; agents: number; steps: number };
}

/** utime+stime and cutime+cstime of a process, in ms (Linux /proc, USER_HZ 100). */
function procCpu(pid: number): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const tick = (i: number) => (Number(fields[i]) * 1000) / 100;
  return { own: tick(11) + tick(12), children: tick(13) + tick(14) };
}

function agentsCpu(pids: number[]): { own: number; children: number } {
  let own = 0;
  let children = 0;
  for (const pid of pids) {
    const c = procCpu(pid);
    own += c.own;
    children += c.children;
  }
  return { own, children };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fleet(name: string): Promise<Figures> {
  const { label, env } = FLEET_ENV[name] ?? { label: name, env: {} };
  const root = await mkdtemp(join(tmpdir(), "gyre-bench-throughput-"));
  const repo = await configRepo(join(root, "repo"), CONFIG, COMMAND);
  const runtime = await startLocalRuntime({
    dataDir: join(root, "data"),
    port: 0,
    agentEnv: env,
    log: (line) => console.error(`[gyre] ${line}`),
  });
  try {
    const api = apiClient(runtime.url, runtime.adminToken);
    await api("POST", "/api/gyre/projects", { repo_url: repo, slug: SLUG });
    // The node registered and polling before the clock starts.
    for (let i = 0; i < 200; i++) {
      const nodes = await api<{ items: unknown[] }>("GET", "/api/gyre/nodes");
      if (nodes.items.length > 0) break;
      await sleep(50);
    }
    console.error(`[throughput] ${label}: triggering ${N} pipelines, ${CONCURRENCY} in flight`);
    const agentPids = Object.values(runtime.agents.pids());
    const serverBefore = process.cpuUsage();
    const agentsBefore = agentsCpu(agentPids);
    const first = wall();
    const answers = await burst(
      `${runtime.url}/api/v2/project/${SLUG}/pipeline`,
      { "Circle-Token": runtime.adminToken },
      { branch: "main" },
      N,
      CONCURRENCY,
    );
    const ids = answers.filter((a) => a.status === 201).map((a) => (JSON.parse(a.body) as { id: string }).id);
    // Done when nothing is left in the active index (pending pipelines, queued/running jobs).
    const deadline = Date.now() + DEADLINE_S * 1000;
    for (;;) {
      let active = 0;
      for (let shard = 0; shard < ACTIVE_SHARDS && active === 0; shard++)
        for await (const _ of queryRaw(runtime.gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
          active++;
          break;
        }
      if (active === 0) break;
      if (Date.now() > deadline) throw new Error(`${label}: not drained within ${DEADLINE_S} s`);
      await sleep(250);
    }
    const server = process.cpuUsage(serverBefore);
    const agentsAfter = agentsCpu(agentPids);
    // Then each job once, with the fleet idle.
    const statuses: Record<string, number> = {};
    const queueMs: number[] = [];
    const runMs: number[] = [];
    let last = first;
    for (const id of ids) {
      const wf = await api<{ items: { id: string }[] }>("GET", `/api/v2/pipeline/${id}/workflow`);
      const jobs = await api<{ items: { job_number: number }[] }>(
        "GET",
        `/api/v2/workflow/${wf.items[0]!.id}/job`,
      );
      const job = await api<{ status: string; queued_at: string; started_at: string; stopped_at: string }>(
        "GET",
        `/api/v2/project/${SLUG}/job/${jobs.items[0]!.job_number}`,
      );
      statuses[job.status] = (statuses[job.status] ?? 0) + 1;
      queueMs.push(at(job.started_at) - at(job.queued_at));
      runMs.push(at(job.stopped_at) - at(job.started_at));
      last = Math.max(last, at(job.stopped_at));
    }
    const seconds = (last - first) / 1000;
    return {
      label,
      accepted: ids.length,
      success: statuses.success ?? 0,
      statuses,
      seconds,
      jobsPerSecond: (statuses.success ?? 0) / seconds,
      queueMs,
      runMs,
      cpu: {
        server: (server.user + server.system) / 1000 / ids.length,
        agents: (agentsAfter.own - agentsBefore.own) / ids.length,
        steps: (agentsAfter.children - agentsBefore.children) / ids.length,
      },
    };
  } finally {
    await runtime.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** The floor: the same command N times from a plain bash loop. */
function bashFloor(): { seconds: number; jobsPerSecond: number } {
  const started = wall();
  execFileSync("bash", ["-c", `for i in $(seq ${N}); do bash -c '${COMMAND}' >/dev/null; done`]);
  const seconds = (wall() - started) / 1000;
  return { seconds, jobsPerSecond: N / seconds };
}

async function main(): Promise<void> {
  const results: Figures[] = [];
  for (const name of FLEETS) results.push(await fleet(name));
  const floor = bashFloor();
  console.log(
    `throughput: ${N} trivial jobs (${COMMAND}) triggered at once, ${CONCURRENCY} triggers in flight`,
  );
  for (const r of results) {
    console.log(`\n${r.label}`);
    console.log(
      `  jobs/s end to end        ${fmt(r.jobsPerSecond)}  (${r.success}/${r.accepted} success in ${fmt(r.seconds)} s)`,
    );
    const other = Object.entries(r.statuses).filter(([s]) => s !== "success");
    if (other.length)
      console.log(`  other statuses           ${other.map(([s, n]) => `${s} ${n}`).join(", ")}`);
    console.log(
      `  queue time p50 / p95     ${fmt(percentile(r.queueMs, 50), 0)} / ${fmt(percentile(r.queueMs, 95), 0)} ms`,
    );
    console.log(
      `  run time p50 / p95       ${fmt(percentile(r.runMs, 50), 0)} / ${fmt(percentile(r.runMs, 95), 0)} ms`,
    );
    console.log(
      `  CPU per job              server ${fmt(r.cpu.server, 0)} ms, agent ${fmt(r.cpu.agents, 0)} ms, its sandboxes and steps ${fmt(r.cpu.steps, 0)} ms`,
    );
  }
  console.log(`\nfloor: a bash loop running the ${N} commands one after another`);
  console.log(`  jobs/s                   ${fmt(floor.jobsPerSecond)}  (${fmt(floor.seconds)} s)`);
  if (results.length > 1) {
    const [a, b] = results as [Figures, Figures];
    console.log(`\n${a.label} vs ${b.label}: ${fmt(a.jobsPerSecond / b.jobsPerSecond, 2)}x jobs/s`);
  }
  console.log("goal: at least 100 jobs/s with the default fleet (Laminar: ~92 jobs/s with 6 executors here)");
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
