/**
 * Runs a step's process: its own process group (so a timeout or cancel kills everything it
 * started), stdout and stderr streamed into the step's output as they come, CircleCI's
 * no-output timeout, and `background: true` steps left running until the job ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { StepRecord } from "@gyre/core/output/index";
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

export function runProcess(
  argv: string[],
  record: StepRecord,
  ctx: StepContext,
  options: ProcessOptions,
): Promise<StepResult> {
  const [command, ...args] = ctx.wrap(argv, options.jobCwd ?? options.cwd);
  const child = spawn(command!, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
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
      killTree(child);
    }, options.noOutputTimeout * 1000);
  };
  armSilence();
  for (const [i, stream] of [child.stdout!, child.stderr!].entries()) {
    stream.on("data", (b: Buffer) => {
      armSilence();
      ctx.output.write(record.index, decoders[i]!.decode(b, { stream: true }));
    });
  }
  const onAbort = () => killTree(child);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const done = new Promise<StepResult>((resolve) => {
    child.on("error", (error) => {
      clearTimeout(silentTimer);
      ctx.output.write(record.index, `Could not start ${command}: ${error.message}\n`);
      resolve({ status: "failed", exitCode: null });
    });
    child.on("close", (code, signal) => {
      clearTimeout(silentTimer);
      ctx.signal.removeEventListener("abort", onAbort);
      if (timedOut) return resolve({ status: "timedout", exitCode: null });
      if (ctx.signal.aborted) return resolve({ status: "canceled", exitCode: null });
      if (code !== 0) ctx.output.write(record.index, `\nExited with code ${code ?? `signal ${signal}`}\n`);
      resolve({ status: code === 0 ? "success" : "failed", exitCode: code });
    });
  });
  if (options.background) {
    ctx.background.push(child);
    return Promise.resolve({ status: "success", exitCode: null });
  }
  return done;
}
