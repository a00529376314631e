/**
 * Runs a step's process: stdout and stderr streamed into the step's output as they come,
 * CircleCI's no-output timeout, cancellation, and `background: true` steps left running until
 * the job ends. Where and how the process starts is the job's launcher: by default a local
 * process in its own process group on the builder (through the job's sandbox), or an exec in
 * the job's container (executor/docker.ts). Both go through `runProcess`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { StepRecord } from "@gyre/core/output/index";
import { MAX_BACKLOG_CHARS } from "./output.ts";
import type { StepContext, StepResult } from "./steps/context.ts";

export interface ProcessOptions {
  /** Where the process starts on the builder. */
  cwd: string;
  /** Where it works as the job sees it, when that differs (a sandboxed `/tmp/x`). */
  jobCwd?: string;
  env: Record<string, string>;
  /** Seconds without output before the process is killed. */
  noOutputTimeout: number;
  background?: boolean;
}

/** Where a launched process works: on the builder's disk (`cwd`) and as the job sees it (`jobCwd`). */
export interface LaunchPlace {
  cwd: string;
  jobCwd: string;
  env: Record<string, string>;
}

/** A started step process, wherever it runs. */
export interface Launched {
  stdout: Readable;
  stderr: Readable;
  /** Settles once the process has ended and its output is read; rejects when it could not start. */
  exit: Promise<{ code: number | null; signal: string | null }>;
  /** Kills the process and everything it started. */
  kill(): void;
}

/** Starts `argv` for a step. Rejects when the process cannot be started at all. */
export type Launcher = (argv: string[], place: LaunchPlace) => Promise<Launched>;

/** Something a step started that lives until the job ends (a background step, a Docker engine). */
export interface JobService {
  stop(): Promise<void>;
}

export function killTree(child: ChildProcess): void {
  if (child.pid && child.exitCode === null) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }
}

export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A local process in its own process group, its command line turned by `wrap` (the sandbox's). */
export function localLauncher(wrap: (argv: string[], cwd: string) => string[]): Launcher {
  return async (argv, place) => {
    const [command, ...args] = wrap(argv, place.jobCwd);
    const child = spawn(command!, args, {
      cwd: place.cwd,
      env: place.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
      child.on("error", (error) => reject(new Error(`Could not start ${command}: ${error.message}`)));
      child.on("close", (code, signal) => resolve({ code, signal }));
    });
    return { stdout: child.stdout!, stderr: child.stderr!, exit, kill: () => killTree(child) };
  };
}

export async function runProcess(
  argv: string[],
  record: StepRecord,
  ctx: StepContext,
  options: ProcessOptions,
): Promise<StepResult> {
  const launch = ctx.launch ?? localLauncher(ctx.wrap);
  let child: Launched;
  try {
    child = await launch(argv, { cwd: options.cwd, jobCwd: options.jobCwd ?? options.cwd, env: options.env });
  } catch (error) {
    ctx.output.write(record.index, `${(error as Error).message}\n`);
    return { status: "failed", exitCode: null };
  }
  const decoders = [new TextDecoder(), new TextDecoder()];
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
      child.kill();
    }, options.noOutputTimeout * 1000);
  };
  armSilence();
  // Backpressure: a step printing faster than its output uploads is paused (its writes block)
  // until the backlog is sent, so the agent's memory stays bounded whatever a step prints.
  const streams = [child.stdout, child.stderr];
  let paused = false;
  for (const [i, stream] of streams.entries()) {
    stream.on("data", (b: Buffer) => {
      armSilence();
      ctx.output.write(record.index, decoders[i]!.decode(b, { stream: true }));
      if (!paused && ctx.output.backlog > MAX_BACKLOG_CHARS) {
        paused = true;
        for (const s of streams) s.pause();
        void ctx.output.flush().then(() => {
          paused = false;
          armSilence();
          for (const s of streams) s.resume();
        });
      }
    });
  }
  const onAbort = () => child.kill();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  if (ctx.signal.aborted) child.kill();
  const done = child.exit.then(
    ({ code, signal }): StepResult => {
      clearTimeout(silentTimer);
      ctx.signal.removeEventListener("abort", onAbort);
      if (timedOut) return { status: "timedout", exitCode: null };
      if (ctx.signal.aborted) return { status: "canceled", exitCode: null };
      if (code !== 0) ctx.output.write(record.index, `\nExited with code ${code ?? `signal ${signal}`}\n`);
      return { status: code === 0 ? "success" : "failed", exitCode: code };
    },
    (error: Error): StepResult => {
      clearTimeout(silentTimer);
      ctx.signal.removeEventListener("abort", onAbort);
      ctx.output.write(record.index, `${error.message}\n`);
      return { status: "failed", exitCode: null };
    },
  );
  if (options.background) {
    // Its end is reported nowhere: the job kills it when it ends.
    done.catch(() => undefined);
    ctx.background.push({ stop: async () => child.kill() });
    return { status: "success", exitCode: null };
  }
  return done;
}
