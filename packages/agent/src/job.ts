/**
 * Runs one allocation of a job: a fresh working directory with its own HOME, the CircleCI
 * environment, then each step of the compiled plan in order, honouring `when`, and reports
 * each step's output and outcome. Executors this builder cannot provide (docker, macos,
 * windows) run on the host instead, and the first output line says so.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Step } from "@gyre/core/config/plan";
import type { AllocationRef } from "@gyre/core/dispatch/index";
import type { Job } from "@gyre/core/job/index";
import type { StepRecord } from "@gyre/core/output/index";
import type { OutputStream } from "./output.ts";

export type AllocationOutcome = "success" | "failed" | "canceled";

export interface RunContext {
  job: Job;
  allocation: AllocationRef;
  workDir: string;
  output: OutputStream;
  signal: AbortSignal;
  /** Environment variables from the project and contexts (issue #4 fills this). */
  secrets?: Record<string, string>;
}

const DEFAULT_SHELL = "/bin/bash -eo pipefail";
const DEFAULT_NO_OUTPUT_TIMEOUT = 600;

/** CircleCI's built-in environment for a job. */
export function circleEnvironment(
  job: Job,
  allocation: AllocationRef,
  workingDirectory: string,
  bashEnv: string,
): Record<string, string> {
  const [, org = "", repo = ""] = job.projectSlug.split("/");
  const env: Record<string, string> = {
    CI: "true",
    CIRCLECI: "true",
    CIRCLE_BRANCH: job.checkout.branch ?? "",
    CIRCLE_BUILD_NUM: String(job.number),
    CIRCLE_JOB: job.name,
    CIRCLE_NODE_INDEX: String(allocation.index),
    CIRCLE_NODE_TOTAL: String(Object.keys(job.allocations).length),
    CIRCLE_PROJECT_USERNAME: org,
    CIRCLE_PROJECT_REPONAME: repo,
    CIRCLE_REPOSITORY_URL: job.checkout.repoUrl,
    CIRCLE_SHA1: job.checkout.revision,
    CIRCLE_WORKFLOW_ID: job.workflowId,
    CIRCLE_WORKFLOW_JOB_ID: job.id,
    CIRCLE_WORKFLOW_WORKSPACE_ID: job.workflowId,
    CIRCLE_PIPELINE_ID: job.pipelineId,
    CIRCLE_WORKING_DIRECTORY: workingDirectory,
    CIRCLE_SHELL_ENV: bashEnv,
    BASH_ENV: bashEnv,
  };
  if (job.checkout.tag) env.CIRCLE_TAG = job.checkout.tag;
  return env;
}

/** `~` and relative paths as CircleCI resolves them: `~` is HOME, relative is under the working directory. */
export function resolvePath(path: string, home: string, workingDirectory: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(workingDirectory, path);
}

function stepName(step: Step): string {
  if (step.name) return step.name;
  switch (step.type) {
    case "checkout":
      return "Checkout code";
    case "run":
      return step.command.split("\n")[0]!.slice(0, 100);
    default:
      return step.type;
  }
}

function hostNote(job: Job): string | undefined {
  const executor = job.plan?.executor;
  if (!executor || executor.type === "machine") return undefined;
  const what =
    executor.type === "docker"
      ? `docker image ${executor.images[0]?.image ?? "(none)"}`
      : executor.type === "macos"
        ? `macOS (Xcode ${executor.xcode})`
        : "Windows";
  return `Gyre: this builder cannot provide the ${executor.type} executor yet; running on the host in a fresh working directory instead of ${what}.\n`;
}

export async function runAllocation(ctx: RunContext): Promise<AllocationOutcome> {
  const { job, allocation, output } = ctx;
  const plan = job.plan!;
  const root = join(ctx.workDir, `${job.id}-${allocation.attempt}-${allocation.index}`);
  await rm(root, { recursive: true, force: true });
  const home = join(root, "home");
  await mkdir(home, { recursive: true });
  const workingDirectory = resolvePath(plan.workingDirectory || "~/project", home, home);
  await mkdir(workingDirectory, { recursive: true });
  const bashEnv = join(root, ".bash_env");
  await writeFile(bashEnv, "");

  const baseEnv: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    LANG: process.env.LANG ?? "C.UTF-8",
    HOME: home,
    USER: process.env.USER ?? "circleci",
    ...circleEnvironment(job, allocation, workingDirectory, bashEnv),
    ...(ctx.secrets ?? {}),
    ...plan.environment,
  };

  let index = 0;
  const spinUp = output.startStep({ index: index++, name: "Spin up environment", type: "spin_up" });
  const note = hostNote(job);
  if (note) output.write(spinUp.index, note);
  output.write(
    spinUp.index,
    `Build-agent: gyre, node ${process.env.GYRE_NODE_ID ?? "local"}\nWorking directory: ${workingDirectory}\n`,
  );
  output.endStep(spinUp, "success", 0);

  let failed = false;
  const background: ChildProcess[] = [];
  try {
    for (const step of plan.steps) {
      if (ctx.signal.aborted) return "canceled";
      const when = "when" in step ? step.when : "on_success";
      if ((when === "on_success" && failed) || (when === "on_fail" && !failed)) continue;
      const record = output.startStep({
        index: index++,
        name: stepName(step),
        type: step.type,
        background: step.type === "run" && step.background,
      });
      const result = await runStep(step, record, {
        ...ctx,
        home,
        workingDirectory,
        env: baseEnv,
        background,
      });
      output.endStep(record, result.status, result.exitCode);
      if (result.status !== "success") failed = true;
    }
  } finally {
    for (const child of background) killTree(child);
  }
  if (ctx.signal.aborted) return "canceled";
  return failed ? "failed" : "success";
}

