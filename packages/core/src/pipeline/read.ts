/**
 * Reading pipelines: by id, by number, a project's pipelines newest first (all of them, or those
 * one user triggered), and an organization's, merged from its projects' lists, page by page.
 */
import { createHash } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, notFound } from "../error.ts";
import { type Job, JobSchema, type JobStatus } from "../job/index.ts";
import { parseSlug } from "../project/index.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { type Condition, getItem, type Item, queryPage } from "../store/index.ts";
import { Index, Keys, padNumber } from "../table.ts";
import { readWorkflow, workflowIdsOf } from "../workflow/index.ts";
import { type Pipeline, PipelineSchema } from "./model.ts";

/** Who triggered a pipeline, for the lists of one user's pipelines (`mine`). */
export interface Triggerer {
  id: string;
  login: string;
}

/**
 * The pipelines `user` triggered: those that name the user's id, and those from before
 * triggers kept ids that name the user's login.
 */
function triggeredBy(user: Triggerer): Condition {
  const actorId = ["trigger", "actorId"];
  return {
    or: [
      { path: actorId, eq: user.id },
      {
        not: {
          or: [
            { path: actorId, exists: true },
            { path: ["trigger", "actor"], ne: user.login },
          ],
        },
      },
    ],
  };
}

export async function findPipeline(gyre: Gyre, id: string): Promise<Pipeline | undefined> {
  return getItem(gyre, Keys.pipeline(id), PipelineSchema, "pipeline");
}

export async function getPipeline(gyre: Gyre, id: string): Promise<Pipeline> {
  const pipeline = await findPipeline(gyre, id);
  if (!pipeline) throw notFound(`Pipeline ${id} not found.`);
  return pipeline;
}

const PageKeySchema = z.object({ pk: z.string(), sk: z.string(), gsi1pk: z.string(), gsi1sk: z.string() });

/** `GET /project/{slug}/pipeline/{number}`. */
export async function getPipelineByNumber(gyre: Gyre, rawSlug: string, number: number): Promise<Pipeline> {
  const { slug } = parseSlug(rawSlug);
  const page = await queryPage(gyre, {
    index: "gsi1",
    partition: Index.pipelinesOf(slug),
    sort: { eq: padNumber(number) },
    limit: 1,
  });
  const raw = page.items[0];
  if (!raw) throw notFound(`Pipeline ${number} of project ${slug} not found.`);
  return parseStored(PipelineSchema, raw, "pipeline");
}

export async function listPipelines(
  gyre: Gyre,
  rawSlug: string,
  options: { branch?: string; triggeredBy?: Triggerer; limit?: number; pageToken?: string } = {},
): Promise<{ items: Pipeline[]; nextPageToken: string | null }> {
  const { slug } = parseSlug(rawSlug);
  const list = Index.pipelinesOf(slug);
  // A token is bound to the list it came from: one from another project's list is refused.
  let startKey: Item | undefined = options.pageToken
    ? decodePageToken(list, options.pageToken, {
        attributes: ["pk", "sk", "gsi1pk", "gsi1sk"],
        fixed: { gsi1pk: list },
      })
    : undefined;
  // Fill the page even when a branch filter drops items: read on until `limit` match or the
  // project's pipelines run out; the page token points just after the last item returned.
  const limit = options.limit ?? 20;
  const filter: Condition[] = [
    ...(options.branch ? [{ path: ["vcs", "branch"], eq: options.branch }] : []),
    ...(options.triggeredBy ? [triggeredBy(options.triggeredBy)] : []),
  ];
  const items: Pipeline[] = [];
  let last: Item | undefined;
  let more = true;
  while (items.length < limit && more) {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition: list,
        descending: true,
        limit: limit - items.length,
        ...(filter.length > 0 ? { filter } : {}),
      },
      startKey,
    );
    for (const raw of page.items) {
      items.push(parseStored(PipelineSchema, raw, "pipeline"));
      last = raw;
    }
    startKey = page.lastKey;
    more = startKey !== undefined;
  }
  const key = more && last ? PageKeySchema.parse(last) : undefined;
  return { items: items.slice(0, limit), nextPageToken: key ? encodePageToken(list, key) : null };
}

// ---------------------------------------------------------------------------------------------
// An organization's pipelines

