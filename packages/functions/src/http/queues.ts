/**
 * `GET /api/gyre/queues`: the builders' job queues, for operators (the web app's fleet page):
 *
 *   → {checked_at, queues: [...], jobs: [...]}
 *
 * One queue per resource class that has one (`resource_class`, the SQS `queue` name, `waiting`,
 * `in_flight` and `delayed` as GetQueueAttributes counts them, its `dead_letter` queue's
 * waiting messages, the `error` that kept it from being read), with the jobs waiting on it for a
 * builder (`jobs_waiting`, `oldest_queued_at`) and why (`reason`: `{cause, message}`, the words
 * a queued job's `messages` use, node/index.ts `waitingCause`; null when nothing waits). `jobs`
 * lists the waiting jobs themselves, oldest first (at most MAX_JOBS), each with its project,
 * pipeline, workflow and number (the web app links them) and how long it has waited.
 *
 * Read from the same records `gyre doctor` reads (core/src/doctor: the active index, the nodes,
 * the queues' attributes), so the two agree.
 */
import { queueClassFor, refsOf } from "@gyre/core/dispatch/execution";
import { readActive, readJobQueues, UNCLAIMED_MS } from "@gyre/core/doctor/index";
import type { Job } from "@gyre/core/job/index";
import { listNodes, type Node, waitingCause } from "@gyre/core/node/index";
import { Hono } from "hono";
import { allow } from "./access.ts";
import type { Env } from "./context.ts";

/** Waiting jobs listed, the oldest first. */
export const MAX_JOBS = 100;

/** A job's allocations still waiting for a builder. */
const waitingAllocations = (job: Job) =>
  refsOf(job).filter((r) => job.allocations[String(r.index)]?.status === "queued").length;

/** Why the queued jobs of `cls` wait, as the doctor grades it, in words. */
function reasonFor(cls: string, nodes: readonly Node[], oldestMs: number) {
  const waiting = waitingCause(cls, nodes);
  if (waiting) return { cause: waiting.cause, message: waiting.message };
  if (oldestMs > UNCLAIMED_MS)
    return {
      cause: "unclaimed" as const,
      message: `A ready node offering resource class ${cls} has room, but none has taken the job for ${Math.round(oldestMs / 1000)} s: check that the agents poll this queue and read their logs for "claim failed".`,
    };
  return {
    cause: "room" as const,
    message: `A ready node offering resource class ${cls} has room: it takes the job at its next receive.`,
  };
}

export function queueRoutes() {
  const app = new Hono<Env>();
  app.get("/", allow.operator(), async (c) => {
    const gyre = c.get("gyre");
    const [nodes, active, readings] = await Promise.all([
      listNodes(gyre),
      readActive(gyre),
      readJobQueues(gyre),
    ]);
    const now = gyre.now();
    const queuedAt = (j: Job) => j.queuedAt ?? j.createdAt;
    const waiting = active.jobs
      .filter((j) => (j.status === "queued" || j.status === "running") && j.plan && waitingAllocations(j) > 0)
      .sort((a, b) => queuedAt(a).localeCompare(queuedAt(b)));
    const classOf = (j: Job) => queueClassFor(gyre, j.plan?.resourceClass ?? "medium");
    const byClass = new Map<string, Job[]>();
    for (const job of waiting) byClass.set(classOf(job), [...(byClass.get(classOf(job)) ?? []), job]);
    // The installation's classes in its own order (smallest first), then any other a job names.
    const classes = [...new Set([...Object.keys(readings), ...byClass.keys()])];
    return c.json({
      checked_at: new Date(now).toISOString(),
      queues: classes.map((cls) => {
        const q = readings[cls];
        const jobs = byClass.get(cls) ?? [];
        const oldest = jobs[0] ? queuedAt(jobs[0]) : null;
        return {
          resource_class: cls,
          queue: q?.name ?? null,
          waiting: q?.visible ?? 0,
          in_flight: q?.inFlight ?? 0,
          delayed: q?.delayed ?? 0,
          dead_letter: q?.deadLetter ? { queue: q.deadLetter.name, waiting: q.deadLetter.visible } : null,
          error: q?.error ?? null,
          jobs_waiting: jobs.length,
          oldest_queued_at: oldest,
          reason: oldest ? reasonFor(cls, nodes, now - Date.parse(oldest)) : null,
        };
      }),
      jobs: waiting.slice(0, MAX_JOBS).map((j) => ({
        id: j.id,
        project_slug: j.projectSlug,
        pipeline_number: j.pipelineNumber,
        workflow_id: j.workflowId,
        workflow_name: j.workflowName,
        number: j.number,
        name: j.name,
        status: j.status,
        resource_class: j.plan?.resourceClass ?? "medium",
        queue_class: classOf(j),
        queued_at: queuedAt(j),
        waited_seconds: Math.max(0, Math.round((now - Date.parse(queuedAt(j))) / 1000)),
        allocations_waiting: waitingAllocations(j),
      })),
    });
  });
  return app;
}
