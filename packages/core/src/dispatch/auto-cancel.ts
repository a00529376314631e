/**
 * CircleCI's "Auto-cancel redundant workflows" (project setting `autocancel_builds`): when a
 * push builds a new commit on a branch other than the default one, the branch's older
 * pipelines' workflows that have not ended are canceled, as a user's cancel would (their
 * running jobs' nodes stop them; `canceled_by` is the system). The default branch, tags, API
 * triggers and schedules never cancel anything.
 */
import { SYSTEM_ACTOR } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import type { Pipeline } from "../pipeline/model.ts";
import { listPipelines } from "../pipeline/read.ts";
import type { StoredProject } from "../project/index.ts";
import { listWorkflows, TERMINAL_WORKFLOW } from "../workflow/index.ts";
import { cancelWorkflow } from "./actions.ts";

/** Older pipelines of the branch looked at: a push's predecessors are its branch's latest. */
const LOOK_BACK = 20;

/** Cancels the redundant workflows `pipeline` makes; the ids of those it canceled. */
export async function cancelRedundantWorkflows(
  gyre: Gyre,
  project: Pick<StoredProject, "slug" | "defaultBranch" | "settings">,
  pipeline: Pick<Pipeline, "id" | "number" | "trigger" | "vcs">,
): Promise<string[]> {
  const branch = pipeline.vcs.branch;
  if (!project.settings.autocancelBuilds || pipeline.trigger.type !== "webhook") return [];
  if (!branch || branch === project.defaultBranch) return [];
  const { items } = await listPipelines(gyre, project.slug, { branch, limit: LOOK_BACK });
  const older = items.filter((p) => p.number < pipeline.number && p.id !== pipeline.id);
  const canceled: string[] = [];
  for (const p of older) {
    for (const w of await listWorkflows(gyre, p.id)) {
      if (TERMINAL_WORKFLOW.has(w.status)) continue;
      try {
        await cancelWorkflow(gyre, w.id, SYSTEM_ACTOR.id);
        canceled.push(w.id);
      } catch (error) {
        // It ended in between: nothing to cancel.
        if (!(error instanceof GyreError && error.code === "conflict")) throw error;
      }
    }
  }
  return canceled;
}