/**
 * Where a page of an organization's pipelines ends, as its `next_page_token`: the creation time
 * of the last pipeline given, and for each project that has given pipelines, the number its
 * next one is below (projects by a 6-byte digest of their slug). Binary, so that the cursors of
 * hundreds of projects fit the 4,096 characters a page token may have: 1 version byte, 8 bytes
 * of the list's digest (the organization and whose pipelines), 6 bytes of milliseconds, then
 * 12 bytes a project.
 */
const ORG_TOKEN_VERSION = 1;
const slugDigest = (slug: string) =>
  createHash("sha256").update(slug).digest().subarray(0, 6).toString("hex");
const listDigest = (list: string) => createHash("sha256").update(list).digest().subarray(0, 8);

export interface OrgCursor {
  /** The last pipeline given was created at this time (ms); later pipelines of projects not yet read stay out. */
  before: number;
  /** Project slug digest → the number the project's next pipeline is below. */
  below: Map<string, number>;
}

export function encodeOrgPageToken(list: string, cursor: OrgCursor): string {
  const buffer = Buffer.alloc(15 + 12 * cursor.below.size);
  buffer.writeUInt8(ORG_TOKEN_VERSION, 0);
  listDigest(list).copy(buffer, 1);
  buffer.writeUIntBE(cursor.before, 9, 6);
  let at = 15;
  for (const [digest, number] of cursor.below) {
    buffer.write(digest, at, "hex");
    buffer.writeUIntBE(number, at + 6, 6);
    at += 12;
  }
  return buffer.toString("base64url");
}

/** The cursor a token of `list` holds; bad_request ("Invalid page-token.") for anything else. */
export function decodeOrgPageToken(list: string, token: string): OrgCursor {
  const invalid = () => badRequest("Invalid page-token.");
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  const buffer = Buffer.from(token, "base64url");
  if (buffer.length < 15 || (buffer.length - 15) % 12 !== 0 || buffer.toString("base64url") !== token)
    throw invalid();
  if (buffer.readUInt8(0) !== ORG_TOKEN_VERSION || !buffer.subarray(1, 9).equals(listDigest(list)))
    throw invalid();
  const below = new Map<string, number>();
  for (let at = 15; at < buffer.length; at += 12) {
    const number = buffer.readUIntBE(at + 6, 6);
    if (number < 1 || number > 999_999_999_999) throw invalid();
    below.set(buffer.subarray(at, at + 6).toString("hex"), number);
  }
  return { before: buffer.readUIntBE(9, 6), below };
}

/** One project's pipelines, newest first, read a few at a time while the merge needs them. */
interface Stream {
  slug: string;
  digest: string;
  /** What this page reads of the project's list (fixed for the page: reads go on from `startKey`). */
  query: { sort?: { lt: string }; filter: Condition[] };
  /** The number the next pipeline given is below, for the next page (undefined: from the newest). */
  below?: number;
  buffer: Pipeline[];
  startKey?: Item;
  done: boolean;
}

/**
 * `GET /pipeline`: the pipelines of many projects (an organization's), newest first. Each
 * project's list is read newest first (by number) and the lists are merged by creation time,
 * so a page costs a query per project and the pages stay in order while pipelines are added: a
 * project whose pipelines did not reach the pages given so far contributes only those created
 * before the last one given.
 */
