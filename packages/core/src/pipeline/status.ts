/**
 * What a branch's status badge shows: the state of the branch's latest pipeline, in the words
 * of CircleCI's badges (passed, failed, running, or no builds when the branch has none).
 */
import type { Gyre } from "../context.ts";
import { RefName } from "../protocol/api.ts";
import { z } from "../protocol/schema.ts";
import { listWorkflows, type Workflow, type WorkflowStatus } from "../workflow/index.ts";
import type { Pipeline } from "./model.ts";
import { listPipelines } from "./read.ts";

export type BranchStatus = "passed" | "failed" | "running" | "none";

const FAILED = new Set<WorkflowStatus>(["failed", "error", "failing", "canceled", "unauthorized"]);
const RUNNING = new Set<WorkflowStatus>(["running", "on_hold"]);

/** How many of the branch's latest pipelines are looked at for one that ran something. */
const LOOK_BACK = 20;

/**
 * One pipeline's status, from the latest run of each of its workflows (a rerun replaces the run
 * it reruns): failed once any has failed, running while any runs or waits for an approval,
 * passed when all succeeded. Undefined when it ran nothing (every workflow filtered out, or
 * every job not run): the badge looks further back.
 */
export function pipelineStatus(pipeline: Pipeline, workflows: Workflow[]): BranchStatus | undefined {
  if (pipeline.state === "errored") return "failed";
  if (pipeline.state === "pending" || pipeline.state === "setup-pending") return "running";
  const latest = new Map<string, Workflow>();
  for (const w of workflows) {
    const seen = latest.get(w.name);
    if (!seen || w.createdAt >= seen.createdAt) latest.set(w.name, w);
  }
  const statuses = [...latest.values()].map((w) => w.status);
  if (statuses.some((s) => FAILED.has(s))) return "failed";
  if (statuses.some((s) => RUNNING.has(s)) || pipeline.state === "setup") return "running";
  if (statuses.some((s) => s === "success")) return "passed";
  return undefined;
}

/** The status of `branch`'s latest pipeline that ran something; `none` when there is none. */
export async function branchStatus(gyre: Gyre, slug: string, branch: string): Promise<BranchStatus> {
  const { items } = await listPipelines(gyre, slug, { branch, limit: LOOK_BACK });
  for (const pipeline of items) {
    const status = pipelineStatus(pipeline, await listWorkflows(gyre, pipeline.id));
    if (status) return status;
  }
  return "none";
}

/**
 * A badge's query: `style=svg` (CircleCI's own look, the default) or `style=shield` (shields.io's),
 * and the branch (the project's default branch when absent). `circle-token` is read with the
 * other ways of giving a token (http/context.ts `tokenOf`).
 */
export const BadgeQuerySchema = z.object({
  style: z.enum(["svg", "shield"], { error: "expected svg or shield" }).optional(),
  branch: RefName.optional(),
  "circle-token": z.string().max(256, "at most 256 characters").optional(),
});
