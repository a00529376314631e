/**
 * Reading run records: a window of a project's workflow runs (one query of its partition), of
 * one workflow's runs or one workflow's job runs (one query each), pages of recent runs, and
 * the flaky test runs of a window. Every read is by time range on a sort key; nothing scans.
 */
import type { Gyre } from "../context.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseStored, type z } from "../protocol/schema.ts";
import { type Condition, type Item, type QuerySpec, queryPage, queryRaw } from "../store/index.ts";
import { Index, Partitions, Prefixes } from "../table.ts";
import type { Window } from "./metrics.ts";
import {
  type FlakyTestRun,
  FlakyTestRunSchema,
  type JobRun,
  JobRunSchema,
  type WorkflowRun,
  WorkflowRunSchema,
} from "./model.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** Sort-key bounds of `[start, end)` for keys `<prefix><time>#<id>` (the end is checked after). */
const between = (prefix: string, w: Window) => ({
  between: [`${prefix}${iso(w.start)}`, `${prefix}${iso(w.end)}`] as const,
});

async function all<S extends z.ZodType>(
  gyre: Gyre,
  spec: QuerySpec,
  schema: S,
  what: string,
  at: (item: z.output<S>) => string,
  w: Window,
): Promise<z.output<S>[]> {
  const items: z.output<S>[] = [];
  for await (const raw of queryRaw(gyre, spec)) {
    const item = parseStored(schema, raw, what);
    const time = Date.parse(at(item));
    if (time >= w.start && time < w.end) items.push(item);
  }
  return items;
}

/** The workflow runs of a project that started in `w` (of one workflow, when named). */
export function workflowRunsIn(gyre: Gyre, slug: string, w: Window, name?: string): Promise<WorkflowRun[]> {
  const spec: QuerySpec =
    name === undefined
      ? { partition: Partitions.workflowRuns(slug), sort: between(Prefixes.workflowRun, w) }
      : { index: "gsi1", partition: Index.workflowRunsOf(slug, name), sort: between("", w) };
  return all(gyre, spec, WorkflowRunSchema, "workflow run", (r) => r.createdAt, w);
}

/** The job runs of a project's workflow of one name that started in `w`. */
export function jobRunsIn(gyre: Gyre, slug: string, workflowName: string, w: Window): Promise<JobRun[]> {
  return all(
    gyre,
    { partition: Partitions.jobRuns(slug, workflowName), sort: between(Prefixes.jobRun, w) },
    JobRunSchema,
    "job run",
    (r) => r.startedAt,
    w,
  );
}

/** The flaky test runs of a project whose failing job started in `w`. */
export function flakyTestRunsIn(gyre: Gyre, slug: string, w: Window): Promise<FlakyTestRun[]> {
  return all(
    gyre,
    { partition: Partitions.flakyTests(slug), sort: between("", w) },
    FlakyTestRunSchema,
    "flaky test run",
    (r) => r.startedAt,
    w,
  );
}

/** Whether a workflow of this name ever recorded a run (kept `RUN_RETENTION_DAYS`). */
export async function hasWorkflowRuns(gyre: Gyre, slug: string, name: string): Promise<boolean> {
  const page = await queryPage(gyre, {
    index: "gsi1",
    partition: Index.workflowRunsOf(slug, name),
    limit: 1,
  });
  return page.items.length > 0;
}

/** Whether a job of this name ever ran in a workflow of that name. */
export async function hasJobRuns(gyre: Gyre, slug: string, workflowName: string, jobName: string) {
  const page = await queryPage(gyre, {
    index: "gsi1",
    partition: Index.jobRunsOf(slug, workflowName, jobName),
    limit: 1,
  });
  return page.items.length > 0;
}

export interface RunPage<T> {
  items: T[];
  nextPageToken: string | null;
}

/**
 * One page of a gsi1 list of runs, newest first, `limit` that match `branch` (every branch when
 * undefined), filling the page when the filter drops items; the token binds to the list.
 */
async function pageOf<S extends z.ZodType>(
  gyre: Gyre,
  list: string,
  schema: S,
  what: string,
  options: { window: Window; branch?: string; pageToken?: string; limit?: number },
): Promise<RunPage<z.output<S>>> {
  const limit = options.limit ?? 20;
  let startKey: Item | undefined = options.pageToken
    ? decodePageToken(list, options.pageToken, {
        attributes: ["pk", "sk", "gsi1pk", "gsi1sk"],
        fixed: { gsi1pk: list },
      })
    : undefined;
  const filter: Condition[] = options.branch !== undefined ? [{ path: "branch", eq: options.branch }] : [];
  const items: z.output<S>[] = [];
  let last: Item | undefined;
  let more = true;
  while (items.length < limit && more) {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition: list,
        sort: between("", options.window),
        descending: true,
        limit: limit - items.length,
        ...(filter.length > 0 ? { filter } : {}),
      },
      startKey,
    );
    for (const raw of page.items) {
      items.push(parseStored(schema, raw, what));
      last = raw;
    }
    startKey = page.lastKey;
    more = startKey !== undefined;
  }
  const key =
    more && last ? { pk: last.pk, sk: last.sk, gsi1pk: last.gsi1pk, gsi1sk: last.gsi1sk } : undefined;
  return { items, nextPageToken: key ? encodePageToken(list, key) : null };
}

/** Recent runs of one workflow, newest first. */
export const workflowRunPage = (
  gyre: Gyre,
  slug: string,
  name: string,
  options: { window: Window; branch?: string; pageToken?: string; limit?: number },
) => pageOf(gyre, Index.workflowRunsOf(slug, name), WorkflowRunSchema, "workflow run", options);

/** Recent runs of one job of a workflow, newest first. */
export const jobRunPage = (
  gyre: Gyre,
  slug: string,
  workflowName: string,
  jobName: string,
  options: { window: Window; branch?: string; pageToken?: string; limit?: number },
) => pageOf(gyre, Index.jobRunsOf(slug, workflowName, jobName), JobRunSchema, "job run", options);