export async function listPipelinesOfProjects(
  gyre: Gyre,
  slugs: readonly string[],
  options: {
    /** Names the list (an organization, or all), binding the page token to it. */
    list: string;
    triggeredBy?: Triggerer;
    limit?: number;
    pageToken?: string;
  },
): Promise<{ items: Pipeline[]; nextPageToken: string | null }> {
  const list = `${options.list}\u0000${options.triggeredBy?.id ?? ""}`;
  const cursor = options.pageToken ? decodeOrgPageToken(list, options.pageToken) : undefined;
  const limit = options.limit ?? 20;
  // Few items per read when many projects are merged; more when a filter drops most of them.
  const chunk = options.triggeredBy ? 50 : slugs.length <= 4 ? limit : 5;
  const before = cursor ? new Date(cursor.before).toISOString() : undefined;
  const streams: Stream[] = slugs.map((slug) => {
    const digest = slugDigest(slug);
    const below = cursor?.below.get(digest);
    const filter: Condition[] = [
      ...(options.triggeredBy ? [triggeredBy(options.triggeredBy)] : []),
      // A project not read yet: nothing created after the last pipeline given.
      ...(below === undefined && before
        ? [
            {
              or: [
                { path: "createdAt", lt: before },
                { path: "createdAt", eq: before },
              ],
            },
          ]
        : []),
    ];
    const query = { ...(below !== undefined ? { sort: { lt: padNumber(below) } } : {}), filter };
    return { slug, digest, query, below, buffer: [], done: false };
  });

  const fill = async (stream: Stream) => {
    while (stream.buffer.length === 0 && !stream.done) {
      const { sort, filter } = stream.query;
      const page = await queryPage(
        gyre,
        {
          index: "gsi1",
          partition: Index.pipelinesOf(stream.slug),
          ...(sort ? { sort } : {}),
          descending: true,
          limit: chunk,
          ...(filter.length > 0 ? { filter } : {}),
        },
        stream.startKey,
      );
      for (const raw of page.items) stream.buffer.push(parseStored(PipelineSchema, raw, "pipeline"));
      stream.startKey = page.lastKey;
      stream.done = page.lastKey === undefined;
    }
  };
  // Newest first; pipelines created in the same millisecond by project slug, then number.
  const newer = (a: Pipeline, b: Pipeline) =>
    a.createdAt !== b.createdAt
      ? a.createdAt > b.createdAt
      : a.projectSlug !== b.projectSlug
        ? a.projectSlug < b.projectSlug
        : a.number > b.number;

  await Promise.all(streams.map(fill));
  const items: Pipeline[] = [];
  while (items.length < limit) {
    let next: Stream | undefined;
    for (const stream of streams)
      if (stream.buffer[0] && (!next || newer(stream.buffer[0], next.buffer[0]!))) next = stream;
    if (!next) break;
    const pipeline = next.buffer.shift()!;
    items.push(pipeline);
    next.below = pipeline.number;
    await fill(next);
  }
  const last = items.at(-1);
  if (!last) return { items, nextPageToken: null };
  await Promise.all(streams.map(fill));
  if (!streams.some((s) => s.buffer.length > 0)) return { items, nextPageToken: null };
  const below = new Map<string, number>();
  for (const stream of streams) if (stream.below !== undefined) below.set(stream.digest, stream.below);
  return { items, nextPageToken: encodeOrgPageToken(list, { before: Date.parse(last.createdAt), below }) };
}

// ---------------------------------------------------------------------------------------------
// The jobs of a project's pipelines, newest first: what CircleCI API v1.1 calls its builds.

/** Options of the lists of jobs: one branch, some statuses, `limit` after skipping `offset`. */
export interface JobListOptions {
  branch?: string;
  statuses?: readonly JobStatus[];
  limit: number;
  offset: number;
}

/** Jobs a previous-build search reads at most before it gives up (`findPreviousJob`). */
export const PREVIOUS_SCAN = 1000;

/** Approval jobs are not builds: the lists leave them out. */
function jobFilter(options: Pick<JobListOptions, "branch" | "statuses">): Condition[] {
  return [
    { path: "type", ne: "approval" },
    ...(options.branch !== undefined ? [{ path: ["checkout", "branch"], eq: options.branch }] : []),
    ...(options.statuses ? [{ path: "status", in: options.statuses }] : []),
  ];
}

/**
 * A project's jobs newest first (by number), `limit` of them after skipping `offset` of those
 * that match. Read from the project's job index, which may lag a write by a moment.
 */
export async function listProjectJobs(gyre: Gyre, rawSlug: string, options: JobListOptions): Promise<Job[]> {
  const { slug } = parseSlug(rawSlug);
  const wanted = options.offset + options.limit;
  const items: Job[] = [];
  let startKey: Item | undefined;
  do {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition: Index.jobsOf(slug),
        descending: true,
        limit: Math.min(Math.max(wanted - items.length, 25), 500),
        filter: jobFilter(options),
      },
      startKey,
    );
    for (const raw of page.items) items.push(parseStored(JobSchema, raw, "job"));
    startKey = page.lastKey;
  } while (items.length < wanted && startKey);
  return items.slice(options.offset, wanted);
}

/** One project's jobs, newest first, read a page at a time while a merge needs them. */
interface JobStream {
  slug: string;
  buffer: Job[];
  startKey?: Item;
  done: boolean;
}

/**
 * The jobs of several projects (those a user follows), newest first: each project's list read
 * by number and the lists merged by creation time (ties: by project slug, then number), so a
 * page costs about `offset + limit` jobs read, whatever the number of projects.
 */
