/**
 * Workflows: a set of jobs ordered by `requires`. A workflow and its jobs share one table
 * partition, so a single query reads everything finalize needs.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { queryAll } from "../aws/dynamo.ts";
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { ACTIVE_JOB, type Job, type JobStatus } from "../job/index.ts";
import { Index, Keys } from "../table.ts";

export type WorkflowStatus =
  | "success"
  | "running"
  | "not_run"
  | "failed"
  | "error"
  | "failing"
  | "on_hold"
  | "canceled"
  | "unauthorized";

export const TERMINAL_WORKFLOW = new Set<WorkflowStatus>([
  "unauthorized",
  "success",
  "not_run",
  "failed",
  "error",
  "canceled",
]);

export interface Workflow {
  id: string;
  name: string;
  pipelineId: string;
  pipelineNumber: number;
  projectSlug: string;
  status: WorkflowStatus;
  createdAt: string;
  stoppedAt?: string;
  startedBy: string;
  tag?: string;
  updatedAt: number;
}

const FAILED = new Set<JobStatus>(["failed", "infrastructure_fail", "timedout"]);

/**
 * A workflow's status from its jobs, as CircleCI reports it: `failing` while a failed job's
 * siblings still run, `on_hold` while only approvals wait, `failed` once nothing can move.
 * `blocked` jobs behind a failure can never run and do not keep the workflow alive.
 */
export function workflowStatus(jobs: Pick<Job, "status" | "name" | "requires">[]): WorkflowStatus {
  const statusOf = new Map(jobs.map((j) => [j.name, j.status]));
  // A blocked job whose requirements all succeeded is about to be queued; any other blocked
  // job waits on an active job (counted itself), an approval, or a failure that stops it.
  const ready = (job: Pick<Job, "status" | "requires">) =>
    job.status === "blocked" && job.requires.every((r) => statusOf.get(r) === "success");
  const active = jobs.some((j) => ACTIVE_JOB.has(j.status) || ready(j));
  const failed = jobs.some((j) => FAILED.has(j.status));
  if (active) return failed ? "failing" : "running";
  // A job refused a context it may not use (or that does not exist) settles the workflow, as in CircleCI.
  if (jobs.some((j) => j.status === "unauthorized")) return "unauthorized";
  if (jobs.some((j) => j.status === "on_hold")) return failed ? "failing" : "on_hold";
  if (failed) return "failed";
  if (jobs.some((j) => j.status === "canceled")) return "canceled";
  if (jobs.length > 0 && jobs.every((j) => j.status === "success")) return "success";
  return "not_run";
}

export async function getWorkflow(gyre: Gyre, id: string): Promise<Workflow> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: Keys.workflow(id) }),
  );
  if (!out.Item) throw notFound(`Workflow ${id} not found.`);
  return out.Item as Workflow;
}

/** The workflow and all its jobs, read consistently in one query. */
export async function readWorkflow(gyre: Gyre, id: string): Promise<{ workflow: Workflow; jobs: Job[] }> {
  const items: Record<string, unknown>[] = [];
  for await (const item of queryAll(gyre, {
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": Keys.workflow(id).pk },
    ConsistentRead: true,
  })) {
    items.push(item);
  }
  const workflow = items.find((i) => i.sk === "WORKFLOW") as Workflow | undefined;
  if (!workflow) throw notFound(`Workflow ${id} not found.`);
  const jobs = items.filter((i) => String(i.sk).startsWith("JOB#")) as unknown as Job[];
  return { workflow, jobs };
}

/** The ids of a pipeline's workflows, oldest first. */
export async function workflowIdsOf(gyre: Gyre, pipelineId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of queryAll<{ id: string }>(gyre, {
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :p",
    ExpressionAttributeValues: { ":p": Index.workflowsOf(pipelineId) },
  })) {
    ids.push(w.id);
  }
  return ids;
}

export async function listWorkflows(gyre: Gyre, pipelineId: string): Promise<Workflow[]> {
  // The index may lag; read each workflow's current status from its item.
  return Promise.all((await workflowIdsOf(gyre, pipelineId)).map((id) => getWorkflow(gyre, id)));
}

/** CircleCI API v2 `Workflow` shape. */
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
  };
}
