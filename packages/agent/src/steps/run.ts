/**
 * `run`: the command written to a script and run by the step's shell (default
 * `/bin/bash -eo pipefail`), in its working directory, with the step's environment over the
 * job's; `$BASH_ENV` is sourced by bash before each command.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runProcess } from "../process.ts";
import type { StepRunner } from "./context.ts";
import { ownedByJob, resolvePath } from "./paths.ts";

export const DEFAULT_SHELL = "/bin/bash -eo pipefail";
export const DEFAULT_NO_OUTPUT_TIMEOUT = 600;

export const run: StepRunner<"run"> = async (step, record, ctx) => {
  const wanted = step.workingDirectory ?? ctx.workingDirectory;
  // Where the step runs as the job sees it, and the same place on the builder's disk.
  const jobCwd = resolvePath(wanted, ctx.home, ctx.workingDirectory);
  const hostCwd = resolvePath(wanted, ctx.home, ctx.workingDirectory, ctx.confinement);
  const onHost = !ctx.confinement || ownedByJob(hostCwd, ctx.confinement.root);
  // The agent creates directories only inside the job's; the sandbox makes any other one itself.
  if (onHost) await mkdir(hostCwd, { recursive: true });
  const script = join(ctx.root, `step-${record.index}.sh`);
  await writeFile(script, step.command.endsWith("\n") ? step.command : `${step.command}\n`);
  await chmod(script, 0o700);
  const shell = (step.shell ?? ctx.job.plan?.shell ?? DEFAULT_SHELL).split(/\s+/).filter(Boolean);
  return runProcess([...shell, script], record, ctx, {
    cwd: onHost ? hostCwd : ctx.root,
    jobCwd,
    env: { ...ctx.env, ...step.environment },
    noOutputTimeout: step.noOutputTimeout ?? DEFAULT_NO_OUTPUT_TIMEOUT,
    background: step.background,
  });
};
