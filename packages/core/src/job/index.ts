/**
 * Jobs: reads and the rules that combine allocations. The item's shape is job/schema.ts; its
 * moves are job/transitions.ts; writes are made by dispatch/ through the store.
 */
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { z } from "../protocol/schema.ts";
import { getItem, queryPage } from "../store/index.ts";
import { Index, Keys, padNumber } from "../table.ts";
import {
  type AllocationState,
  type AllocationStatus,
  type Job,
  JobSchema,
  type JobStatus,
} from "./schema.ts";

export * from "./schema.ts";

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
  "lost",
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
  if (all.includes("lost")) return "infrastructure_fail";
  for (const worst of ["infrastructure_fail", "timedout", "failed", "canceled"] as const) {
    if (all.includes(worst)) return worst;
  }
  return "success";
}

const JobRefSchema = z.object({ workflowId: z.string(), name: z.string() });

export async function getJobByNumber(gyre: Gyre, rawSlug: string, number: number): Promise<Job> {
  const { slug } = parseSlug(rawSlug);
  const { items } = await queryPage(gyre, {
    index: "gsi1",
    partition: Index.jobsOf(slug),
    sort: { eq: padNumber(number) },
  });
  const found = items[0] && JobRefSchema.safeParse(items[0]);
  if (!found?.success) throw notFound(`Job ${number} not found in project ${slug}.`);
  // The index may lag a write: read the item itself for its current state.
  return getJob(gyre, found.data.workflowId, found.data.name);
}

export async function findJob(gyre: Gyre, workflowId: string, name: string): Promise<Job | undefined> {
  return getItem(gyre, Keys.job(workflowId, name), JobSchema, "job");
}

export async function getJob(gyre: Gyre, workflowId: string, name: string): Promise<Job> {
  const job = await findJob(gyre, workflowId, name);
  if (!job) throw notFound(`Job ${name} not found in workflow ${workflowId}.`);
  return job;
}
