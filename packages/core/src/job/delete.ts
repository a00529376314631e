/**
 * Deleting a build (the reference's `admin/delete-build`, the clean-up of build records left
 * half-done): one job, by its project and number, with everything Gyre keeps of it.
 *
 * - In the bucket: its step output (`output/<job id>/`), artifacts (`artifacts/<job id>/`),
 *   test results (`tests/<job id>/`) and the workspace layers it persisted
 *   (`workspaces/<workflow id>/<job name>/`). Caches are the project's, not the job's: kept.
 * - In the table: the job's item, the copies of it that reruns of its workflow carry
 *   (`carriedFrom`, same id), and its insights run records (job run, test run). Audit records
 *   stay: the audit log is never rewritten.
 *
 * Only a job that has ended: one still queued, running, blocked or on hold is refused (409),
 * as is one a job of its workflow still waits for. Objects go before the items, so a deletion
 * that fails half-way is finished by running it again (the job's item is its handle).
 *
 * The workflow keeps what the job was: before any item goes, the job's name and status are
 * written onto the workflow's item (and that of each rerun workflow a copy is deleted from), so
 * the workflow's status still counts it (deleting a failed build does not make its workflow
 * pass) and a rerun of it is refused (the job's definition is gone); an ended workflow keeps
 * when it stopped too, since the jobs left may not show it any more (workflow/index.ts `present`).
 */
