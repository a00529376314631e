/**
 * Every step kind of the compiled plan and the runner that carries it out. A kind without a
 * runner fails its step with a message saying so (never a silent skip).
 */
import type { Step } from "@gyre/core/config/plan";
import type { StepRecord } from "@gyre/core/output/index";
import { add_ssh_keys } from "./add_ssh_keys.ts";
import { attach_workspace } from "./attach_workspace.ts";
import { checkout } from "./checkout.ts";
import type { StepContext, StepResult, StepRunner } from "./context.ts";
import { PathOutsideJob } from "./paths.ts";
import { persist_to_workspace } from "./persist_to_workspace.ts";
import { restore_cache } from "./restore_cache.ts";
import { run } from "./run.ts";
import { save_cache } from "./save_cache.ts";
import { setup_remote_docker } from "./setup_remote_docker.ts";
import { store_artifacts } from "./store_artifacts.ts";
import { store_test_results } from "./store_test_results.ts";

type Runners = { [K in Step["type"]]?: StepRunner<K> };

const RUNNERS: Runners = {
  checkout,
  run,
  save_cache,
  restore_cache,
  store_artifacts,
  store_test_results,
  persist_to_workspace,
  attach_workspace,
  setup_remote_docker,
  add_ssh_keys,
};

export async function runStep(step: Step, record: StepRecord, ctx: StepContext): Promise<StepResult> {
  const runner = RUNNERS[step.type] as StepRunner<Step["type"]> | undefined;
  if (!runner) {
    ctx.output.write(
      record.index,
      `Gyre: the "${step.type}" step is not supported by this builder yet; failing the step.\n`,
    );
    return { status: "failed", exitCode: null };
  }
  try {
    return await runner(step as never, record, ctx);
  } catch (error) {
    if (!(error instanceof PathOutsideJob)) throw error;
    ctx.output.write(record.index, `${error.message}\n`);
    return { status: "failed", exitCode: null };
  }
}

/** The name CircleCI shows for a step without one. */
export function stepName(step: Step): string {
  if (step.name) return step.name;
  switch (step.type) {
    case "checkout":
      return "Checkout code";
    case "run":
      return step.command.split("\n")[0]!.slice(0, 100);
    case "save_cache":
      return "Saving Cache";
    case "restore_cache":
      return "Restoring Cache";
    case "store_artifacts":
      return "Uploading artifacts";
    case "store_test_results":
      return "Uploading test results";
    case "persist_to_workspace":
      return "Persisting to Workspace";
    case "attach_workspace":
      return "Attaching Workspace";
    case "add_ssh_keys":
      return "Install additional SSH keys";
    case "setup_remote_docker":
      return "Setup a remote Docker engine";
  }
}
