/**
 * Jobs: one job of one workflow, with its compiled plan, its current attempt and one
 * allocation per parallel run. Status values are CircleCI API v2's.
 */
import { GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { JobPlan, PipelineValues } from "../config/plan.ts";
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { Index, Keys, padNumber } from "../table.ts";

export type JobStatus =
  | "blocked"
  | "queued"
  | "running"
  | "success"
  | "failed"
  | "infrastructure_fail"
  | "timedout"
  | "canceled"
  | "on_hold"
  | "not_run"
  /** The job names a context it may not use, or one that does not exist. */
  | "unauthorized";

export type AllocationStatus =
  | "queued"
  | "running"
  | "success"
  | "failed"
  | "infrastructure_fail"
  | "timedout"
  | "canceled";

export interface AllocationState {
  status: AllocationStatus;
  nodeId?: string;
  startedAt?: string;
  stoppedAt?: string;
}

/** Where the agent checks the code out from, denormalised onto the job so a claim reads nothing else. */
export interface CheckoutSource {
  repoUrl: string;
  revision: string;
  branch?: string;
  tag?: string;
}

export interface Job {
  id: string;
  number: number;
  name: string;
  /** `no-op` jobs run nothing: they succeed as soon as their requirements do. */
  type: "build" | "approval" | "no-op";
  status: JobStatus;
  projectSlug: string;
  pipelineId: string;
  pipelineNumber: number;
  workflowId: string;
  workflowName: string;
  requires: string[];
  contexts: string[];
  plan?: JobPlan;
  /** A job of a setup workflow: its builder gets the pipeline's continuation key. */
  setup?: boolean;
  checkout: CheckoutSource;
  pipeline: PipelineValues;
  /** Current attempt, from 1; an infrastructure retry or a re-drive starts the next. */
  attempt: number;
  /** Infrastructure failures already retried. */
  retries: number;
  allocations: Record<string, AllocationState>;
  createdAt: string;
  queuedAt?: string;
  startedAt?: string;
  stoppedAt?: string;
  /** Epoch ms of the last change (the reconciler's grace period reads it). */
  updatedAt: number;
}

export const TERMINAL_JOB = new Set<JobStatus>([
  "unauthorized",
  "success",
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
  "not_run",
]);
export const ACTIVE_JOB = new Set<JobStatus>(["queued", "running"]);
export const TERMINAL_ALLOCATION = new Set<AllocationStatus>([
  "success",
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
]);

export function freshAllocations(parallelism: number): Record<string, AllocationState> {
  return Object.fromEntries(
    Array.from({ length: parallelism }, (_, i) => [String(i), { status: "queued" as const }]),
  );
}

/** A job's status from its allocations: the worst outcome wins once all are done. */
export function statusFromAllocations(allocations: Record<string, AllocationState>): JobStatus {
  const all = Object.values(allocations).map((a) => a.status);
  if (all.some((s) => s === "running")) return "running";
  if (all.some((s) => s === "queued"))
    return all.some((s) => TERMINAL_ALLOCATION.has(s)) ? "running" : "queued";
  for (const worst of ["infrastructure_fail", "timedout", "failed", "canceled"] as const) {
    if (all.includes(worst)) return worst;
  }
  return "success";
}

export async function getJobByNumber(gyre: Gyre, rawSlug: string, number: number): Promise<Job> {
  const { slug } = parseSlug(rawSlug);
  const out = await gyre.aws.dynamo.send(
    new QueryCommand({
      TableName: gyre.resources.tableName,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :p AND gsi1sk = :n",
      ExpressionAttributeValues: { ":p": Index.jobsOf(slug), ":n": padNumber(number) },
    }),
  );
  const found = out.Items?.[0];
  if (!found) throw notFound(`Job ${number} not found in project ${slug}.`);
  // The index may lag a write: read the item itself for its current state.
  return getJob(gyre, found.workflowId as string, found.name as string);
}

export async function getJob(gyre: Gyre, workflowId: string, name: string): Promise<Job> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({
      TableName: gyre.resources.tableName,
      Key: Keys.job(workflowId, name),
      ConsistentRead: true,
    }),
  );
  if (!out.Item) throw notFound(`Job ${name} not found in workflow ${workflowId}.`);
  return out.Item as Job;
}

const durationMs = (j: Job) =>
  j.startedAt && j.stoppedAt ? Date.parse(j.stoppedAt) - Date.parse(j.startedAt) : null;

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
  };
}

/** `GET /project/{slug}/job/{number}`. */
export function jobDetailsJson(job: Job, project: { name: string; repoUrl: string }, baseUrl: string) {
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
    messages: [],
    contexts: job.contexts.map((name) => ({ name })),
    organization: { name: job.projectSlug.split("/")[1] },
    queued_at: job.queuedAt ?? job.createdAt,
    stopped_at: job.stoppedAt ?? null,
  };
}