interface StepContext extends RunContext {
  home: string;
  workingDirectory: string;
  env: Record<string, string>;
  background: ChildProcess[];
}

interface StepResult {
  status: StepRecord["status"];
  exitCode: number | null;
}

async function runStep(step: Step, record: StepRecord, ctx: StepContext): Promise<StepResult> {
  switch (step.type) {
    case "checkout":
      return checkout(step.path, record, ctx);
    case "run":
      return runCommand(step, record, ctx);
    default:
      ctx.output.write(
        record.index,
        `Gyre: the "${step.type}" step is not supported by this builder yet; failing the step.\n`,
      );
      return { status: "failed", exitCode: null };
  }
}

async function checkout(path: string | undefined, record: StepRecord, ctx: StepContext): Promise<StepResult> {
  const dir = path ? resolvePath(path, ctx.home, ctx.workingDirectory) : ctx.workingDirectory;
  const { revision, branch, repoUrl } = ctx.job.checkout;
  const script = [
    `git init -q ${quote(dir)}`,
    `cd ${quote(dir)}`,
    `git remote add origin ${quote(repoUrl)} 2>/dev/null || git remote set-url origin ${quote(repoUrl)}`,
    `git fetch -q --no-tags origin ${quote(revision)}`,
    branch
      ? `git checkout -q -B ${quote(branch)} ${quote(revision)}`
      : `git checkout -q --detach ${quote(revision)}`,
    `echo "Checked out ${revision.slice(0, 12)}${branch ? ` on ${branch}` : ""} into ${dir}"`,
  ].join(" && ");
  return execute(["/bin/bash", "-eo", "pipefail", "-c", script], record, ctx, {
    cwd: ctx.home,
    env: { ...ctx.env, GIT_TERMINAL_PROMPT: "0" },
    noOutputTimeout: DEFAULT_NO_OUTPUT_TIMEOUT,
  });
}

async function runCommand(
  step: Extract<Step, { type: "run" }>,
  record: StepRecord,
  ctx: StepContext,
): Promise<StepResult> {
  const cwd = step.workingDirectory
    ? resolvePath(step.workingDirectory, ctx.home, ctx.workingDirectory)
    : ctx.workingDirectory;
  await mkdir(cwd, { recursive: true });
  const script = join(ctx.home, "..", `step-${record.index}.sh`);
  await writeFile(script, step.command.endsWith("\n") ? step.command : `${step.command}\n`);
  await chmod(script, 0o700);
  const shell = (step.shell ?? ctx.job.plan?.shell ?? DEFAULT_SHELL).split(/\s+/).filter(Boolean);
  const options = {
    cwd,
    env: { ...ctx.env, ...step.environment },
    noOutputTimeout: step.noOutputTimeout ?? DEFAULT_NO_OUTPUT_TIMEOUT,
    background: step.background,
  };
  return execute([...shell, script], record, ctx, options);
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function killTree(child: ChildProcess): void {
  if (child.pid && child.exitCode === null) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }
}

function execute(
  argv: string[],
  record: StepRecord,
  ctx: StepContext,
  options: { cwd: string; env: Record<string, string>; noOutputTimeout: number; background?: boolean },
): Promise<StepResult> {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so a timeout or cancel kills everything it started
  });
  const decoderOut = new TextDecoder();
  const decoderErr = new TextDecoder();
  let silentTimer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const armSilence = () => {
    clearTimeout(silentTimer);
    silentTimer = setTimeout(() => {
      timedOut = true;
      ctx.output.write(
        record.index,
        `\nToo long with no output (exceeded ${options.noOutputTimeout}s): context deadline exceeded\n`,
      );
      killTree(child);
    }, options.noOutputTimeout * 1000);
  };
  armSilence();
  child.stdout!.on("data", (b: Buffer) => {
    armSilence();
    ctx.output.write(record.index, decoderOut.decode(b, { stream: true }));
  });
  child.stderr!.on("data", (b: Buffer) => {
    armSilence();
    ctx.output.write(record.index, decoderErr.decode(b, { stream: true }));
  });
  const onAbort = () => killTree(child);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const done = new Promise<StepResult>((resolveResult) => {
    child.on("error", (error) => {
      clearTimeout(silentTimer);
      ctx.output.write(record.index, `Could not start ${argv[0]}: ${error.message}\n`);
      resolveResult({ status: "failed", exitCode: null });
    });
    child.on("close", (code, signal) => {
      clearTimeout(silentTimer);
      ctx.signal.removeEventListener("abort", onAbort);
      if (timedOut) return resolveResult({ status: "timedout", exitCode: null });
      if (ctx.signal.aborted) return resolveResult({ status: "canceled", exitCode: null });
      if (code !== 0) ctx.output.write(record.index, `\nExited with code ${code ?? `signal ${signal}`}\n`);
      resolveResult({ status: code === 0 ? "success" : "failed", exitCode: code });
    });
  });
  if (options.background) {
    ctx.background.push(child);
    return Promise.resolve({ status: "success", exitCode: null });
  }
  return done;
}

export const defaultWorkDir = () => join(homedir(), ".gyre", "work");
