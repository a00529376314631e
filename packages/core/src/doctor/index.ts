/**
 * `gyre doctor`: why builds are queued, walked hop by hop as the reference's "Debugging Queuing
 * Builds" does (intake, dispatch, scheduling, nodes, job processing), for the whole installation
 * or for one job. This module reads the real state (the table through the store, the queues'
 * attributes, the executions of queued allocations); doctor/diagnose.ts judges it.
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { Gyre } from "../context.ts";
import { executionName, executionState, queueClassFor, refsOf } from "../dispatch/execution.ts";
import { notFound } from "../error.ts";
import { getJob, getJobByNumber, type Job, JobSchema } from "../job/index.ts";
import { listNodes } from "../node/index.ts";
import { type Pipeline, PipelineSchema } from "../pipeline/model.ts";
import { findPipeline, listPipelines } from "../pipeline/read.ts";
import { getProject, listProjects } from "../project/index.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { DEFAULT_RESOURCE_CLASSES, queueKey } from "../resources.ts";
import { queryPage, queryRaw } from "../store/index.ts";
import { ACTIVE_SHARDS, activeShard } from "../table.ts";
import { listWorkflows, readWorkflow } from "../workflow/index.ts";
import {
  diagnoseInstallation,
  diagnoseJob,
  type ExecutionState,
  type Finding,
  GRACE_MS,
  type Hop,
  type QueueReading,
} from "./diagnose.ts";

export * from "./diagnose.ts";

/** A job as `gyre doctor <job>` names it (protocol/api.ts JobReference). */
export type JobReference = { id: string } | { slug: string; number: number };

export interface DoctorReport {
  /** True when every finding is OK (the CLI exits 0). */
  ok: boolean;
  checkedAt: string;
  /** The job diagnosed, when one was named. */
  job?: { id: string; slug: string; number: number; name: string; status: string };
  /** The hop that job is stuck at (its first failing one) or, when nothing is wrong, is at. */
  at?: Hop;
  findings: Finding[];
}

/** Executions read per installation report: the oldest queued allocations first. */
const EXECUTIONS_CHECKED = 100;
/** Workflows read to judge blocked jobs, per installation report. */
const WORKFLOWS_CHECKED = 100;
/** Each project's newest pipelines read for errored and stalled setup pipelines. */
const PIPELINES_PER_PROJECT = 20;

export async function doctor(gyre: Gyre, job?: JobReference): Promise<DoctorReport> {
  return job ? doctorJob(gyre, job) : doctorInstallation(gyre);
}

const report = (gyre: Gyre, findings: Finding[], extra: Partial<DoctorReport> = {}): DoctorReport => ({
  ok: findings.every((f) => f.status === "OK"),
  checkedAt: new Date(gyre.now()).toISOString(),
  ...extra,
  findings,
});

const settingsOf = (gyre: Gyre) => ({
  heartbeatSeconds: gyre.resources.heartbeatSeconds,
  queueTimeoutSeconds: gyre.resources.queueTimeoutSeconds,
  maxJobSeconds: gyre.resources.maxJobSeconds,
});

