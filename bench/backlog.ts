/**
 * Backlog: N pipelines triggered at once on the default local runtime (one builder agent, the
 * default heartbeat), each one job with one `echo hi` step, and what happens to them: triggers
 * accepted per second, jobs per second end to end, how many jobs ran more than once, and the
 * final statuses. The triggers are sent from a worker thread (support.ts `burst`), so the
 * client's work does not run on the server's event loop, as no real client's would.
 * Run: `npm run bench:backlog` (N=300, CONCURRENCY=50 triggers in flight,
 * DEADLINE_S=900; POLL_BATCH=20 API reads per 500 ms poll).
 *
 * How a job's runs are counted, three ways:
 * - the job item's `attempt` (DynamoDB, read through the runtime's own client at the end): an
 *   infrastructure retry or a re-drive starts the next attempt;
 * - the step's marker line `bench-run <uuid>`, a fresh token each time the step runs, in every
 *   output chunk the server stores (a probe middleware on the runtime's S3 client sees each
 *   PutObject under `output/`, also those a later upload overwrites), and in what the bucket
 *   still holds at the end (`output/<job id>/<attempt>/<index>/`);
 * - a beacon: the step also sends its job id and token over loopback (bash's /dev/tcp) to a
 *   tiny HTTP server of this benchmark. That counts runs whose output the server refused
 *   (output is stored only for the node running the current attempt), so it is the figure of
 *   record; the markers cross-check it.
 *
 * Polling is sparse: after the triggers, every 500 ms at most POLL_BATCH reads of
 * `GET /pipeline/{id}/workflow` (once per pipeline) and `GET /workflow/{id}/job`, round robin
 * over the jobs not yet seen terminal. The end-to-end time is taken from the jobs' own
 * `stopped_at`, so the polling interval does not add to it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { listKeys, readText } from "../packages/core/src/aws/s3.ts";
import { getJob, type Job, TERMINAL_JOB } from "../packages/core/src/job/index.ts";
import { apiClient, at, burst, configRepo, fmt, percentile, wall } from "./support.ts";

const N = Number(process.env.N ?? 300);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const DEADLINE_S = Number(process.env.DEADLINE_S ?? 900);
const POLL_BATCH = Number(process.env.POLL_BATCH ?? 20);
const POLL_MS = 500;
const SLUG = "gh/bench/backlog";
const JOB = "hi";
const MARKER = /bench-run (\S+)/g;

/** The job: `echo hi`, the marker line with a fresh token, and the beacon (never fails the step). */
const config = (beaconPort: number) => `version: 2.1
jobs:
  ${JOB}:
    machine: true
    steps:
      - run:
          name: echo hi
          command: |
            echo hi
            token=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo "$$-$RANDOM-$(date +%s%N)")
            echo "bench-run $token"
            timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${beaconPort} && printf "GET /ran/%s/%s HTTP/1.0\\r\\n\\r\\n" "$0" "$1" >&3 && cat <&3 >/dev/null' "$CIRCLE_WORKFLOW_JOB_ID" "$token" || echo "bench-beacon failed"
workflows:
  main:
    jobs: [${JOB}]
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const add = (map: Map<string, Set<string>>, key: string, value: string) =>
  map.set(key, (map.get(key) ?? new Set()).add(value));
const bump = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by);
const counts = (map: Map<string, number>) =>
  [...map]
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

/** Runs `f` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await f(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms).unref(),
    ),
  ]);
}

// ---------------------------------------------------------------------------------------------

/** Step runs by job id: tokens the beacon received, tokens in output the server stored. */
const beaconRuns = new Map<string, Set<string>>();
const storedRuns = new Map<string, Set<string>>();
let beaconFailures = 0;

/** Runtime log lines by shape (ids and numbers replaced), and the first few in full. */
const logShapes = new Map<string, number>();
const logFirst: string[] = [];
const runtimeLog = (line: string) => {
  console.error(`[gyre] ${line}`);
  const shape = line
    .split("\n")[0]!
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>")
    .replace(/\d+/g, "<n>")
    .slice(0, 140);
  bump(logShapes, shape);
  if (logFirst.length < 5) logFirst.push(line.split("\n").slice(0, 3).join(" | ").slice(0, 300));
};

interface Trigger {
  sent: number;
  answered: number;
  status: number;
  pipelineId?: string;
  error?: string;
}

interface Tracked {
  pipelineId: string;
  sent: number;
  workflowId?: string;
  jobId?: string;
  jobNumber?: number;
  /** As the API last showed it. */
  status?: string;
  stoppedAt?: string;
}

interface Tally {
  job?: Job;
  /** `attempt/index` prefixes holding output in the bucket at the end. */
  outputAttempts: Set<string>;
  /** Marker tokens in the bucket at the end. */
  visible: Set<string>;
}

type Middleware = (
  next: (args: { input: Record<string, unknown> }) => Promise<unknown>,
  ctx: { commandName?: string },
) => (args: { input: Record<string, unknown> }) => Promise<unknown>;

async function main(): Promise<number> {
  const started = wall();
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(), DEADLINE_S * 1000);
  deadline.unref();

  const beacon = http.createServer((req, res) => {
    const m = /^\/ran\/([^/]+)\/([^/]+)$/.exec(req.url ?? "");
    if (m) add(beaconRuns, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
    res.end("ok\n");
  });
  await new Promise<void>((ok) => beacon.listen(0, "127.0.0.1", ok));
  const beaconPort = (beacon.address() as AddressInfo).port;

  const root = await mkdtemp(join(tmpdir(), "gyre-bench-backlog-"));
  const repo = await configRepo(join(root, "repo"), config(beaconPort), "echo hi");
  // The defaults: one agent, heartbeatSeconds 30, the reconciler every 30 s.
  const runtime = await startLocalRuntime({ dataDir: join(root, "data"), port: 0, log: runtimeLog }).catch(
    async (error) => {
      beacon.close();
      await rm(root, { recursive: true, force: true });
      throw error;
    },
  );
  const s3Probe: Middleware = (next) => async (args) => {
    const result = await next(args);
    const key = String(args.input.Key ?? "");
    const body = args.input.Body;
    if (key.startsWith("output/") && typeof body === "string") {
      const jobId = key.split("/")[1]!;
      for (const m of body.matchAll(MARKER)) add(storedRuns, jobId, m[1]!);
      if (body.includes("bench-beacon failed")) beaconFailures++;
    }
    return result;
  };
  (runtime.gyre.aws.s3.middlewareStack.add as unknown as (m: Middleware, o: object) => void)(s3Probe, {
    step: "initialize",
    name: "benchBacklogProbe",
  });
  const api = apiClient(runtime.url, runtime.adminToken);

  const triggers: Trigger[] = [];
  const tracked: Tracked[] = [];
  const tallies = new Map<string, Tally>();
  let firstSent = Number.NaN;
  let allTerminalSeen = Number.NaN;
  let finished = false;
  try {
    await api("POST", "/api/gyre/projects", { repo_url: repo, slug: SLUG });
    console.error(
      `[backlog] runtime up in ${fmt((wall() - started) / 1000)} s; triggering ${N} pipelines, ${CONCURRENCY} in flight`,
    );

    // 1. N triggers, at most CONCURRENCY in flight.
    firstSent = wall();
    // From a worker thread: the client's own work stays off the server's event loop.
    const answers = await burst(
      `${runtime.url}/api/v2/project/${SLUG}/pipeline`,
      { "Circle-Token": runtime.adminToken },
      { branch: "main" },
      N,
      CONCURRENCY,
    );
    for (const a of answers) {
      const t: Trigger = { sent: a.sent, answered: a.answered, status: a.status };
      if (a.status === 201) t.pipelineId = (JSON.parse(a.body) as { id: string }).id;
      else t.error = a.body.slice(0, 200);
      triggers.push(t);
      if (t.pipelineId) tracked.push({ pipelineId: t.pipelineId, sent: t.sent });
    }
    console.error(
      `[backlog] ${triggers.length} triggers answered in ${fmt((wall() - firstSent) / 1000)} s (${tracked.length} accepted)`,
    );

    // 2. Until every accepted pipeline's job is terminal: sparse round-robin polling.
    let cursor = 0;
    let lastProgress = wall();
    const pending = () => tracked.filter((t) => !(t.status && TERMINAL_JOB.has(t.status as Job["status"])));
    while (!abort.signal.aborted) {
      const open = pending();
      if (!open.length) {
        allTerminalSeen = wall();
        break;
      }
      const tick = wall();
      const batch: Tracked[] = [];
      for (let reads = 0; batch.length < open.length && reads < POLL_BATCH; ) {
        const t = open[cursor++ % open.length]!;
        if (batch.includes(t)) break;
        batch.push(t);
        reads += t.workflowId ? 1 : 2;
      }
      await Promise.all(
        batch.map(async (t) => {
          try {
            if (!t.workflowId) {
              const wfs = await api<{ items: { id: string }[] }>(
                "GET",
                `/api/v2/pipeline/${t.pipelineId}/workflow`,
              );
              t.workflowId = wfs.items[0]?.id;
              if (!t.workflowId) return;
            }
            const jobs = await api<{
              items: { id: string; job_number: number; status: string; stopped_at: string | null }[];
            }>("GET", `/api/v2/workflow/${t.workflowId}/job`);
            const job = jobs.items[0];
            if (!job) return;
            t.jobId = job.id;
            t.jobNumber = job.job_number;
            t.status = job.status;
            t.stoppedAt = job.stopped_at ?? undefined;
          } catch (error) {
            console.error(`[backlog] poll: ${(error as Error).message}`);
          }
        }),
      );
      if (wall() - lastProgress > 10_000) {
        lastProgress = wall();
        const by = new Map<string, number>();
        for (const t of tracked) bump(by, t.status ?? "unseen");
        console.error(
          `[backlog] +${fmt((wall() - firstSent) / 1000)} s: ${tracked.length - pending().length}/${tracked.length} terminal (${counts(by)}); step runs so far ${[...beaconRuns.values()].reduce((a, s) => a + s.size, 0)}`,
        );
      }
      await sleep(Math.max(0, POLL_MS - (wall() - tick)));
    }
    finished = !abort.signal.aborted;
    // A run of an earlier attempt may still report in.
    if (finished) await sleep(3000);

    // 3. The tally: each job's item (attempt) and what the bucket holds for it.
    await withTimeout(
      pool(tracked, 20, async (t) => {
        const tally: Tally = { outputAttempts: new Set(), visible: new Set() };
        try {
          if (!t.workflowId) {
            const wfs = await api<{ items: { id: string }[] }>(
              "GET",
              `/api/v2/pipeline/${t.pipelineId}/workflow`,
            );
            t.workflowId = wfs.items[0]?.id;
          }
          if (!t.workflowId) return;
          tally.job = await getJob(runtime.gyre, t.workflowId, JOB);
          t.jobId = tally.job.id;
          t.status = tally.job.status;
          t.stoppedAt = tally.job.stoppedAt;
          tallies.set(t.pipelineId, tally);
          const keys = await listKeys(runtime.gyre, `output/${tally.job.id}/`);
          for (const key of keys) {
            const [, , attempt, index, step] = key.split("/");
            tally.outputAttempts.add(`${attempt}/${index}`);
            if (step === "0001") {
              for (const m of ((await readText(runtime.gyre, key)) ?? "").matchAll(MARKER))
                tally.visible.add(m[1]!);
            }
          }
        } catch (error) {
          console.error(`[backlog] tally ${t.pipelineId}: ${(error as Error).message}`);
        }
      }),
      120_000,
      "the tally",
    ).catch((error) => console.error(`[backlog] ${(error as Error).message}`));
  } finally {
    clearTimeout(deadline);
    report({ triggers, tracked, tallies, firstSent, allTerminalSeen, finished, elapsed: wall() - started });
    await withTimeout(runtime.stop(), 30_000, "runtime stop").catch((e) => console.error(String(e)));
    beacon.closeAllConnections();
    await new Promise<void>((ok) => beacon.close(() => ok()));
    await rm(root, { recursive: true, force: true });
  }
  return finished ? 0 : 1;
}

function report(r: {
  triggers: Trigger[];
  tracked: Tracked[];
  tallies: Map<string, Tally>;
  firstSent: number;
  allTerminalSeen: number;
  finished: boolean;
  elapsed: number;
}) {
  const line = (s = "") => console.log(s);
  const { triggers, tracked, tallies, firstSent } = r;
  line();
  line(
    `=== Backlog: N=${N} pipelines, ${CONCURRENCY} triggers in flight, default local runtime (1 agent, heartbeat 30 s) ===`,
  );
  if (!r.finished)
    line(
      `!!! Stopped by the deadline (DEADLINE_S=${DEADLINE_S}) or an error after ${fmt(r.elapsed / 1000)} s: the figures below are partial.`,
    );

  // Triggers.
  const accepted = triggers.filter((t) => t.status === 201);
  const answers = new Map<string, number>();
  for (const t of triggers) bump(answers, t.status ? String(t.status) : `error (${t.error})`);
  const lastAnswer = Math.max(...triggers.map((t) => t.answered).filter(Number.isFinite));
  const triggerWindow = (lastAnswer - firstSent) / 1000;
  const latency = triggers.filter((t) => Number.isFinite(t.answered)).map((t) => t.answered - t.sent);
  line(
    `triggers accepted: ${accepted.length}/${N} (answers: ${counts(answers)})                goal: ${N} accepted`,
  );
  line(
    `triggers accepted/s: ${fmt(accepted.length / triggerWindow)} (first sent → last answer ${fmt(triggerWindow, 2)} s)   goal: as measured`,
  );
  line(
    `trigger answer latency: p50 ${fmt(percentile(latency, 50), 0)} ms, p95 ${fmt(percentile(latency, 95), 0)} ms, max ${fmt(Math.max(...latency), 0)} ms   goal: as measured`,
  );

  // End to end.
  const terminal = tracked.filter((t) => t.status && TERMINAL_JOB.has(t.status as Job["status"]));
  const stopped = terminal.map((t) => at(t.stoppedAt)).filter(Number.isFinite);
  const lastStopped = Math.max(...stopped);
  const e2e = (lastStopped - firstSent) / 1000;
  line(
    `jobs/s end to end: ${fmt(terminal.length / e2e, 2)} (${terminal.length} terminal jobs, first trigger sent → last job stopped_at ${fmt(e2e)} s; all seen terminal by polling at ${fmt((r.allTerminalSeen - firstSent) / 1000)} s)   goal: as measured`,
  );
  const perJob = terminal.map((t) => at(t.stoppedAt) - t.sent).filter(Number.isFinite);
  line(
    `  per job, trigger sent → stopped_at: p50 ${fmt(percentile(perJob, 50) / 1000)} s, p95 ${fmt(percentile(perJob, 95) / 1000)} s, max ${fmt(Math.max(...perJob) / 1000)} s`,
  );

  // Runs.
  const rows = tracked.map((t) => {
    const tally = tallies.get(t.pipelineId);
    const id = t.jobId ?? tally?.job?.id ?? "";
    return {
      t,
      attempt: tally?.job?.attempt,
      beacon: beaconRuns.get(id)?.size ?? 0,
      stored: storedRuns.get(id)?.size ?? 0,
      visible: tally?.visible.size ?? 0,
      outputAttempts: tally?.outputAttempts.size ?? 0,
    };
  });
  const attempts = rows.map((x) => x.attempt).filter((a): a is number => a !== undefined);
  const histogram = (values: number[]) => {
    const h = new Map<string, number>();
    for (const v of values.sort((a, b) => a - b)) bump(h, String(v));
    return [...h].map(([k, v]) => `${k}:${v}`).join(" ");
  };
  line(
    `jobs with attempt > 1: ${attempts.filter((a) => a > 1).length} of ${attempts.length} read; max attempt ${attempts.length ? Math.max(...attempts) : "n/a"} (by attempt ${histogram(attempts)})   goal: 0; max 1`,
  );
  const beaconTotal = rows.reduce((a, x) => a + x.beacon, 0);
  line(
    `jobs whose step ran more than once (beacon): ${rows.filter((x) => x.beacon > 1).length}; max runs ${Math.max(0, ...rows.map((x) => x.beacon))} (by runs ${histogram(rows.map((x) => x.beacon))}); ${beaconTotal} step runs for ${tracked.length} jobs   goal: 0; ${tracked.length} runs`,
  );
  line(
    `jobs whose step ran more than once (markers in stored output): ${rows.filter((x) => x.stored > 1).length}; max ${Math.max(0, ...rows.map((x) => x.stored))}; ${rows.reduce((a, x) => a + x.stored, 0)} runs with stored output   goal: 0`,
  );
  line(
    `  still in the bucket at the end: jobs with output under more than one attempt/index ${rows.filter((x) => x.outputAttempts > 1).length}; markers visible ${rows.reduce((a, x) => a + x.visible, 0)}`,
  );
  const successNoRun = rows.filter((x) => x.t.status === "success" && x.beacon === 0).length;
  line(
    `jobs success without a beacon (beacon lost): ${successNoRun}; beacon failures printed by steps: ${beaconFailures}   goal: 0`,
  );

  // Statuses.
  const statuses = new Map<string, number>();
  for (const t of tracked) bump(statuses, t.status ?? "unseen");
  line(`final job statuses: ${counts(statuses)}   goal: ${N} success`);

  // Runtime log.
  const logged = [...logShapes].reduce((a, [, v]) => a + v, 0);
  line(`runtime log: ${logged} line(s)${logged ? ":" : ""}`);
  for (const [shape, n] of [...logShapes].sort(([, a], [, b]) => b - a).slice(0, 12))
    line(`  ${String(n).padStart(5)} × ${shape}`);
  if (logFirst.length) {
    line("  first lines in full:");
    for (const l of logFirst) line(`    ${l}`);
  }
  line(`wall time: ${fmt(r.elapsed / 1000)} s`);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
