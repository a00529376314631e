/**
 * Fleet: FLEET_NODES simulated builder nodes drain FLEET_JOBS allocations that were queued
 * before any node joined, on the real local runtime (API, intake, DynamoDB/SQS/S3 stand-ins,
 * the local Step Functions adapter). Prints dispatch throughput (overall and per 10 % of the
 * drain), claim conflicts (409), 423s and other errors, queue time p50/p95/max and server CPU
 * per allocation, next to a baseline drain of the same queue by FLEET_BASELINE_NODES nodes in
 * the same run.
 *
 * A simulated node is not an agent: it speaks the agent protocol
 * (packages/core/src/protocol/agent.ts) the way packages/agent/src/main.ts does — registers with
 * the join token, heartbeats as a node every third of `heartbeat_seconds`, long-polls its class's
 * queue on the SQS stand-in for as many messages as it has free slots, claims each with
 * `POST /agent/v1/claim`, deletes the message, and finishes at once as `success` with one
 * `echo hi` step and one tiny output chunk (no sandbox, no steps run). All nodes live in one
 * child process (plain `fetch`, the SQS JSON protocol by hand), so their CPU is not the
 * server's and is reported on its own.
 *
 * The queue: FLEET_JOBS allocations as pipelines of one workflow holding FLEET_JOBS_PER_PIPELINE
 * jobs of `parallelism: FLEET_PARALLELISM` each (default 1 x 50: 100 pipelines for 5,000
 * allocations; a CircleCI job of parallelism N is N allocations, N queue messages, N claims),
 * triggered through `POST /api/v2/project/{slug}/pipeline` from a worker thread, and waited for
 * until the class's queue holds every message. Then the nodes register (not timed) and start
 * polling together: the drain's clock starts there and stops at the last successful finish.
 *
 * Run: `npm run bench:fleet` (about 4 minutes on 2 cores). Env: FLEET_NODES=200, FLEET_JOBS=3000
 * (the issue asks for 5,000: FLEET_JOBS=5000 takes about 6 minutes here), FLEET_PARALLELISM=50,
 * FLEET_JOBS_PER_PIPELINE=1, FLEET_SLOTS=2 (allocations a node holds at once; it declares that
 * many mediums' size, no reserve), FLEET_BASELINE_NODES=1 (0: no baseline), FLEET_HEARTBEAT_S=30 (the
 * server's node deadline), FLEET_OUTPUT=1 (one output chunk per finish; 0: none),
 * CONCURRENCY=50 triggers in flight, DEADLINE_S=600 per drain.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type {
  AllocationRef,
  FinishRequest,
  HeartbeatRequest,
  QueueMessage,
  RegisterRequest,
} from "../packages/core/src/protocol/agent.ts";

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const NODES = env("FLEET_NODES", 200);
const JOBS = env("FLEET_JOBS", 3000);
const PARALLELISM = env("FLEET_PARALLELISM", 50);
const JOBS_PER_PIPELINE = env("FLEET_JOBS_PER_PIPELINE", 1);
const SLOTS = env("FLEET_SLOTS", 2);
const BASELINE_NODES = env("FLEET_BASELINE_NODES", 1);
const HEARTBEAT_S = env("FLEET_HEARTBEAT_S", 30);
const OUTPUT = env("FLEET_OUTPUT", 1) > 0;
const CONCURRENCY = env("CONCURRENCY", 50);
const DEADLINE_S = env("DEADLINE_S", 600);
/** FLEET_TRACE=1: once a second during the drain, to stderr: queue depth, server CPU (all threads, main thread), event-loop delay. */
const TRACE = env("FLEET_TRACE", 0) > 0;
const SLUG = "gh/bench/fleet";
const CLASS = "medium";
/** A medium job's size, as the agent's capacity.ts counts it. */
const MEDIUM = { cpus: 2, memory_mb: 4096 };
/** Most messages one receive asks for (SQS's limit), and the agent's long poll. */
const RECEIVE_MAX = 10;
const RECEIVE_WAIT_SECONDS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU ms of this process and of its main thread alone (Linux /proc, USER_HZ 100): the rest is the stand-ins' worker, GC and libuv threads. */
async function serverCpu(): Promise<{ all: number; main: number }> {
  const { readFileSync } = await import("node:fs");
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const used = process.cpuUsage();
  return {
    all: (used.user + used.system) / 1000,
    main: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100,
  };
}