export async function doctorInstallation(gyre: Gyre): Promise<DoctorReport> {
  const [nodes, active, latest, intake, jobQueues] = await Promise.all([
    listNodes(gyre),
    readActive(gyre),
    latestPipelines(gyre),
    readQueue(gyre, gyre.resources.intakeQueueUrl),
    readJobQueues(gyre),
  ]);
  const now = gyre.now();
  const blockedIn = [...new Set(active.jobs.filter((j) => j.status === "blocked").map((j) => j.workflowId))];
  const queued = active.jobs
    .filter((j) => j.queuedAt && Date.parse(j.queuedAt) < now - GRACE_MS)
    .sort((a, b) => a.queuedAt!.localeCompare(b.queuedAt!))
    .flatMap((j) => refsOf(j).filter((r) => j.allocations[String(r.index)]?.status === "queued"))
    .slice(0, EXECUTIONS_CHECKED);
  const setups = latest.filter((p) => p.state === "setup");
  const [workflowJobs, executions, setupWorkflows] = await Promise.all([
    Promise.all(
      blockedIn
        .slice(0, WORKFLOWS_CHECKED)
        .map(async (id) => [id, (await readWorkflow(gyre, id)).jobs] as const),
    ),
    Promise.all(queued.map(async (ref) => [executionName(ref), await executionState(gyre, ref)] as const)),
    Promise.all(
      setups.map(async (p) => [p.id, (await listWorkflows(gyre, p.id)).map((w) => w.status)] as const),
    ),
  ]);
  const findings = diagnoseInstallation({
    now,
    settings: settingsOf(gyre),
    nodes,
    jobs: active.jobs,
    workflowJobs: Object.fromEntries(workflowJobs),
    executions: Object.fromEntries(executions) as Record<string, ExecutionState>,
    queueClass: queueClasses(gyre, active.jobs),
    jobQueues,
    pendingPipelines: active.pipelines,
    latestPipelines: latest,
    setupWorkflows: Object.fromEntries(setupWorkflows),
    intake,
  });
  return report(gyre, findings);
}

export async function doctorJob(gyre: Gyre, ref: JobReference): Promise<DoctorReport> {
  const job = await findJobFor(gyre, ref);
  const cls = queueClassFor(gyre, job.plan?.resourceClass ?? "medium");
  const queued = refsOf(job).filter((r) => job.allocations[String(r.index)]?.status === "queued");
  const [pipeline, workflow, nodes, executions, queue] = await Promise.all([
    findPipeline(gyre, job.pipelineId),
    readWorkflow(gyre, job.workflowId),
    listNodes(gyre),
    Promise.all(queued.map(async (r) => [executionName(r), await executionState(gyre, r)] as const)),
    readJobQueue(gyre, cls),
  ]);
  const { at, findings } = diagnoseJob({
    now: gyre.now(),
    settings: settingsOf(gyre),
    nodes,
    job,
    pipeline,
    workflowJobs: workflow.jobs,
    executions: Object.fromEntries(executions),
    queueClass: queueClasses(gyre, [job]),
    jobQueues: queue ? { [cls]: queue } : {},
  });
  return report(gyre, findings, {
    job: { id: job.id, slug: job.projectSlug, number: job.number, name: job.name, status: job.status },
    at,
  });
}

/**
 * The job a reference names. By number: the project's job (404 naming the project or the
 * number). By id: only jobs that can still move are indexed by id (the active index), and
 * those are the ones that can be stuck; an ended job is found by its number.
 */
async function findJobFor(gyre: Gyre, ref: JobReference): Promise<Job> {
  if ("slug" in ref) {
    const project = await getProject(gyre, ref.slug);
    return getJobByNumber(gyre, project.slug, ref.number);
  }
  const { items } = await queryPage(gyre, {
    index: "gsi2",
    partition: activeShard(ref.id),
    sort: { eq: ref.id },
  });
  const found = items.map((i) => z.object({ workflowId: z.string(), name: z.string() }).safeParse(i))[0];
  if (!found?.success)
    throw notFound(
      `No blocked, queued or running job has id ${ref.id}. A job that has ended is named by <project slug>/<job number>.`,
    );
  return getJob(gyre, found.data.workflowId, found.data.name);
}