export async function listJobsOfProjects(
  gyre: Gyre,
  slugs: readonly string[],
  options: Omit<JobListOptions, "branch">,
): Promise<Job[]> {
  const wanted = options.offset + options.limit;
  const chunk = Math.min(Math.max(slugs.length <= 4 ? wanted : Math.ceil(wanted / slugs.length), 10), 100);
  const streams: JobStream[] = slugs.map((rawSlug) => ({
    slug: parseSlug(rawSlug).slug,
    buffer: [],
    done: false,
  }));
  const fill = async (stream: JobStream) => {
    while (stream.buffer.length === 0 && !stream.done) {
      const page = await queryPage(
        gyre,
        {
          index: "gsi1",
          partition: Index.jobsOf(stream.slug),
          descending: true,
          limit: chunk,
          filter: jobFilter(options),
        },
        stream.startKey,
      );
      for (const raw of page.items) stream.buffer.push(parseStored(JobSchema, raw, "job"));
      stream.startKey = page.lastKey;
      stream.done = page.lastKey === undefined;
    }
  };
  const newer = (a: Job, b: Job) =>
    a.createdAt !== b.createdAt
      ? a.createdAt > b.createdAt
      : a.projectSlug !== b.projectSlug
        ? a.projectSlug < b.projectSlug
        : a.number > b.number;
  await Promise.all(streams.map(fill));
  const merged: Job[] = [];
  while (merged.length < wanted) {
    let next: JobStream | undefined;
    for (const stream of streams)
      if (stream.buffer[0] && (!next || newer(stream.buffer[0], next.buffer[0]!))) next = stream;
    if (!next) break;
    merged.push(next.buffer.shift()!);
    await fill(next);
  }
  return merged.slice(options.offset);
}

const sameLine = (a: Job, b: Job) =>
  a.projectSlug === b.projectSlug && a.name === b.name && a.checkout.branch === b.checkout.branch;

/**
 * The job before `job` of the same name on the same branch (or, for a tag's job, with no branch)
 * in its project: its previous build. Reads at most `PREVIOUS_SCAN` older jobs.
 */
export async function findPreviousJob(gyre: Gyre, job: Job): Promise<Job | undefined> {
  const filter: Condition[] = [
    { path: "name", eq: job.name },
    job.checkout.branch !== undefined
      ? { path: ["checkout", "branch"], eq: job.checkout.branch }
      : { path: ["checkout", "branch"], exists: false },
  ];
  let startKey: Item | undefined;
  let scanned = 0;
  do {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition: Index.jobsOf(job.projectSlug),
        sort: { lt: padNumber(job.number) },
        descending: true,
        limit: Math.min(100, PREVIOUS_SCAN - scanned),
        filter,
      },
      startKey,
    );
    const found = page.items[0];
    if (found) return parseStored(JobSchema, found, "job");
    scanned += page.scanned;
    startKey = page.lastKey;
  } while (startKey && scanned < PREVIOUS_SCAN);
  return undefined;
}

/**
 * The previous build of each job of a list (by job id; undefined: none). With `complete`, the
 * list holds every job of its projects between its newest and its oldest (a list without a
 * status filter): a job's previous is then the next older one of the list on the same line, and
 * only the oldest of each line is searched for.
 */
export async function previousJobs(
  gyre: Gyre,
  jobs: readonly Job[],
  options: { complete: boolean },
): Promise<Map<string, Job | undefined>> {
  const previous = new Map<string, Job | undefined>();
  const sorted = [...jobs].sort((a, b) => b.number - a.number);
  const searches: Job[] = [];
  for (const [i, job] of sorted.entries()) {
    const older = options.complete ? sorted.slice(i + 1).find((o) => sameLine(o, job)) : undefined;
    if (older) previous.set(job.id, older);
    else searches.push(job);
  }
  await Promise.all(searches.map(async (job) => previous.set(job.id, await findPreviousJob(gyre, job))));
  return previous;
}

/**
 * The first job of a pipeline: the lowest-numbered job of its workflows that is not an approval
 * (the build a v1.1 trigger answers with); undefined while its workflows are not listed yet or
 * when none has such a job.
 */
export async function firstJobOfPipeline(gyre: Gyre, pipelineId: string): Promise<Job | undefined> {
  const workflows = await Promise.all(
    (await workflowIdsOf(gyre, pipelineId)).map((id) => readWorkflow(gyre, id)),
  );
  return workflows
    .flatMap((w) => w.jobs)
    .filter((j) => j.type !== "approval" && !j.carriedFrom)
    .sort((a, b) => a.number - b.number)[0];
}
