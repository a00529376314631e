/**
 * Rerunning a workflow, as CircleCI does: a new workflow in the same pipeline (`rerunOf` the
 * old one), with new job numbers for the jobs that run again and the others carried over with
 * their result. What runs again: every job (no option), the failed ones (`from_failed`: failed,
 * timed out, canceled, refused), or the jobs named (`jobs`), each with every job that requires
 * it, directly or not. A carried job keeps its number, output and workspace layers in the
 * workflow that ran it (`carriedFrom`), so a job that runs again attaches the workspace its
 * requirements persisted there; CIRCLE_WORKFLOW_WORKSPACE_ID is the lineage's first workflow.
 */
import { randomUUID } from "node:crypto";
import type { User } from "../auth/index.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, forbidden } from "../error.ts";
import { freshAllocations, type Job, type JobStatus, parallelismOf } from "../job/index.ts";
import { findPipeline } from "../pipeline/read.ts";
import { reserveNumbers } from "../project/index.ts";
import type { RerunBody } from "../protocol/api.ts";
import { listUserKeys } from "../ssh/user-keys.ts";
import { putNew } from "../store/index.ts";
import { activeShard, Index, Keys, padNumber } from "../table.ts";
import { readWorkflow, TERMINAL_WORKFLOW, type WorkflowItem } from "../workflow/index.ts";
import { advanceWorkflow, readyStatus } from "./advance.ts";
import { startAllocations } from "./execution.ts";

/** The statuses `from_failed` runs again. */
const RERUN_FROM_FAILED = new Set<JobStatus>([
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
  "unauthorized",
]);

/** The names of the jobs that run again: the seeds and every job that requires one. */
export function rerunSet(jobs: Pick<Job, "name" | "requires">[], seeds: Iterable<string>): Set<string> {
  const chosen = new Set(seeds);
  for (let grew = true; grew; ) {
    grew = false;
    for (const job of jobs) {
      if (!chosen.has(job.name) && job.requires.some((r) => chosen.has(r))) {
        chosen.add(job.name);
        grew = true;
      }
    }
  }
  return chosen;
}

/**
 * Who may log in to an SSH rerun's jobs: the rerunning user, with the keys they added. A
 * session sees the job's variables in clear (project and context secrets), so until projects
 * have permissions only an administrator or the user who started the pipeline may ask.
 */
async function sshAccessFor(
  gyre: Gyre,
  user: Pick<User, "id" | "login" | "admin">,
  pipelineId: string,
): Promise<NonNullable<Job["ssh"]>> {
  if (!user.admin) {
    const pipeline = await findPipeline(gyre, pipelineId);
    if (pipeline?.trigger.actorId !== user.id)
      throw forbidden(
        "Rerunning with SSH shows the job's secrets: only an administrator or the user who started the pipeline may.",
      );
  }
  const keys = await listUserKeys(gyre, user.id);
  if (keys.length === 0)
    throw badRequest(
      "Rerunning with SSH needs an SSH public key of yours to let you in: add one first (POST /api/gyre/me/ssh-keys, or `gyre ssh-key add`).",
    );
  return { login: user.login, keys: keys.map((k) => k.publicKey) };
}