// ---------------------------------------------------------------------------------------------
// The simulated nodes (the child process).

interface FleetSpec {
  url: string;
  joinToken: string;
  queueUrl: string;
  sqsEndpoint: string;
  nodes: number;
  slots: number;
  /** Successful finishes after which the fleet stops. */
  expected: number;
  output: boolean;
  deadlineMs: number;
}

/** What the fleet reports back. Times are epoch ms (performance.timeOrigin based). */
interface FleetReport {
  /** When every node had registered and the polls started. */
  go: number;
  registerMs: number;
  /** Epoch ms of each claim that won (200), and of each finish answered. */
  claimedAt: number[];
  finishedAt: number[];
  claimMs: number[];
  finishMs: number[];
  received: number;
  /** Messages received more than once (the same execution's message seen again). */
  redelivered: number;
  emptyReceives: number;
  conflicts: number;
  locked: number;
  claimErrors: Record<string, number>;
  finishErrors: Record<string, number>;
  heartbeats: number;
  heartbeatErrors: number;
  receiveErrors: number;
  cpuMs: number;
  timedOut: boolean;
}

async function runFleet(spec: FleetSpec): Promise<FleetReport> {
  const { performance } = await import("node:perf_hooks");
  const wall = () => performance.timeOrigin + performance.now();
  const report: FleetReport = {
    go: 0,
    registerMs: 0,
    claimedAt: [],
    finishedAt: [],
    claimMs: [],
    finishMs: [],
    received: 0,
    redelivered: 0,
    emptyReceives: 0,
    conflicts: 0,
    locked: 0,
    claimErrors: {},
    finishErrors: {},
    heartbeats: 0,
    heartbeatErrors: 0,
    receiveErrors: 0,
    cpuMs: 0,
    timedOut: false,
  };
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const seen = new Set<string>();
  const stop = new AbortController();
  let done: () => void = () => {};
  const finished = new Promise<void>((ok) => {
    done = ok;
  });

  const post = async (credential: string, path: string, body: unknown) => {
    const res = await fetch(`${spec.url}/agent/v1${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${credential}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text };
  };
  const sqs = async (action: string, body: unknown, signal?: AbortSignal) => {
    const res = await fetch(spec.sqsEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${action}` },
      body: JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`SQS ${action}: ${res.status} ${text.slice(0, 200)}`);
    return JSON.parse(text || "{}") as Record<string, unknown>;
  };
  const remove = (receipt: string) =>
    sqs("DeleteMessage", { QueueUrl: spec.queueUrl, ReceiptHandle: receipt }).catch(() => undefined);
  const release = (receipt: string) =>
    sqs("ChangeMessageVisibility", {
      QueueUrl: spec.queueUrl,
      ReceiptHandle: receipt,
      VisibilityTimeout: 0,
    }).catch(() => undefined);

  class SimNode {
    id = "";
    credential = "";
    periodMs = 10_000;
    running = new Map<string, AllocationRef>();
    free = spec.slots;
    wake?: () => void;
    failures = 0;
    constructor(readonly name: string) {}

    async register(): Promise<void> {
      const request: RegisterRequest = {
        name: this.name,
        version: "bench-fleet",
        resources: { cpus: spec.slots * MEDIUM.cpus, memory_mb: spec.slots * MEDIUM.memory_mb },
        reserved: { cpus: 0, memory_mb: 0 },
        classes: { [CLASS]: MEDIUM },
      };
      const answer = await post(spec.joinToken, "/register", request);
      if (answer.status !== 201) throw new Error(`register: ${answer.status} ${answer.text}`);
      const body = JSON.parse(answer.text) as {
        node_id: string;
        credential: string;
        heartbeat_seconds: number;
      };
      this.id = body.node_id;
      this.credential = body.credential;
      this.periodMs = Math.max(500, body.heartbeat_seconds * 1000) / 3;
    }

    async heartbeats(): Promise<void> {
      // Spread over the period, as nodes that joined at different times would be.
      await sleep(Math.random() * this.periodMs);
      while (!stop.signal.aborted) {
        const n = this.running.size;
        const request: HeartbeatRequest = {
          node_id: this.id,
          allocations: [...this.running.values()],
          allocated: { cpus: n * MEDIUM.cpus, memory_mb: n * MEDIUM.memory_mb },
          poll_failures: this.failures,
          claiming: spec.slots - this.free - n,
        };
        const answer = await post(this.credential, "/heartbeat", request).catch(() => ({
          status: 0,
          text: "",
        }));
        report.heartbeats++;
        if (answer.status !== 200) report.heartbeatErrors++;
        else this.periodMs = Math.max(500, (JSON.parse(answer.text).heartbeat_seconds as number) * 1000) / 3;
        await sleep(this.periodMs);
      }
    }

    async poll(): Promise<void> {
      while (!stop.signal.aborted) {
        if (this.free < 1) {
          await new Promise<void>((ok) => {
            this.wake = ok;
          });
          continue;
        }
        let messages: { Body?: string; ReceiptHandle?: string; MessageId?: string }[] = [];
        try {
          const out = await sqs(
            "ReceiveMessage",
            {
              QueueUrl: spec.queueUrl,
              MaxNumberOfMessages: Math.min(RECEIVE_MAX, this.free),
              WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
            },
            stop.signal,
          );
          messages = (out.Messages as typeof messages | undefined) ?? [];
        } catch {
          if (stop.signal.aborted) break;
          report.receiveErrors++;
          this.failures++;
          await sleep(1000);
        }
        if (messages.length === 0) report.emptyReceives++;
        for (const m of messages) {
          report.received++;
          if (this.free < 1) {
            void release(m.ReceiptHandle!);
            continue;
          }
          this.free--;
          void this.handle(m.Body ?? "", m.ReceiptHandle!).finally(() => {
            this.free++;
            this.wake?.();
            this.wake = undefined;
          });
        }
      }
    }

    async handle(raw: string, receipt: string): Promise<void> {
      const body = JSON.parse(raw) as QueueMessage;
      const ref = body.allocation;
      const key = `${ref.jobId}-${ref.attempt}-${ref.index}`;
      if (seen.has(key)) report.redelivered++;
      seen.add(key);
      const sent = wall();
      const claim = await post(this.credential, "/claim", {
        allocation: ref,
        node_id: this.id,
        task_token: body.taskToken,
      }).catch((e: Error) => ({ status: 0, text: e.message }));
      const answered = wall();
      if (claim.status === 409) {
        report.conflicts++;
        await remove(receipt);
        return;
      }
      if (claim.status === 423) {
        report.locked++;
        await release(receipt);
        return;
      }
      if (claim.status !== 200) {
        bump(report.claimErrors, String(claim.status));
        this.failures++;
        await release(receipt);
        return;
      }
      report.claimMs.push(answered - sent);
      report.claimedAt.push(answered);
      void remove(receipt);
      const parallelism = (JSON.parse(claim.text) as { job: { parallelism: number } }).job.parallelism;
      this.running.set(key, ref);
      const now = new Date().toISOString();
      const finish: FinishRequest & { parallelism: number } = {
        allocation: ref,
        node_id: this.id,
        status: "success",
        parallelism,
        ...(spec.output
          ? {
              steps: [
                {
                  index: 0,
                  name: "echo hi",
                  type: "run",
                  status: "success",
                  startedAt: now,
                  endedAt: now,
                  exitCode: 0,
                },
              ],
              chunks: [{ step: 0, seq: 0, data: "hi\n" }],
            }
          : {}),
      };
      const start = wall();
      const answer = await post(this.credential, "/finish", finish).catch((e: Error) => ({
        status: 0,
        text: e.message,
      }));
      this.running.delete(key);
      if (answer.status !== 200) {
        bump(report.finishErrors, String(answer.status));
        return;
      }
      report.finishMs.push(wall() - start);
      report.finishedAt.push(wall());
      if (report.finishedAt.length >= spec.expected) done();
    }
  }

  const nodes = Array.from({ length: spec.nodes }, (_, i) => new SimNode(`sim-${i + 1}`));
  const registering = wall();
  // Registered a few dozen at a time (a fleet that boots together), not timed with the drain.
  for (let i = 0; i < nodes.length; i += 20)
    await Promise.all(nodes.slice(i, i + 20).map((n) => n.register()));
  report.registerMs = wall() - registering;
  const cpuBefore = process.cpuUsage();
  report.go = wall();
  // The server side starts its CPU clock now too.
  process.send?.({ go: report.go });
  const loops = nodes.flatMap((n) => [n.heartbeats(), n.poll()]);
  const deadline = setTimeout(() => {
    report.timedOut = true;
    done();
  }, spec.deadlineMs);
  await finished;
  clearTimeout(deadline);
  const cpu = process.cpuUsage(cpuBefore);
  report.cpuMs = (cpu.user + cpu.system) / 1000;
  stop.abort();
  for (const n of nodes) n.wake?.();
  await Promise.race([Promise.allSettled(loops), sleep(2000)]);
  return report;
}

