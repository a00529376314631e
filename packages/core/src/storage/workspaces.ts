/**
 * Workspaces (`persist_to_workspace` / `attach_workspace`): each allocation of a job persists
 * one layer; a job attaches the layers of every job it transitively requires, in the order
 * they apply. A layer becomes visible only when the API writes its metadata on commit.
 *
 *   workspaces/<workflow id>/<job name>/<index>.tar.gz   one layer
 *   workspaces/<workflow id>/<job name>/<index>.json     its metadata
 */
import { listObjects, putJson, readJson } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import type { AllocationRef } from "../dispatch/index.ts";
import type { Job } from "../job/index.ts";
import { z } from "../protocol/schema.ts";
import { readWorkflow } from "../workflow/index.ts";
import { type Grant, presign, verifyAllocation } from "./grant.ts";

/** One path segment from a name the config chose (a job name): `.` and `..` are escaped. */
function segment(name: string): string {
  const safe = name.replace(/\//g, "%2F");
  return safe === "." || safe === ".." ? safe.replace(/\./g, "%2E") : safe;
}

export const WorkspaceKeys = {
  prefix: (workflowId: string, jobName: string) => `workspaces/${workflowId}/${segment(jobName)}/`,
  archive: (workflowId: string, jobName: string, index: number) =>
    `workspaces/${workflowId}/${segment(jobName)}/${index}.tar.gz`,
  meta: (workflowId: string, jobName: string, index: number) =>
    `workspaces/${workflowId}/${segment(jobName)}/${index}.json`,
} as const;

export const LayerMetaSchema = z.object({
  sha256: z.string(),
  bytes: z.number(),
  createdAt: z.string(),
  jobId: z.string(),
  attempt: z.number(),
});
export type LayerMeta = z.infer<typeof LayerMetaSchema>;

/** Commits the layer allocation `index` of `job` uploaded (a later commit replaces it). */
export async function commitLayer(
  gyre: Gyre,
  job: Pick<Job, "id" | "attempt" | "workflowId" | "name">,
  index: number,
  upload: Pick<LayerMeta, "sha256" | "bytes" | "createdAt">,
): Promise<void> {
  const meta: LayerMeta = { ...upload, jobId: job.id, attempt: job.attempt };
  await putJson(gyre, WorkspaceKeys.meta(job.workflowId, job.name, index), meta);
}

/**
 * The jobs `name` transitively requires in its workflow, in the order their workspace layers
 * apply: by when the job stopped, then by name.
 */
export function upstreamJobs<J extends Pick<Job, "name" | "requires" | "stoppedAt">>(
  jobs: J[],
  name: string,
): J[] {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const seen = new Set<string>();
  const visit = (n: string) => {
    for (const required of byName.get(n)?.requires ?? []) {
      if (seen.has(required)) continue;
      seen.add(required);
      visit(required);
    }
  };
  visit(name);
  seen.delete(name);
  const time = (j: J) => (j.stoppedAt ? Date.parse(j.stoppedAt) : Number.POSITIVE_INFINITY);
  return [...seen]
    .map((n) => byName.get(n))
    .filter((j): j is J => j !== undefined)
    .sort((a, b) => time(a) - time(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface WorkspaceLayer extends LayerMeta, Grant {
  job: string;
  index: number;
}

/** The layers persisted by every job this one transitively requires, in the order they apply. */
export async function workspaceLayers(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
): Promise<WorkspaceLayer[]> {
  const job = await verifyAllocation(gyre, ref, nodeId);
  const { jobs } = await readWorkflow(gyre, job.workflowId);
  const layers: WorkspaceLayer[] = [];
  for (const upstream of upstreamJobs(jobs, job.name)) {
    // A job a rerun carried over persisted its layers in the workflow that ran it.
    const source = upstream.carriedFrom ?? job.workflowId;
    const prefix = WorkspaceKeys.prefix(source, upstream.name);
    const indices: number[] = [];
    for await (const object of listObjects(gyre, prefix)) {
      const match = /^(\d+)\.json$/.exec(object.key.slice(prefix.length));
      if (match) indices.push(Number(match[1]));
    }
    for (const index of indices.sort((a, b) => a - b)) {
      const meta = await readJson(
        gyre,
        WorkspaceKeys.meta(source, upstream.name, index),
        LayerMetaSchema,
        "workspace layer",
      );
      if (!meta) continue;
      const grant = await presign(gyre, "GET", WorkspaceKeys.archive(source, upstream.name, index));
      layers.push({ job: upstream.name, index, ...meta, ...grant });
    }
  }
  return layers;
}
