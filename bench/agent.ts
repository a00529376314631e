/**
 * The builder agent's own costs, measured through its real step path on the local stack (one
 * agent, jobs sandboxed as on any builder), each figure next to a baseline from the same run:
 *
 * 1. Per-step overhead: one job of STEPS `run: "true"` steps; a step's cost is the time from
 *    its start to the next step's start (v1.1 step times). Baselines: `bash -c true` spawned
 *    here, and the same inside bubblewrap with the agent's own sandbox arguments.
 * 2. Output throughput: a step printing OUTPUT_MB MB of numbered lines; MB/s over the step and
 *    over the whole job (until every chunk is stored). Every line is checked: the stored
 *    output's line count and SHA-256 against the expected text. Baseline: the same command
 *    spawned here, its stdout read and discarded.
 * 3. Cache: a CACHE_MB MB directory of random (incompressible) files through real save_cache
 *    and restore_cache steps (tar.gz, presigned PUT/GET to s3rver), MB/s from the step times,
 *    checked by checksum after the restore. Baselines: `tar -czf` and `tar -xzf` of the same
 *    amount here.
 *
 * Run: `node --import tsx bench/agent.ts` (STEPS=30, OUTPUT_MB=100, CACHE_MB=200 by default;
 * FALLBACK_MB=4 is measured too when OUTPUT_MB does not get through).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { bwrapArgs, probeBwrap, systemEntries } from "../packages/agent/src/sandbox/index.ts";
import { startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { getJob } from "../packages/core/src/job/index.ts";
import { readStepOutput } from "../packages/core/src/output/index.ts";

const STEPS = Number(process.env.STEPS ?? 30);
const OUTPUT_MB = Number(process.env.OUTPUT_MB ?? 100);
const CACHE_MB = Number(process.env.CACHE_MB ?? 200);
const MB = 1_000_000;

/** One output line: `line 000000001 ` and 80 dots: 96 bytes with its newline. */
const DOTS = ".".repeat(80);
const LINE_BYTES = 96;
/** A size that the agent's output path gets through, measured when OUTPUT_MB fails. */
const FALLBACK_MB = Number(process.env.FALLBACK_MB ?? 4);
const printCommand = (lines: number) => `seq -f 'line %09.0f ${DOTS}' 1 ${lines}`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const at = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** Spawns argv, discards its output; resolves with the milliseconds to its exit and the bytes it wrote. */
function timed(argv: string[], cwd?: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let bytes = 0;
    child.stdout.on("data", (b: Buffer) => {
      bytes += b.length;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve({ ms: performance.now() - start, bytes })
        : reject(new Error(`${argv[0]} exited ${code}`)),
    );
  });
}

const overheadConfig = `version: 2.1
jobs:
  steps:
    machine: true
    steps:
${Array.from({ length: STEPS + 2 }, () => `      - run: "true"`).join("\n")}
workflows:
  main:
    jobs: [steps]
`;

const outputConfig = (command: string) => `version: 2.1
jobs:
  output:
    machine: true
    steps:
      - run:
          name: Print
          command: ${command}
workflows:
  main:
    jobs: [output]
`;

const cacheConfig = `version: 2.1
jobs:
  cache:
    machine: true
    steps:
      - run:
          name: Make
          command: |
            mkdir -p data
            for i in $(seq 1 ${CACHE_MB / 2}); do head -c 2000000 /dev/urandom > data/f$i; done
            (cd data && sha256sum * | sha256sum) > before.sum
      - save_cache:
          name: Save
          key: bench-v1
          paths: [data]
      - run: { name: Remove, command: rm -rf data }
      - restore_cache:
          name: Restore
          keys: [bench-v1]
      - run:
          name: Verify
          command: (cd data && sha256sum * | sha256sum) | diff - before.sum && echo "restored intact"
workflows:
  main:
    jobs: [cache]
`;