// ---------------------------------------------------------------------------------------------
// The benchmark (the parent: the server side, its runtime in this process).

interface Drain {
  nodes: number;
  allocations: number;
  pipelines: number;
  /** First trigger sent → every message on the queue. */
  fillSeconds: number;
  triggersAccepted: number;
  report: FleetReport;
  /** go → last successful finish. */
  drainSeconds: number;
  /** go → nothing left in the active index (every job settled, every workflow finalized). */
  settledSeconds: number;
  /** Per allocation, from the table: queuedAt → its claim, and drain start → its claim (ms). */
  queueMs: number[];
  drainWaitMs: number[];
  statuses: Record<string, number>;
  attemptsAbove1: number;
  serverCpuMs: number;
  /** Of it, the main thread's (API, intake, executions, finalize). */
  mainCpuMs: number;
  childCpuMs: number;
}

const CONFIG = () => {
  const jobs = Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => `hi${i + 1}`);
  return `version: 2.1
jobs:
${jobs
  .map(
    (name) => `  ${name}:
    machine: true
    resource_class: ${CLASS}
    parallelism: ${PARALLELISM}
    steps:
      - run: echo hi`,
  )
  .join("\n")}
workflows:
  main:
    jobs: [${jobs.join(", ")}]
`;
};

async function drain(nodes: number): Promise<Drain> {
  const { startLocalRuntime } = await import("../packages/cli/src/local/runtime.ts");
  const { queryRaw } = await import("../packages/core/src/store/index.ts");
  const { ACTIVE_SHARDS } = await import("../packages/core/src/table.ts");
  const { queueKey } = await import("../packages/core/src/resources.ts");
  const { GetQueueAttributesCommand } = await import("@aws-sdk/client-sqs");
  const { ScanCommand } = await import("@aws-sdk/client-dynamodb");
  const { unmarshall } = await import("@aws-sdk/util-dynamodb");
  const { apiClient, burst, configRepo, fmt, wall } = await import("./support.ts");

  const perPipeline = JOBS_PER_PIPELINE * PARALLELISM;
  const pipelines = Math.ceil(JOBS / perPipeline);
  const allocations = pipelines * perPipeline;
  const root = await mkdtemp(join(tmpdir(), "gyre-bench-fleet-"));
  const repo = await configRepo(join(root, "repo"), CONFIG());
  const runtime = await startLocalRuntime({
    dataDir: join(root, "data"),
    port: 0,
    agents: 0,
    heartbeatSeconds: HEARTBEAT_S,
    log: (line) => console.error(`[gyre] ${line.split("\n")[0]!.slice(0, 300)}`),
  });
  let child: ChildProcess | undefined;
  try {
    const gyre = runtime.gyre;
    const api = apiClient(runtime.url, runtime.adminToken);
    await api("POST", "/api/gyre/projects", { repo_url: repo, slug: SLUG });
    const queueUrl = gyre.resources.jobQueueUrls[queueKey(CLASS)]!;
    const depth = async () => {
      const out = await gyre.aws.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    };

    // 1. Queue everything, with no node registered.
    console.error(
      `[fleet] ${nodes} node(s): queueing ${allocations} allocations (${pipelines} pipelines x ${JOBS_PER_PIPELINE} job(s) x parallelism ${PARALLELISM})`,
    );
    const first = wall();
    const answers = await burst(
      `${runtime.url}/api/v2/project/${SLUG}/pipeline`,
      { "Circle-Token": runtime.adminToken },
      { branch: "main" },
      pipelines,
      CONCURRENCY,
    );
    const accepted = answers.filter((a) => a.status === 201).length;
    const fillDeadline = Date.now() + DEADLINE_S * 1000;
    let last = -1;
    for (;;) {
      const d = await depth();
      if (d !== last) console.error(`[fleet] queue depth ${d}/${allocations}`);
      last = d;
      if (d >= allocations) break;
      if (Date.now() > fillDeadline)
        throw new Error(`only ${d} of ${allocations} queued within ${DEADLINE_S} s`);
      await sleep(500);
    }
    const fillSeconds = (wall() - first) / 1000;

    // 2. The fleet joins and drains it.
    const joinToken = (await readFile(join(runtime.dataDir, "builder-token"), "utf8")).trim();
    const spec: FleetSpec = {
      url: runtime.url,
      joinToken,
      queueUrl,
      sqsEndpoint: gyre.resources.endpoints!.sqs!,
      nodes,
      slots: SLOTS,
      expected: allocations,
      output: OUTPUT,
      deadlineMs: DEADLINE_S * 1000,
    };
    let serverAtGo = await serverCpu();
    const spawned = fork(fileURLToPath(import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, FLEET_ROLE: "nodes" },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child = spawned;
    let trace: NodeJS.Timeout | undefined;
    if (TRACE) {
      let prev = await serverCpu();
      let tick = Date.now();
      trace = setInterval(async () => {
        const now = Date.now();
        const lag = now - tick - 1000;
        tick = now;
        const c = await serverCpu();
        const d = await depth().catch(() => Number.NaN);
        console.error(
          `[trace] depth ${d} cpu ${fmt((c.all - prev.all) / 10, 0)} % main ${fmt((c.main - prev.main) / 10, 0)} % lag ${lag} ms`,
        );
        prev = c;
      }, 1000);
    }
    const report = await new Promise<FleetReport>((ok, fail) => {
      spawned.on("message", (m: { go?: number; report?: FleetReport; error?: string }) => {
        if (m.go) {
          void serverCpu().then((c) => {
            serverAtGo = c;
          });
          console.error(`[fleet] ${nodes} node(s) registered; draining`);
        }
        if (m.report) ok(m.report);
        if (m.error) fail(new Error(m.error));
      });
      spawned.once("exit", (code) => fail(new Error(`the fleet exited with code ${code}`)));
      spawned.send({ spec });
    });
    clearInterval(trace);
    const serverAtEnd = await serverCpu();
    const lastFinish = Math.max(...report.finishedAt, report.go);
    // Finalize may still be running: wait for the active index to empty (or a short while).
    const settleDeadline = Date.now() + 60_000;
    let settled = Number.NaN;
    for (;;) {
      let active = 0;
      for (let shard = 0; shard < ACTIVE_SHARDS && active === 0; shard++)
        for await (const _ of queryRaw(gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
          active++;
          break;
        }
      if (active === 0) {
        settled = wall();
        break;
      }
      if (report.timedOut || Date.now() > settleDeadline) break;
      await sleep(100);
    }

    // 3. Every job item once, straight from the table.
    const queueMs: number[] = [];
    const drainWaitMs: number[] = [];
    const statuses: Record<string, number> = {};
    let attemptsAbove1 = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await gyre.aws.dynamo.send(
        new ScanCommand({
          TableName: gyre.resources.tableName,
          FilterExpression: "begins_with(sk, :job)",
          ExpressionAttributeValues: { ":job": { S: "JOB#" } },
          ExclusiveStartKey: start as never,
        }),
      );
      for (const raw of page.Items ?? []) {
        const job = unmarshall(raw) as {
          status: string;
          attempt: number;
          queuedAt?: string;
          allocations: Record<string, { startedAt?: string }>;
        };
        statuses[job.status] = (statuses[job.status] ?? 0) + 1;
        if (job.attempt > 1) attemptsAbove1++;
        const queued = Date.parse(job.queuedAt ?? "");
        for (const a of Object.values(job.allocations)) {
          const claimed = Date.parse(a.startedAt ?? "");
          if (!Number.isFinite(claimed)) continue;
          queueMs.push(claimed - queued);
          drainWaitMs.push(claimed - Math.max(queued, report.go));
        }
      }
      start = page.LastEvaluatedKey;
    } while (start);

    return {
      nodes,
      allocations,
      pipelines,
      fillSeconds,
      triggersAccepted: accepted,
      report,
      drainSeconds: (lastFinish - report.go) / 1000,
      settledSeconds: (settled - report.go) / 1000,
      queueMs,
      drainWaitMs,
      statuses,
      attemptsAbove1,
      serverCpuMs: serverAtEnd.all - serverAtGo.all,
      mainCpuMs: serverAtEnd.main - serverAtGo.main,
      childCpuMs: report.cpuMs,
    };
  } finally {
    child?.kill("SIGKILL");
    await runtime.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** Rate of each tenth of the claims: (n/10) / the time it took, from the drain's start. */
function tenths(times: number[], go: number): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  const out: number[] = [];
  let from = go;
  for (let k = 1; k <= 10; k++) {
    const end = Math.ceil((k * sorted.length) / 10);
    const begin = Math.ceil(((k - 1) * sorted.length) / 10);
    const to = sorted[end - 1] ?? from;
    out.push((end - begin) / Math.max(1e-3, (to - from) / 1000));
    from = to;
  }
  return out;
}

async function main(): Promise<void> {
  const { fmt, percentile } = await import("./support.ts");
  const runs: Drain[] = [];
  runs.push(await drain(NODES));
  if (BASELINE_NODES > 0) runs.push(await drain(BASELINE_NODES));
  const p = (values: number[], q: number) => fmt(percentile(values, q), 0);
  const cols = runs.map((r) => `${r.nodes} node${r.nodes === 1 ? "" : "s"}`);
  const row = (label: string, cells: string[]) =>
    console.log(`  ${label.padEnd(34)}${cells.map((c) => c.padStart(24)).join("")}`);
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const errs = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k}:${v}`)
      .join(" ") || "0";

  const r0 = runs[0]!;
  console.log(
    `fleet: ${r0.allocations} allocations (${r0.pipelines} pipelines x ${JOBS_PER_PIPELINE} job(s) x parallelism ${PARALLELISM}, class ${CLASS}) queued before any node joined; ` +
      `nodes hold ${SLOTS} at once, heartbeat deadline ${HEARTBEAT_S} s, ${OUTPUT ? "one output chunk per finish" : "no output"}`,
  );
  if (NODES !== 200 || JOBS !== 5000)
    console.log(`  (the issue's figures are FLEET_NODES=200 FLEET_JOBS=5000; this run: ${NODES} / ${JOBS})`);
  row("", cols);
  row(
    "queued (trigger → all on queue)",
    runs.map((r) => `${fmt(r.fillSeconds)} s (${r.triggersAccepted}/${r.pipelines})`),
  );
  row(
    "registration (not timed)",
    runs.map((r) => `${fmt(r.report.registerMs / 1000)} s`),
  );
  row(
    "dispatched (claims won)",
    runs.map((r) => `${r.report.claimedAt.length}/${r.allocations}${r.report.timedOut ? " PARTIAL" : ""}`),
  );
  row(
    "dispatch/s over the drain",
    runs.map((r) => `${fmt(r.report.finishedAt.length / r.drainSeconds)} (${fmt(r.drainSeconds)} s)`),
  );
  row(
    "drain → all settled",
    runs.map((r) => `${fmt(r.settledSeconds)} s`),
  );
  for (const [i, label] of ["dispatch/s per 10 % of the drain", ""].entries()) {
    row(
      label,
      runs.map((r) =>
        tenths(r.report.claimedAt, r.report.go)
          .slice(i * 5, i * 5 + 5)
          .map((x) => fmt(x, 0))
          .join(" "),
      ),
    );
  }
  row(
    "claim conflicts (409)",
    runs.map((r) => String(r.report.conflicts)),
  );
  row(
    "draining refusals (423)",
    runs.map((r) => String(r.report.locked)),
  );
  row(
    "other claim errors",
    runs.map((r) => errs(r.report.claimErrors)),
  );
  row(
    "finish errors",
    runs.map((r) => errs(r.report.finishErrors)),
  );
  row(
    "messages received / redelivered",
    runs.map((r) => `${r.report.received} / ${r.report.redelivered}`),
  );
  row(
    "empty receives",
    runs.map((r) => String(r.report.emptyReceives)),
  );
  row(
    "heartbeats (errors)",
    runs.map((r) => `${r.report.heartbeats} (${r.report.heartbeatErrors})`),
  );
  row(
    "queue time p50 / p95 / max",
    runs.map(
      (r) =>
        `${fmt(percentile(r.queueMs, 50) / 1000)} / ${fmt(percentile(r.queueMs, 95) / 1000)} / ${fmt(Math.max(...r.queueMs) / 1000)} s`,
    ),
  );
  row(
    "  of it in the drain p50 / p95",
    runs.map(
      (r) => `${fmt(percentile(r.drainWaitMs, 50) / 1000)} / ${fmt(percentile(r.drainWaitMs, 95) / 1000)} s`,
    ),
  );
  row(
    "claim answer p50 / p95 / max",
    runs.map(
      (r) => `${p(r.report.claimMs, 50)} / ${p(r.report.claimMs, 95)} / ${p(r.report.claimMs, 100)} ms`,
    ),
  );
  row(
    "finish answer p50 / p95 / max",
    runs.map(
      (r) => `${p(r.report.finishMs, 50)} / ${p(r.report.finishMs, 95)} / ${p(r.report.finishMs, 100)} ms`,
    ),
  );
  row(
    "server CPU per allocation",
    runs.map((r) => `${fmt(r.serverCpuMs / Math.max(1, r.report.finishedAt.length))} ms`),
  );
  row(
    "server CPU use (2 cores = 200 %)",
    runs.map((r) => `${fmt((r.serverCpuMs / 1000 / r.drainSeconds) * 100, 0)} %`),
  );
  row(
    "  of it the main thread",
    runs.map((r) => `${fmt((r.mainCpuMs / 1000 / r.drainSeconds) * 100, 0)} %`),
  );
  row(
    "fleet client CPU per allocation",
    runs.map((r) => `${fmt(r.childCpuMs / Math.max(1, r.report.finishedAt.length))} ms`),
  );
  row(
    "job statuses",
    runs.map((r) => errs(r.statuses)),
  );
  row(
    "jobs past attempt 1",
    runs.map((r) => String(r.attemptsAbove1)),
  );
  if (runs.length > 1) {
    const [a, b] = runs as [Drain, Drain];
    console.log(
      `\n${a.nodes} nodes vs ${b.nodes}: ${fmt(a.report.finishedAt.length / a.drainSeconds / (b.report.finishedAt.length / b.drainSeconds), 2)}x dispatch/s`,
    );
  }
  const failed = runs.some((r) => r.report.timedOut || sum(r.report.finishErrors) > 0);
  if (failed) process.exitCode = 1;
}

if (process.env.FLEET_ROLE === "nodes") {
  process.once("message", (m: { spec: FleetSpec }) => {
    runFleet(m.spec).then(
      (report) => process.send!({ report }, () => process.exit(0)),
      (error: Error) => process.send!({ error: error.stack ?? error.message }, () => process.exit(1)),
    );
  });
} else {
  main().then(
    () => process.exit(),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
