/**
 * CircleCI API v2 shapes (field names and values from the published OpenAPI document), built
 * from Gyre's domain types. Routes call these; no route builds a CircleCI shape itself.
 */
import type { Job } from "../job/index.ts";
import type { Pipeline } from "../pipeline/model.ts";
import type { Workflow } from "../workflow/index.ts";

const durationMs = (j: Job) =>
  j.startedAt && j.stoppedAt ? Date.parse(j.stoppedAt) - Date.parse(j.startedAt) : null;

/** `Workflow`. */
export function workflowJson(w: Workflow) {
  return {
    pipeline_id: w.pipelineId,
    id: w.id,
    name: w.name,
    project_slug: w.projectSlug,
    status: w.status,
    started_by: w.startedBy,
    pipeline_number: w.pipelineNumber,
    created_at: w.createdAt,
    stopped_at: w.stoppedAt ?? null,
    ...(w.tag ? { tag: w.tag } : {}),
    ...(w.canceledBy ? { canceled_by: w.canceledBy } : {}),
  };
}

/** An item of `GET /workflow/{id}/job`. */
export function workflowJobJson(job: Job, idsByName: Map<string, string>) {
  return {
    dependencies: job.requires.map((r) => idsByName.get(r)).filter(Boolean),
    job_number: job.type === "approval" ? undefined : job.number,
    id: job.id,
    started_at: job.startedAt ?? null,
    name: job.name,
    project_slug: job.projectSlug,
    status: job.status,
    type: job.type,
    stopped_at: job.stoppedAt ?? null,
    ...(job.type === "approval" ? { approval_request_id: job.id } : {}),
    ...(job.approvedBy ? { approved_by: job.approvedBy } : {}),
    ...(job.canceledBy ? { canceled_by: job.canceledBy } : {}),
  };
}

/** `GET /project/{slug}/job/{number}`. */
export function jobDetailsJson(
  job: Job,
  project: { name: string; repoUrl: string },
  baseUrl: string,
  /** Why a queued job is not running yet (node/index.ts waitingReason), as a warning message. */
  waiting?: string,
) {
  return {
    web_url: `${baseUrl}/pipelines/${job.projectSlug}/${job.pipelineNumber}/workflows/${job.workflowId}/jobs/${job.number}`,
    project: { slug: job.projectSlug, name: project.name, external_url: project.repoUrl },
    parallel_runs: Object.entries(job.allocations).map(([index, a]) => ({
      index: Number(index),
      status: a.status,
    })),
    started_at: job.startedAt ?? null,
    latest_workflow: { id: job.workflowId, name: job.workflowName },
    name: job.name,
    executor: { type: job.plan?.executor.type ?? "none", resource_class: job.plan?.resourceClass ?? "" },
    parallelism: job.plan?.parallelism ?? 1,
    status: job.status,
    number: job.number,
    pipeline: { id: job.pipelineId },
    duration: durationMs(job),
    created_at: job.createdAt,
    messages: [
      ...(job.messages ?? []).map((m) => ({
        type: m.type,
        message: m.message,
        ...(m.reason ? { reason: m.reason } : {}),
      })),
      ...(waiting ? [{ type: "warning", message: waiting, reason: "waiting_for_capacity" }] : []),
    ],
    contexts: job.contexts.map((name) => ({ name })),
    organization: { name: job.projectSlug.split("/")[1] },
    queued_at: job.queuedAt ?? job.createdAt,
    stopped_at: job.stoppedAt ?? null,
  };
}

/** `Pipeline`. */
export function pipelineJson(p: Pipeline) {
  return {
    id: p.id,
    errors: p.errors,
    project_slug: p.projectSlug,
    updated_at: p.updatedAt,
    number: p.number,
    ...(p.parameters ? { trigger_parameters: p.parameters } : {}),
    state: p.state,
    created_at: p.createdAt,
    trigger: {
      type: p.trigger.type,
      received_at: p.trigger.receivedAt,
      actor: { login: p.trigger.actor, avatar_url: null },
    },
    vcs: {
      provider_name: p.vcs.providerName,
      origin_repository_url: p.vcs.repoUrl,
      target_repository_url: p.vcs.repoUrl,
      revision: p.vcs.revision,
      ...(p.vcs.branch !== undefined ? { branch: p.vcs.branch } : {}),
      ...(p.vcs.tag !== undefined ? { tag: p.vcs.tag } : {}),
      ...(p.vcs.commit ? { commit: p.vcs.commit } : {}),
    },
  };
}

/** `PipelineCreation`: the answer to a trigger. */
export const pipelineCreationJson = (p: Pick<Pipeline, "id" | "state" | "number" | "createdAt">) => ({
  id: p.id,
  state: p.state,
  number: p.number,
  created_at: p.createdAt,
});