/** The active index: pending pipelines and blocked, queued and running jobs. */
export async function readActive(gyre: Gyre): Promise<{ jobs: Job[]; pipelines: Pipeline[] }> {
  const jobs: Job[] = [];
  const pipelines: Pipeline[] = [];
  await Promise.all(
    Array.from({ length: ACTIVE_SHARDS }, async (_, shard) => {
      for await (const item of queryRaw(gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
        if (item.sk === "PIPELINE") pipelines.push(parseStored(PipelineSchema, item, "pipeline"));
        else if (String(item.sk).startsWith("JOB#")) jobs.push(parseStored(JobSchema, item, "job"));
      }
    }),
  );
  return { jobs, pipelines };
}

/** Each project's newest pipeline per branch or tag, among its latest PIPELINES_PER_PROJECT. */
async function latestPipelines(gyre: Gyre): Promise<Pipeline[]> {
  const projects = await listProjects(gyre);
  const lists = await Promise.all(
    projects.map((p) => listPipelines(gyre, p.slug, { limit: PIPELINES_PER_PROJECT })),
  );
  return lists.flatMap(({ items }) => {
    const newest = new Map<string, Pipeline>();
    // Newest first: the first of each ref is its newest. Pending ones are judged on their own.
    for (const p of items) {
      const key = p.vcs.tag !== undefined ? `tag:${p.vcs.tag}` : `branch:${p.vcs.branch ?? ""}`;
      if (p.state !== "pending" && !newest.has(key)) newest.set(key, p);
    }
    return [...newest.values()];
  });
}

const queueClasses = (gyre: Gyre, jobs: readonly Job[]) =>
  Object.fromEntries(
    [...new Set(jobs.map((j) => j.plan?.resourceClass ?? "medium"))].map((c) => [c, queueClassFor(gyre, c)]),
  );

/** Resource class → its queue's reading, for every job queue this installation has. */
export async function readJobQueues(gyre: Gyre): Promise<Record<string, QueueReading>> {
  const byKey = new Map<string, string>(DEFAULT_RESOURCE_CLASSES.map((c) => [queueKey(c), c]));
  return Object.fromEntries(
    await Promise.all(
      Object.entries(gyre.resources.jobQueueUrls).map(
        async ([key, url]) => [byKey.get(key) ?? key, await readQueue(gyre, url)] as const,
      ),
    ),
  );
}

async function readJobQueue(gyre: Gyre, resourceClass: string): Promise<QueueReading | undefined> {
  const url = gyre.resources.jobQueueUrls[queueKey(resourceClass)];
  return url ? readQueue(gyre, url) : undefined;
}

const RedrivePolicySchema = z.object({
  deadLetterTargetArn: z.string(),
  maxReceiveCount: z.union([z.string(), z.number()]).optional(),
});

const messageOf = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * A queue's depth (waiting, received but not deleted, delayed) and its dead-letter queue's, found
 * from its RedrivePolicy (same account and region, so its URL differs in the name only). SQS
 * has no age-of-oldest-message attribute (that is a CloudWatch metric): waits are measured from
 * the jobs' own `queuedAt`.
 */
async function readQueue(gyre: Gyre, url: string): Promise<QueueReading> {
  const name = url.replace(/\/+$/, "").split("/").at(-1) ?? url;
  const read = async (queueUrl: string) =>
    (
      await gyre.aws.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "RedrivePolicy",
          ],
        }),
      )
    ).Attributes ?? {};
  let attributes: Record<string, string>;
  try {
    attributes = await read(url);
  } catch (error) {
    return { name, visible: 0, inFlight: 0, delayed: 0, error: messageOf(error) };
  }
  const count = (key: string) => Number(attributes[key] ?? 0);
  const reading: QueueReading = {
    name,
    visible: count("ApproximateNumberOfMessages"),
    inFlight: count("ApproximateNumberOfMessagesNotVisible"),
    delayed: count("ApproximateNumberOfMessagesDelayed"),
  };
  const policy = attributes.RedrivePolicy
    ? RedrivePolicySchema.safeParse(JSON.parse(attributes.RedrivePolicy))
    : undefined;
  if (policy?.success) {
    const deadName = policy.data.deadLetterTargetArn.split(":").at(-1)!;
    const maxReceiveCount =
      policy.data.maxReceiveCount === undefined ? undefined : Number(policy.data.maxReceiveCount);
    try {
      const dead = await read(url.replace(/[^/]+\/*$/, deadName));
      reading.deadLetter = {
        name: deadName,
        visible: Number(dead.ApproximateNumberOfMessages ?? 0),
        maxReceiveCount,
      };
    } catch (error) {
      reading.deadLetter = { name: deadName, visible: 0, maxReceiveCount, error: messageOf(error) };
    }
  }
  return reading;
}
