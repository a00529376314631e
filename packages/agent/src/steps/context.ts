/** What every step runner is given, and what it answers. */
import type { Step } from "@gyre/core/config/plan";
import type { AllocationRef, AssignedJob, StepRecord } from "@gyre/core/protocol/agent";
import type { GyreApi } from "../api.ts";
import type { OutputStream } from "../output.ts";
import type { JobService, Launcher } from "../process.ts";
import type { Confinement } from "./paths.ts";

export interface StepContext {
  job: AssignedJob;
  allocation: AllocationRef;
  /** This builder node (the one that claimed the allocation). */
  nodeId: string;
  api: GyreApi;
  output: OutputStream;
  signal: AbortSignal;
  /** The allocation's own directory: HOME, scripts and state live below it. */
  root: string;
  home: string;
  workingDirectory: string;
  /** The job's environment (CircleCI's, the project's and the config's, in that precedence). */
  env: Record<string, string>;
  /** What steps started to outlive them (`background: true` processes, a remote Docker engine), stopped when the job ends. */
  background: JobService[];
  /** Turns a command line into the one that runs it in this job's sandbox (identity when none). */
  wrap: (argv: string[], cwd: string) => string[];
  /** How step processes start when not as local processes through `wrap`: an exec in the job's container. */
  launch?: Launcher;
  /** Set when the job is sandboxed: its /tmp on the host, and the directory file steps stay in. */
  confinement?: Confinement;
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
