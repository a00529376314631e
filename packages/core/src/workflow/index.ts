/**
 * Workflows: a set of jobs ordered by `requires`. A workflow and its jobs share one table
 * partition, so a single query reads everything finalize and the API need. A workflow's status
 * is derived from its jobs (job/transitions.ts WORKFLOW_RULES), never written.
 */
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { type Job, JobSchema, type JobStatus, JobStatusSchema, TERMINAL_JOB } from "../job/index.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { queryAll, queryRaw } from "../store/index.ts";
import { Index, Partitions } from "../table.ts";

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

export const WorkflowItemSchema = z.object({
  id: z.string(),
  name: z.string(),
  pipelineId: z.string(),
  pipelineNumber: z.number().int(),
  projectSlug: z.string(),
  createdAt: z.string(),
  startedBy: z.string(),
  tag: z.string().optional(),
  /** Set once when a user cancels the workflow (its jobs are canceled in the same call). */
  canceledBy: z.string().optional(),
  canceledAt: z.string().optional(),
  /** The workflow this one reruns (workflow/rerun.ts), and what was asked for. */
  rerunOf: z.string().optional(),
  /**
   * When the ended workflow stopped, kept once a job of it is deleted (job/delete.ts): the jobs
   * left may no longer show it (none left, or only jobs that never ran).
   */
  stoppedAt: z.string().optional(),
  /**
   * Jobs of it that were deleted (job/delete.ts), with how they ended: the workflow's status
   * still counts them (deleting a failed build does not make its workflow pass), and a rerun,
   * which would need their definitions, is refused.
   */
  deletedJobs: z.array(z.object({ name: z.string(), status: JobStatusSchema })).optional(),
});
export type WorkflowItem = z.infer<typeof WorkflowItemSchema>;

/** A workflow as the API shows it: the item plus what its jobs say. */
export interface Workflow extends WorkflowItem {
  status: WorkflowStatus;
  stoppedAt?: string;
}

const FAILED = new Set<JobStatus>(["failed", "infrastructure_fail", "timedout"]);

type JobView = Pick<Job, "status" | "name" | "requires" | "requiredStatuses">;

/** The statuses a requirement's end state satisfies: `failed` covers every failure. */
export function satisfies(status: JobStatus, allowed: readonly string[] | undefined): boolean {
  const wanted = allowed ?? ["success"];
  if (wanted.includes(status)) return true;
  return FAILED.has(status) && wanted.includes("failed");
}

/**
 * What a blocked job waits for: `ready` when every requirement ended as it requires, `stranded`
 * when one ended otherwise (it can never run), else `waiting`.
 */
export function readiness(job: JobView, statusOf: (name: string) => JobStatus | undefined) {
  let waiting = false;
  for (const name of job.requires) {
    const status = statusOf(name);
    if (status === undefined || !TERMINAL_JOB.has(status)) {
      waiting = true;
      continue;
    }
    if (!satisfies(status, job.requiredStatuses?.[name])) return "stranded" as const;
  }
  return waiting ? ("waiting" as const) : ("ready" as const);
}

/**
 * A workflow's status from its jobs, as CircleCI reports it (WORKFLOW_RULES in
 * job/transitions.ts, in that order): `failing` while a failed job's siblings still run,
 * `on_hold` while only approvals wait, `failed` once nothing can move. Blocked jobs that can
 * never run do not keep the workflow alive.
 */
export function workflowStatus(jobs: JobView[], canceled = false): WorkflowStatus {
  const statusOf = new Map(jobs.map((j) => [j.name, j.status]));
  const ready = (job: JobView) =>
    job.status === "blocked" && readiness(job, (n) => statusOf.get(n)) === "ready";
  const active = jobs.some((j) => j.status === "queued" || j.status === "running" || ready(j));
  const failed = jobs.some((j) => FAILED.has(j.status));
  if (active) return failed ? "failing" : "running";
  if (canceled) return "canceled";
  if (jobs.some((j) => j.status === "unauthorized")) return "unauthorized";
  if (jobs.some((j) => j.status === "on_hold")) return failed ? "failing" : "on_hold";
  if (failed) return "failed";
  if (jobs.some((j) => j.status === "canceled")) return "canceled";
  // A job skipped because its flexible requires were not met (`rollback` after a good release).
  if (
    jobs.some((j) => j.status === "success") &&
    jobs.every((j) => j.status === "success" || j.status === "not_run")
  )
    return "success";
  return "not_run";
}

/**
 * The workflow as the API shows it, from its item and its jobs (and the ends of its deleted
 * jobs). An ended workflow stopped when its last job did, or at what its item kept (a job
 * deleted), or, with no job to say, when it was canceled.
 */
export function present(item: WorkflowItem, jobs: Job[]): Workflow {
  const { stoppedAt: kept, ...rest } = item;
  const deleted: JobView[] = (item.deletedJobs ?? []).map((d) => ({ ...d, requires: [] }));
  const status = workflowStatus([...jobs, ...deleted], item.canceledAt !== undefined);
  const stops = jobs.map((j) => j.stoppedAt).filter((s): s is string => Boolean(s));
  const stoppedAt = kept ?? stops.sort().at(-1) ?? item.canceledAt;
  return { ...rest, status, ...(TERMINAL_WORKFLOW.has(status) && stoppedAt ? { stoppedAt } : {}) };
}

/** The workflow and all its jobs, read consistently in one query. */
export async function readWorkflow(gyre: Gyre, id: string): Promise<{ workflow: Workflow; jobs: Job[] }> {
  let item: WorkflowItem | undefined;
  const jobs: Job[] = [];
  for await (const raw of queryRaw(gyre, { partition: Partitions.workflow(id), consistent: true })) {
    if (raw.sk === "WORKFLOW") item = parseStored(WorkflowItemSchema, raw, "workflow");
    else jobs.push(parseStored(JobSchema, raw, "job"));
  }
  if (!item) throw notFound(`Workflow ${id} not found.`);
  return { workflow: present(item, jobs), jobs };
}

export const getWorkflow = async (gyre: Gyre, id: string) => (await readWorkflow(gyre, id)).workflow;

/** The ids of a pipeline's workflows, oldest first. */
export async function workflowIdsOf(gyre: Gyre, pipelineId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of queryAll(
    gyre,
    { index: "gsi1", partition: Index.workflowsOf(pipelineId) },
    z.object({ id: z.string() }),
    "workflow",
  )) {
    ids.push(w.id);
  }
  return ids;
}

export async function listWorkflows(gyre: Gyre, pipelineId: string): Promise<Workflow[]> {
  // The index may lag; each workflow's status comes from its own partition.
  return Promise.all((await workflowIdsOf(gyre, pipelineId)).map((id) => getWorkflow(gyre, id)));
}