/** Reruns workflow `id` for user `actor`; answers the new workflow's id. */
export async function rerunWorkflow(
  gyre: Gyre,
  id: string,
  body: RerunBody,
  actor: Pick<User, "id" | "login" | "admin">,
): Promise<{ workflowId: string }> {
  const { workflow, jobs } = await readWorkflow(gyre, id);
  if (!TERMINAL_WORKFLOW.has(workflow.status)) {
    throw conflict(
      `Workflow ${workflow.name} is still ${workflow.status}: cancel it, or let it end, before rerunning it.`,
    );
  }
  const deleted = workflow.deletedJobs ?? [];
  if (deleted.length > 0)
    throw conflict(
      `Workflow ${workflow.name} cannot be rerun: its job${deleted.length > 1 ? "s" : ""} ${deleted.map((d) => d.name).join(", ")} ${deleted.length > 1 ? "were" : "was"} deleted, and with ${deleted.length > 1 ? "them their definitions" : "it its definition"}. Trigger a new pipeline instead.`,
    );
  if (jobs.some((j) => j.setup)) {
    throw badRequest(
      `Workflow ${workflow.name} is a setup workflow: its pipeline was continued already; rerun the workflows the continuation created instead.`,
    );
  }
  let seeds: string[];
  if (body.jobs) {
    const byId = new Map(jobs.map((j) => [j.id, j]));
    seeds = body.jobs.map((jobId) => {
      const job = byId.get(jobId);
      if (!job) throw badRequest(`Job ${jobId} is not a job of workflow ${id}.`);
      return job.name;
    });
  } else if (body.from_failed) {
    seeds = jobs.filter((j) => RERUN_FROM_FAILED.has(j.status)).map((j) => j.name);
    if (seeds.length === 0)
      throw badRequest(
        `Workflow ${workflow.name} has no failed job to rerun from (it is ${workflow.status}).`,
      );
  } else {
    seeds = jobs.map((j) => j.name);
  }
  // SSH: the chosen jobs stay up after their steps for the rerunning user's keys (agent/ssh-access.ts).
  const ssh = body.enable_ssh ? await sshAccessFor(gyre, actor, workflow.pipelineId) : undefined;
  const again = rerunSet(jobs, seeds);
  const ordered = [...jobs].sort((a, b) => a.number - b.number);
  const { firstJobNumber } = await reserveNumbers(gyre, workflow.projectSlug, again.size, 0);

  const now = gyre.now();
  const createdAt = new Date(now).toISOString();
  const workflowId = randomUUID();
  // CIRCLE_WORKFLOW_WORKSPACE_ID: the lineage's first workflow, on every job of each rerun.
  const workspaceId = jobs.find((j) => j.workspaceId)?.workspaceId ?? workflow.id;
  let number = firstJobNumber;
  const fresh: Job[] = [];
  const items = ordered.map((old) => {
    if (!again.has(old.name)) {
      // Carried over as it ended: not indexed by number (its number is the first run's), not active.
      const { carriedFrom, ...rest } = old;
      return {
        ...Keys.job(workflowId, old.name),
        ...rest,
        workflowId,
        workspaceId,
        carriedFrom: carriedFrom ?? old.workflowId,
      };
    }
    const root = old.requires.length === 0;
    const status: JobStatus = root ? readyStatus(old.type) : "blocked";
    const job: Job = {
      id: randomUUID(),
      number: number++,
      name: old.name,
      type: old.type,
      status,
      projectSlug: old.projectSlug,
      pipelineId: old.pipelineId,
      pipelineNumber: old.pipelineNumber,
      workflowId,
      workflowName: old.workflowName,
      requires: old.requires,
      ...(old.requiredStatuses ? { requiredStatuses: old.requiredStatuses } : {}),
      contexts: old.contexts,
      ...(old.plan ? { plan: old.plan } : {}),
      checkout: old.checkout,
      pipeline: old.pipeline,
      attempt: 1,
      retries: 0,
      allocations: freshAllocations(parallelismOf(old)),
      workspaceId,
      ...(ssh && seeds.includes(old.name) && old.type === "build" ? { ssh } : {}),
      ...(status === "queued" ? { queuedAt: createdAt } : {}),
      ...(status === "success" ? { startedAt: createdAt, stoppedAt: createdAt } : {}),
      createdAt,
      updatedAt: now,
    };
    fresh.push(job);
    const active = status === "blocked" || status === "queued";
    return {
      ...Keys.job(workflowId, job.name),
      gsi1pk: Index.jobsOf(job.projectSlug),
      gsi1sk: padNumber(job.number),
      ...(active ? { gsi2pk: activeShard(job.id), gsi2sk: job.id } : {}),
      ...job,
    };
  });
  const item: WorkflowItem = {
    id: workflowId,
    name: workflow.name,
    pipelineId: workflow.pipelineId,
    pipelineNumber: workflow.pipelineNumber,
    projectSlug: workflow.projectSlug,
    createdAt,
    startedBy: actor.id,
    ...(workflow.tag ? { tag: workflow.tag } : {}),
    rerunOf: workflow.id,
  };
  // The jobs nothing starts first, then the workflow item, then the jobs the reconciler would
  // start (active): a write that fails half-way never leaves a running job in a workflow no list
  // shows, only a listed workflow that can be canceled or rerun.
  const active = (i: Record<string, unknown>) => i.gsi2pk !== undefined;
  await Promise.all(items.filter((i) => !active(i)).map((i) => putNew(gyre, i)));
  await putNew(gyre, {
    ...Keys.workflow(workflowId),
    gsi1pk: Index.workflowsOf(workflow.pipelineId),
    gsi1sk: `${createdAt}#${workflow.name}`,
    ...item,
  });
  await Promise.all(items.filter(active).map((i) => putNew(gyre, i)));
  await Promise.all(fresh.filter((j) => j.status === "queued").map((j) => startAllocations(gyre, j)));
  // Jobs whose requirements were all carried over as they require are released now.
  await advanceWorkflow(gyre, workflowId);
  return { workflowId };
}
