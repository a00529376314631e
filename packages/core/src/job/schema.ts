/**
 * A job as the table holds it: one job of one workflow, with its compiled plan, its current
 * attempt and one allocation per parallel run. Status values are CircleCI API v2's; the
 * allocation's are Nomad's client statuses where CircleCI has none (`lost`).
 */
import { JobPlanSchema, PipelineValuesSchema } from "../config/plan.ts";
import { z } from "../protocol/schema.ts";

export const JOB_STATUSES = [
  "blocked",
  "queued",
  "running",
  "success",
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
  "on_hold",
  "not_run",
  /** The job names a context it may not use, or one that does not exist. */
  "unauthorized",
] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const ALLOCATION_STATUSES = [
  "queued",
  "running",
  "success",
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
  /** Its node stopped heartbeating while it ran: the attempt is over, its writes are refused. */
  "lost",
] as const;
export const AllocationStatusSchema = z.enum(ALLOCATION_STATUSES);
export type AllocationStatus = z.infer<typeof AllocationStatusSchema>;

const iso = z.string().min(1).max(40);

export const AllocationStateSchema = z.object({
  status: AllocationStatusSchema,
  nodeId: z.string().optional(),
  /** The Step Functions task token of the execution waiting for this allocation (set at claim). */
  taskToken: z.string().optional(),
  startedAt: iso.optional(),
  stoppedAt: iso.optional(),
});
export type AllocationState = z.infer<typeof AllocationStateSchema>;

/** Where the agent checks the code out from, denormalised onto the job so a claim reads nothing else. */
export const CheckoutSourceSchema = z.object({
  repoUrl: z.string(),
  revision: z.string(),
  branch: z.string().optional(),
  tag: z.string().optional(),
});
export type CheckoutSource = z.infer<typeof CheckoutSourceSchema>;

export { PipelineValuesSchema };

/** A status message on a job (CircleCI's `messages[]`): why it waits, why it ended. */
export const JobMessageSchema = z.object({
  type: z.string(),
  message: z.string(),
  reason: z.string().optional(),
});
export type JobMessage = z.infer<typeof JobMessageSchema>;

export const JobSchema = z.object({
  id: z.string(),
  number: z.number().int(),
  name: z.string(),
  /** `no-op` jobs run nothing: they succeed as soon as their requirements do. */
  type: z.enum(["build", "approval", "no-op"]),
  status: JobStatusSchema,
  projectSlug: z.string(),
  pipelineId: z.string(),
  pipelineNumber: z.number().int(),
  workflowId: z.string(),
  workflowName: z.string(),
  requires: z.array(z.string()),
  /** Statuses a requirement may end in for this job to run (absent: `success`). */
  requiredStatuses: z.record(z.string(), z.array(z.string())).optional(),
  contexts: z.array(z.string()),
  plan: JobPlanSchema.optional(),
  /** A job of a setup workflow: its builder gets the pipeline's continuation key. */
  setup: z.boolean().optional(),
  checkout: CheckoutSourceSchema,
  pipeline: PipelineValuesSchema,
  /** Current attempt, from 1; only a lost node or an infrastructure failure starts the next. */
  attempt: z.number().int().min(1),
  /** Infrastructure failures already retried. */
  retries: z.number().int().min(0),
  allocations: z.record(z.string(), AllocationStateSchema),
  messages: z.array(JobMessageSchema).optional(),
  /** The user (id) who approved this approval job, or canceled this job. */
  approvedBy: z.string().optional(),
  canceledBy: z.string().optional(),
  /**
   * A job a rerun did not run again (workflow/rerun): a copy of its result, which stays the
   * job of that workflow (its number, output and workspace layers are there).
   */
  carriedFrom: z.string().optional(),
  /** A rerun with SSH: after its steps the job waits for `login`'s SSH sessions, with these keys. */
  ssh: z
    .object({
      login: z.string(),
      keys: z
        .array(z.string().max(16 * 1024))
        .min(1)
        .max(20),
    })
    .optional(),
  /** The workflow whose id is CIRCLE_WORKFLOW_WORKSPACE_ID: the first of a rerun's lineage. */
  workspaceId: z.string().optional(),
  createdAt: iso,
  queuedAt: iso.optional(),
  startedAt: iso.optional(),
  stoppedAt: iso.optional(),
  /** Epoch ms of the last change (the reconciler's grace period reads it). */
  updatedAt: z.number(),
});
export type Job = z.infer<typeof JobSchema>;

/** The number of parallel runs (allocations) of a job. */
export const parallelismOf = (job: Pick<Job, "allocations">) => Object.keys(job.allocations).length;