interface V1Step {
  name: string;
  actions: { status: string; start_time: string; end_time: string | null; exit_code: number | null }[];
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), "gyre-bench-agent-"));
  const scratch = await mkdtemp(join(tmpdir(), "gyre-bench-agent-base-"));
  const runtime = await startLocalRuntime({ dataDir, port: 0, agents: 1, log: () => undefined });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${runtime.url}${path}`, {
      method,
      headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown> & { items?: Record<string, unknown>[] };
  };

  const git = (cwd: string, ...args: string[]) =>
    timed(["git", "-C", cwd, "-c", "user.name=Bench", "-c", "user.email=bench@localhost", ...args]);

  /** Registers a project whose repository holds `config`, runs one pipeline, answers its job. */
  async function runJob(slug: string, config: string) {
    const repo = join(scratch, slug.replace(/\//g, "_"));
    await mkdir(join(repo, ".circleci"), { recursive: true });
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(repo, ".circleci", "config.yml"), config);
    await git(repo, "init", "-q", "-b", "main");
    await git(repo, "add", "-A");
    await git(repo, "commit", "-q", "-m", "bench");
    await call("POST", "/api/gyre/projects", { repo_url: repo, slug });
    const pipeline = await call("POST", `/api/v2/project/${slug}/pipeline`, { branch: "main" });
    for (;;) {
      const [workflow] = (await call("GET", `/api/v2/pipeline/${pipeline.id}/workflow`)).items ?? [];
      if (workflow && ["success", "failed"].includes(workflow.status as string)) {
        const [job] = (await call("GET", `/api/v2/workflow/${workflow.id}/job`)).items!;
        const number = job!.job_number as number;
        const details = await call("GET", `/api/v2/project/${slug}/job/${number}`);
        const v1 = await call("GET", `/api/v1.1/project/${slug}/${number}`);
        return {
          job: job!,
          workflowId: workflow.id as string,
          details,
          steps: v1.steps as unknown as V1Step[],
        };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  try {
    // 1. Per-step overhead.
    const overhead = await runJob("gh/bench/steps", overheadConfig);
    const runs = overhead.steps.slice(1); // after "Spin up environment"
    if (runs.some((s) => s.actions[0]!.status !== "success"))
      throw new Error("a `true` step did not succeed");
    // Step i's cost: its start to the next one's start; the first step is a warm-up.
    const perStep = runs
      .slice(1, -1)
      .map((s, i) => at(runs[i + 2]!.actions[0]!.start_time) - at(s.actions[0]!.start_time));
    const inside = runs.slice(1, -1).map((s) => at(s.actions[0]!.end_time) - at(s.actions[0]!.start_time));
    const bash: number[] = [];
    for (let i = 0; i < STEPS + 1; i++) bash.push((await timed(["bash", "-c", "true"])).ms);
    bash.shift();
    const bwrap = probeBwrap();
    const sandboxed: number[] = [];
    if ("path" in bwrap) {
      const root = join(scratch, "sandbox-root");
      await mkdir(join(root, "tmp"), { recursive: true });
      const spec = {
        root,
        home: root,
        network: "host" as const,
        mounts: [{ at: "/tmp", host: join(root, "tmp") }],
        system: systemEntries(),
        masked: [],
        readOnly: [],
        hidden: [],
        shared: [],
      };
      for (let i = 0; i < STEPS + 1; i++)
        sandboxed.push((await timed([bwrap.path, ...bwrapArgs(spec, ["bash", "-c", "true"], root)])).ms);
      sandboxed.shift();
    }
    const p50 = percentile(perStep, 50);
    console.log(
      `\n== Per-step overhead: ${perStep.length} \`run: "true"\` steps in one job (v1.1 step times, ms resolution)`,
    );
    console.log(
      `  agent step, start to next start: p50 ${fmt(p50)} ms  p95 ${fmt(percentile(perStep, 95))} ms  max ${fmt(Math.max(...perStep))} ms`,
    );
    console.log(`  of which the step itself (start to end): p50 ${fmt(percentile(inside, 50))} ms`);
    console.log(
      `  baseline bash -c true, spawned here:      p50 ${fmt(percentile(bash, 50), 2)} ms  p95 ${fmt(percentile(bash, 95), 2)} ms`,
    );
    if (sandboxed.length)
      console.log(`  baseline bwrap + bash -c true (same args): p50 ${fmt(percentile(sandboxed, 50), 2)} ms`);
    console.log(
      `  ratio agent step / bash -c true: ${fmt(p50 / percentile(bash, 50))}x${sandboxed.length ? `; / bwrap + bash: ${fmt(p50 / percentile(sandboxed, 50))}x` : ""}`,
    );

    // 2. Output throughput (and, when the full size fails, a size that gets through).
    const expectedHash = (lines: number) => {
      const hash = createHash("sha256");
      for (let i = 1; i <= lines; i++) hash.update(`line ${String(i).padStart(9, "0")} ${DOTS}\n`);
      return hash.digest("hex");
    };
    const measureOutput = async (mb: number) => {
      const lines = Math.ceil((mb * MB) / LINE_BYTES);
      const command = printCommand(lines);
      const run = await runJob(`gh/bench/output-${mb}`, outputConfig(command));
      const job = await getJob(runtime.gyre, run.workflowId, run.job.name as string).catch(() => undefined);
      const print = run.steps.find((s) => s.name === "Print")?.actions[0];
      const bytes = lines * LINE_BYTES;
      console.log(`\n== Output throughput: ${fmt(bytes / MB)} MB, ${lines} lines from one step`);
      const jobId = run.job.id as string;
      const stored = await readStepOutput(runtime.gyre, { jobId, attempt: job?.attempt ?? 1, index: 0 }, 1);
      const storedLines = stored.split("\n").length - 1;
      const intact = createHash("sha256").update(stored).digest("hex") === expectedHash(lines);
      console.log(
        `  job ${run.job.status} (attempt ${job?.attempt ?? "?"}); step ${print?.status ?? "missing"}; stored ${fmt(Buffer.byteLength(stored) / MB)} MB, ${storedLines} of ${lines} lines; every line intact (SHA-256): ${intact ? "yes" : "NO"}`,
      );
      if (print?.end_time && run.job.status === "success") {
        const stepMs = at(print.end_time) - at(print.start_time);
        const jobMs = at(run.details.stopped_at as string) - at(print.start_time);
        console.log(
          `  step start to end: ${fmt(stepMs / 1000, 2)} s = ${fmt(bytes / MB / (stepMs / 1000))} MB/s`,
        );
        console.log(
          `  step start to job stopped (all output stored): ${fmt(jobMs / 1000, 2)} s = ${fmt(bytes / MB / (jobMs / 1000))} MB/s`,
        );
      }
      const baseline = await timed(["bash", "-c", command]);
      console.log(
        `  baseline, the same command spawned here and read: ${fmt(baseline.ms / 1000, 2)} s = ${fmt(baseline.bytes / MB / (baseline.ms / 1000))} MB/s`,
      );
      return run.job.status === "success" && intact;
    };
    if (!(await measureOutput(OUTPUT_MB))) {
      console.log(
        `  FAILED at ${OUTPUT_MB} MB: see bench/README.md (the agent's output upload). Measuring ${FALLBACK_MB} MB instead:`,
      );
      await measureOutput(FALLBACK_MB);
    }

    // 3. Cache save/restore.
    const cache = await runJob("gh/bench/cache", cacheConfig);
    const step = (name: string) => cache.steps.find((s) => s.name === name)?.actions[0];
    const save = step("Save")!;
    const restore = step("Restore")!;
    const verify = step("Verify");
    const seconds = (a: { start_time: string; end_time: string | null }) =>
      (at(a.end_time) - at(a.start_time)) / 1000;
    const cacheBytes = (CACHE_MB / 2) * 2 * MB;
    const base = join(scratch, "cache-base");
    await mkdir(join(base, "data"), { recursive: true });
    await timed([
      "bash",
      "-c",
      `cd ${base}/data && for i in $(seq 1 ${CACHE_MB / 2}); do head -c 2000000 /dev/urandom > f$i; done`,
    ]);
    const tarC = await timed(["tar", "-czf", join(base, "a.tar.gz"), "-C", base, "data"]);
    await rm(join(base, "data"), { recursive: true });
    const tarX = await timed(["tar", "-xzf", join(base, "a.tar.gz"), "-C", base]);
    console.log(
      `\n== Cache: ${fmt(cacheBytes / MB)} MB of random files (${CACHE_MB / 2} × 2 MB), tar.gz through presigned URLs to s3rver`,
    );
    console.log(
      `  save_cache:    ${save.status}, ${fmt(seconds(save), 2)} s = ${fmt(cacheBytes / MB / seconds(save))} MB/s`,
    );
    console.log(
      `  restore_cache: ${restore.status}, ${fmt(seconds(restore), 2)} s = ${fmt(cacheBytes / MB / seconds(restore))} MB/s; checksum after restore: ${verify?.status === "success" ? "intact" : "MISMATCH"}`,
    );
    console.log(
      `  baseline tar -czf here: ${fmt(tarC.ms / 1000, 2)} s = ${fmt(cacheBytes / MB / (tarC.ms / 1000))} MB/s; tar -xzf: ${fmt(tarX.ms / 1000, 2)} s = ${fmt(cacheBytes / MB / (tarX.ms / 1000))} MB/s`,
    );
  } finally {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