import { deleteKeys } from "../aws/s3.ts";
import { listBucket } from "../backup/local.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict } from "../error.ts";
import { NumberParam, ProjectPath } from "../protocol/api.ts";
import { WorkspaceKeys } from "../storage/workspaces.ts";
import { deleteItem, deleteItems, type Key, tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { readWorkflow, TERMINAL_WORKFLOW, type Workflow, workflowIdsOf } from "../workflow/index.ts";
import { findJob, getJobByNumber, type Job, TERMINAL_JOB } from "./index.ts";

export interface DeletedJob {
  job: Job;
  /** Objects deleted from the bucket. */
  objects: number;
  /** Items deleted from the table: the job and its carried copies (its run records too, when it has any). */
  items: number;
}

/** The bucket prefixes that hold only this job's objects. */
export const jobObjectPrefixes = (job: Pick<Job, "id" | "workflowId" | "name">) => [
  `output/${job.id}/`,
  `artifacts/${job.id}/`,
  `tests/${job.id}/`,
  WorkspaceKeys.prefix(job.workflowId, job.name),
];

export async function deleteJob(gyre: Gyre, slug: string, number: number): Promise<DeletedJob> {
  const job = await getJobByNumber(gyre, slug, number);
  if (!TERMINAL_JOB.has(job.status))
    throw conflict(
      job.status === "running" || job.status === "queued"
        ? `Job ${number} of ${slug} is ${job.status}: cancel its workflow (gyre workflow cancel ${job.workflowId}) or wait for it to end, then delete it.`
        : `Job ${number} of ${slug} is ${job.status === "on_hold" ? "on hold" : job.status}: it has not ended. Cancel its workflow (gyre workflow cancel ${job.workflowId}) first.`,
    );
  const { workflow, jobs } = await readWorkflow(gyre, job.workflowId);
  const waiting = jobs.find((j) => j.status === "blocked" && j.requires.includes(job.name));
  if (waiting)
    throw conflict(
      `Job ${waiting.name} of the same workflow still waits for job ${number}: let the workflow finish first.`,
    );

  let objects = 0;
  for (const prefix of jobObjectPrefixes(job)) {
    const keys: string[] = [];
    for await (const object of listBucket(gyre, prefix)) keys.push(object.key);
    await deleteKeys(gyre, keys);
    objects += keys.length;
  }

  // Copies a rerun carried (not indexed by number, same id), in the pipeline's other workflows.
  const copies: Key[] = [];
  const copiedInto: string[] = [];
  for (const id of await workflowIdsOf(gyre, job.pipelineId)) {
    if (id === job.workflowId) continue;
    const copy = await findJob(gyre, id, job.name);
    if (copy?.id === job.id && copy.carriedFrom) {
      copies.push(Keys.job(id, job.name));
      copiedInto.push(id);
    }
  }
  const runs: Key[] = [
    Keys.jobRun(job.projectSlug, job.workflowName, job.startedAt ?? job.createdAt, job.id),
    Keys.testRun(job.projectSlug, job.checkout.revision, job.name, job.id),
  ];
  await keepEnd(gyre, workflow, job);
  for (const id of copiedInto) await keepEnd(gyre, (await readWorkflow(gyre, id)).workflow, job);
  await deleteItems(gyre, [...copies, ...runs]);
  // Last, and only as read: a job moved meanwhile (a rerun made it anew?) is not deleted blind.
  const deleted = await deleteItem(gyre, Keys.job(job.workflowId, job.name), [
    { path: "id", eq: job.id },
    { path: "status", eq: job.status },
  ]);
  if (!deleted) throw conflict(`Job ${number} of ${slug} changed while it was being deleted: try again.`);
  return { job, objects, items: 1 + copies.length };
}

/**
 * Writes the job's end onto its workflow's item before the job goes (`deletedJobs`: the
 * workflow's status goes on counting it), and an ended workflow's stop, once (the first
 * deletion's is kept). Refused if another deletion changed the list meanwhile; a deletion run
 * again (one that failed half-way) finds its job listed and goes on.
 */
async function keepEnd(gyre: Gyre, workflow: Workflow, job: Pick<Job, "name" | "status">): Promise<void> {
  const before = workflow.deletedJobs ?? [];
  if (before.some((d) => d.name === job.name)) return;
  const kept = await tryUpdate(gyre, Keys.workflow(workflow.id), {
    set: { deletedJobs: [...before, { name: job.name, status: job.status }] },
    ...(TERMINAL_WORKFLOW.has(workflow.status) && workflow.stoppedAt
      ? { setIfMissing: { stoppedAt: workflow.stoppedAt } }
      : {}),
    when: [
      { path: "pk", exists: true },
      before.length === 0
        ? { path: "deletedJobs", exists: false }
        : { path: "deletedJobs", size: before.length },
    ],
  });
  if (!kept)
    throw conflict(`Workflow ${workflow.id} changed while job ${job.name} was being deleted: try again.`);
}

/**
 * The build a user names: `gh/acme/api/12`, or a URL as the reference, the API or the web app
 * gives it: `https://host/gh/acme/api/12`, `.../api/v1.1/project/gh/acme/api/12`,
 * `.../api/v2/project/gh/acme/api/job/12`, `.../pipelines/gh/acme/api/3/workflows/<id>/jobs/12`.
 * A URL's `origin` (`https://host`) comes back too: whose build it is.
 */
export function parseBuildRef(input: string): { slug: string; number: number; origin?: string } {
  const text = input.trim();
  let path = text;
  let origin: string | undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      path = decodeURIComponent(url.pathname);
      origin = url.origin;
    } catch {
      path = "";
    }
  }
  const parts = path.split("/").filter((p) => p.length > 0);
  const pick = (slugAt: number, numberAt: number) => {
    const [vcs, org, repo] = parts.slice(slugAt, slugAt + 3);
    const slug = ProjectPath.safeParse({ vcs, org, repo });
    const number = NumberParam.safeParse(parts[numberAt]);
    return slug.success && number.success ? { slug: slug.data, number: number.data } : undefined;
  };
  const found =
    // `pipelines` first: a path of another host without its scheme (`other.host/pipelines/...`)
    // names that host's build, not one here.
    (parts[0] === "pipelines" && parts[parts.length - 2] === "jobs"
      ? pick(1, parts.length - 1)
      : undefined) ??
    (parts[0] === "api" && parts[1] === "v1.1" && parts[2] === "project" && parts.length === 7
      ? pick(3, 6)
      : undefined) ??
    (parts[0] === "api" &&
    parts[1] === "v2" &&
    parts[2] === "project" &&
    parts[6] === "job" &&
    parts.length === 8
      ? pick(3, 7)
      : undefined) ??
    (parts.length === 4 ? pick(0, 3) : undefined);
  if (!found)
    throw badRequest(
      `Not a build: ${JSON.stringify(input.slice(0, 200))}. Give <vcs>/<org>/<repo>/<job number> (gh/acme/api/12) or the build's URL.`,
    );
  return origin ? { ...found, origin } : found;
}
