/** What every step runner is given, and what it answers. */
import type { ChildProcess } from "node:child_process";
import type { Step } from "@gyre/core/config/plan";
import type { AllocationRef } from "@gyre/core/dispatch/index";
import type { Job } from "@gyre/core/job/index";
import type { StepRecord } from "@gyre/core/output/index";
import type { GyreApi } from "../api.ts";
import type { OutputStream } from "../output.ts";

export interface StepContext {
  job: Job;
  allocation: AllocationRef;
  api: GyreApi;
  output: OutputStream;
  signal: AbortSignal;
  /** The allocation's own directory: HOME, scripts and state live below it. */
  root: string;
  home: string;
  workingDirectory: string;
  /** The job's environment (CircleCI's, the project's and the config's, in that precedence). */
  env: Record<string, string>;
  /** Processes started by `background: true` steps, killed when the job ends. */
  background: ChildProcess[];
  /** Turns a command line into the one that runs it in this job's sandbox (identity when none). */
  wrap: (argv: string[], cwd: string) => string[];
  /** Set when the job is sandboxed: its /tmp on the host, and the directory file steps stay in. */
  confinement?: { tmp: string; root: string };
}

export interface StepResult {
  status: StepRecord["status"];
  exitCode: number | null;
}

export type StepRunner<T extends Step["type"]> = (
  step: Extract<Step, { type: T }>,
  record: StepRecord,
  ctx: StepContext,
) => Promise<StepResult>;
