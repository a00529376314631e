/**
 * `gyre github resync <slug>`: GitHub does not deliver again what it could not deliver (Gyre was
 * down, unreachable, answering 5xx), so the pushes of that time are found from the branch heads:
 * each branch whose head has no pipeline yet (`headPipelineId`, the id every GitHub delivery of
 * that head would have made) gets one, as a push of it would have. `only_build_prs` is honoured.
 */
import type { Gyre } from "../context.ts";
import { enqueueIntake, findPipeline, newIntakeMessage } from "../pipeline/index.ts";
import { getProject } from "../project/index.ts";
import { pullRequestsOfBranch } from "../project/pull-requests.ts";
import { RefName } from "../protocol/api.ts";
import { headPipelineId, pullOf } from "../webhook/deliveries.ts";
import type { ClientOptions } from "./client.ts";
import { branchHeads } from "./repository.ts";

export interface ResyncResult {
  /** Branches whose head got a pipeline now. */
  triggered: { branch: string; sha: string; pipelineId: string }[];
  /** Branches left as they are, and why. */
  skipped: { branch: string; sha: string; reason: string }[];
}

/** Who a resync's pipelines are triggered by (their `trigger.actor`). */
export const RESYNC_ACTOR = "gyre-resync";

export async function resyncBranches(
  gyre: Gyre,
  rawSlug: string,
  options: ClientOptions = {},
): Promise<ResyncResult> {
  const project = await getProject(gyre, rawSlug);
  const heads = await branchHeads(gyre, project.slug, options);
  const result: ResyncResult = { triggered: [], skipped: [] };
  for (const { name: branch, sha } of heads) {
    if (!RefName.safeParse(branch).success || !/^[0-9a-f]{40}$/.test(sha)) {
      result.skipped.push({ branch, sha, reason: "not a branch Gyre can build" });
      continue;
    }
    const ref = { branch, revision: sha };
    const pipelineId = headPipelineId(project.slug, ref);
    if (await findPipeline(gyre, pipelineId)) {
      result.skipped.push({ branch, sha, reason: "its head has a pipeline" });
      continue;
    }
    const pulls = await pullRequestsOfBranch(gyre, project.slug, branch);
    if (project.settings.onlyBuildPrs && branch !== project.defaultBranch && pulls.length === 0) {
      result.skipped.push({ branch, sha, reason: "no open pull request (only_build_prs)" });
      continue;
    }
    const message = newIntakeMessage(
      {
        projectSlug: project.slug,
        trigger: {
          type: "webhook",
          receivedAt: new Date(gyre.now()).toISOString(),
          actor: RESYNC_ACTOR,
          ...(pulls.length > 0 ? { pullRequests: pulls.slice(0, 20).map(pullOf) } : {}),
        },
        ref,
      },
      pipelineId,
    );
    await enqueueIntake(gyre, message);
    result.triggered.push({ branch, sha, pipelineId });
  }
  return result;
}
