/**
 * The jobs the fleet has been given: every build job whose current attempt was submitted to its
 * class's queue (`queuedAt` set), blocked and approval jobs never. What Nomad's API lists as its
 * jobs (presentation/nomad.ts). Only the current attempt is kept: an earlier one (lost, retried)
 * is gone with its allocations. An operator's read, not a hot path: one query of each project's
 * job index, all of them at once.
 */
import type { Gyre } from "../context.ts";
import { listProjects } from "../project/index.ts";
import { queryAll } from "../store/index.ts";
import { Index } from "../table.ts";
import { type Job, JobSchema } from "./schema.ts";

export const isSubmitted = (job: Job) => job.type === "build" && job.queuedAt !== undefined;

export async function listSubmittedJobs(gyre: Gyre): Promise<Job[]> {
  const projects = await listProjects(gyre);
  const perProject = await Promise.all(
    projects.map(async (project) => {
      const jobs: Job[] = [];
      const spec = { index: "gsi1", partition: Index.jobsOf(project.slug) } as const;
      for await (const job of queryAll(gyre, spec, JobSchema, "job")) if (isSubmitted(job)) jobs.push(job);
      return jobs;
    }),
  );
  return perProject.flat();
}
