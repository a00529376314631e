/**
 * Computing one ISO week's usage statistics from Gyre's own records: the reference's "Weekly
 * Account Usage" (build minutes by platform, here also by executor and resource class, per
 * organization, and the week's active users) and "Weekly Job Activity" (per project, its jobs by
 * status), with the projects that built and the projects added.
 *
 * What counts (docs/operations.md "Usage statistics"):
 * - A job belongs to the week it started (its first task's start), or, when it never started
 *   (canceled while queued, `not_run`, `unauthorized`, still blocked), the week it was created:
 *   the rule insights' job runs follow. Only build jobs count: approvals and no-op jobs run
 *   nothing, and a job a rerun carried over is its first run's, counted there.
 * - Build minutes are CircleCI's: each task (one parallel run, an allocation) counts from when a
 *   builder started it to when it stopped, rounded up to the whole second, and a job's minutes
 *   are the sum over its tasks, so parallelism 4 for 10 minutes is 40 minutes. Queueing counts
 *   nothing. A task still running counts once it stops; a job's minutes go to the week it started
 *   in, whole, even when it ran past the week's end. Only the current attempt's tasks are kept
 *   with a job (an attempt lost with its node is replaced), so only they count.
 * - An active user is CircleCI's: anyone, with a Gyre account or not, who made work run that
 *   week: triggered a pipeline (the pusher a webhook names, the caller of an API trigger, the
 *   person a scheduled pipeline is attributed to; Gyre's own scheduler identity left out), reran
 *   a workflow, or approved a job. Signing in or looking at builds does not count.
 *
 * Bounded reads: a project's jobs and pipelines are lists by number (gsi1 of `Index.jobsOf` and
 * `Index.pipelinesOf`), and numbers follow creation. A week is found in each by a binary search
 * on numbers (a few one-item reads) and read newest first, page by page, down to the first item
 * created before it (for jobs, `JOB_LOOKBACK_MS` before it: a job may start long after it was
 * created, behind an approval). A job created earlier than that and started in the week is not
 * counted. Projects are read `PROJECT_CONCURRENCY` at a time.
 */
import { readUser } from "../auth/users.ts";
import type { Executor } from "../config/plan.ts";
import type { Gyre } from "../context.ts";
import { JOB_STATUSES, type Job, JobSchema, type JobStatus, TERMINAL_JOB } from "../job/index.ts";
import { type Pipeline, PipelineSchema } from "../pipeline/model.ts";
import { listProjects, orgSlugOf, type StoredProject } from "../project/index.ts";
import { Ids, parseStored, z } from "../protocol/schema.ts";
import { SYSTEM_ACTOR as SCHEDULER } from "../schedule/model.ts";
import { getItem, type Item, queryPage } from "../store/index.ts";
import { Index, Keys, padNumber } from "../table.ts";
import { WorkflowItemSchema } from "../workflow/index.ts";
import { DAY_MS, type Week } from "./week.ts";

/** How long before a week a job may have been created and still count, started in the week. */
export const JOB_LOOKBACK_MS = 14 * DAY_MS;
/**
 * How far creation times may run out of number order: an API trigger reserves its numbers before
 * the intake creates its jobs; a continuation's jobs are numbered when the setup job sends it.
 */
export const NUMBER_SKEW_MS = DAY_MS;
export const PROJECT_CONCURRENCY = 4;
const PAGE_SIZE = 100;

export type Platform = "linux" | "macos" | "windows" | "unknown";

/** One row of account usage: an organization's jobs on one platform, executor and resource class. */
export interface AccountUsageRow {
  /** `gh/acme`. */
  organization: string;
  organizationId: string;
  platform: Platform;
  /** `docker`, `machine`, `macos`, `windows`. */
  executor: string;
  resourceClass: string;
  jobs: number;
  /** Parallel runs that ran and stopped. */
  tasks: number;
  buildSeconds: number;
}

/** One row of job activity: a project's jobs of the week by status. */
export interface JobActivityRow {
  project: string;
  organization: string;
  jobs: number;
  byStatus: Record<JobStatus, number>;
  buildSeconds: number;
}

export interface ActiveUser {
  /** The Gyre user's id, or for a pusher with no account the stable id their pipelines carry. */
  id: string;
  login: string | null;
  name: string | null;
  /** Whether they have a Gyre account (CircleCI's registered user). */
  registered: boolean;
  pipelines: number;
  reruns: number;
  approvals: number;
}

export interface UsageReport {
  week: Week;
  generatedAt: number;
  /** Whether the week had ended when this was computed (else it is the week so far). */
  complete: boolean;
  /** When the installation began (installedAt), if it has begun: a week that ended before it is empty. */
  installedAt?: number;
  accountUsage: AccountUsageRow[];
  activeUsers: ActiveUser[];
  jobActivity: JobActivityRow[];
  projects: { total: number; building: number; new: number };
}

/** The platform an executor runs on, as the reference splits usage (linux, macos). */
export function platformOf(executor: Executor | undefined): Platform {
  switch (executor?.type) {
    case "docker":
      return "linux";
    case "machine":
      return /windows/i.test(executor.image ?? "") ? "windows" : "linux";
    case "macos":
      return "macos";
    case "windows":
      return "windows";
    default:
      return "unknown";
  }
}

/** When a job counts: when it started, or when it was created if it never started. */
export const countedAt = (job: Pick<Job, "startedAt" | "createdAt">) =>
  Date.parse(job.startedAt ?? job.createdAt);

/** A job's tasks that ran and stopped, and their seconds (each rounded up). */
export function buildTime(job: Pick<Job, "allocations" | "status" | "stoppedAt">): {
  tasks: number;
  seconds: number;
} {
  let tasks = 0;
  let seconds = 0;
  for (const task of Object.values(job.allocations)) {
    if (!task.startedAt) continue;
    // A task its job's end settled without a stop of its own (a lost node) stopped with the job.
    const stopped = task.stoppedAt ?? (TERMINAL_JOB.has(job.status) ? job.stoppedAt : undefined);
    if (!stopped) continue;
    tasks++;
    seconds += Math.max(0, Math.ceil((Date.parse(stopped) - Date.parse(task.startedAt)) / 1000));
  }
  return { tasks, seconds };
}

const inWeek = (ms: number, week: Week) => ms >= week.from && ms < week.to;

const NumberedSchema = z.object({ number: z.number().int(), createdAt: z.string() });

/**
 * The items of a per-project list by number (`partition` on gsi1), newest first, from the last
 * created before `before` down to the first created before `after`, each bound widened by
 * NUMBER_SKEW_MS (the caller checks each item's own times).
 */
async function* createdBetween(
  gyre: Gyre,
  partition: string,
  after: number,
  before: number,
): AsyncGenerator<Item> {
  const upper = before + NUMBER_SKEW_MS;
  const lower = after - NUMBER_SKEW_MS;
  /** The item with the highest number below `below` (any, when undefined). */
  const highest = async (below?: number) => {
    const page = await queryPage(gyre, {
      index: "gsi1",
      partition,
      descending: true,
      limit: 1,
      ...(below !== undefined ? { sort: { lt: padNumber(below) } } : {}),
    });
    const raw = page.items[0];
    return raw ? parseStored(NumberedSchema, raw, "numbered item") : undefined;
  };
  const newest = await highest();
  if (!newest) return;
  let below: number | undefined;
  if (Date.parse(newest.createdAt) >= upper) {
    // Binary search on numbers: items up to `lo` were created before `upper`, `hi`'s was not.
    let lo = 0;
    let hi = newest.number;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const item = await highest(mid + 1);
      if (!item || Date.parse(item.createdAt) < upper) lo = mid;
      else hi = mid;
    }
    if (lo === 0) return;
    below = lo + 1;
  }
  let startKey: Item | undefined;
  do {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition,
        descending: true,
        limit: PAGE_SIZE,
        ...(below !== undefined ? { sort: { lt: padNumber(below) } } : {}),
      },
      startKey,
    );
    for (const raw of page.items) {
      if (Date.parse(parseStored(NumberedSchema, raw, "numbered item").createdAt) < lower) return;
      yield raw;
    }
    startKey = page.lastKey;
  } while (startKey);
}

/** A project's build jobs that count in `week` (see the top of this file), and its reruns and approvals. */
async function jobsOfWeek(gyre: Gyre, slug: string, week: Week) {
  const builds: Job[] = [];
  const approvals: { by: string }[] = [];
  const rerunWorkflows = new Set<string>();
  for await (const raw of createdBetween(gyre, Index.jobsOf(slug), week.from - JOB_LOOKBACK_MS, week.to)) {
    const job = parseStored(JobSchema, raw, "job");
    if (job.carriedFrom) continue;
    if (job.type === "approval") {
      if (job.approvedBy && job.stoppedAt && inWeek(Date.parse(job.stoppedAt), week))
        approvals.push({ by: job.approvedBy });
      continue;
    }
    // A rerun's jobs are created when it is: their workflow names who reran it.
    if (job.workspaceId && job.workspaceId !== job.workflowId && inWeek(Date.parse(job.createdAt), week))
      rerunWorkflows.add(job.workflowId);
    if (job.type === "build" && inWeek(countedAt(job), week)) builds.push(job);
  }
  const rerunBy: string[] = [];
  for (const id of rerunWorkflows) {
    const workflow = await getItem(gyre, Keys.workflow(id), WorkflowItemSchema, "workflow", {
      consistent: false,
    });
    if (workflow?.rerunOf && inWeek(Date.parse(workflow.createdAt), week)) rerunBy.push(workflow.startedBy);
  }
  return { builds, approvals, rerunBy };
}

async function pipelinesOfWeek(gyre: Gyre, slug: string, week: Week): Promise<Pipeline[]> {
  const pipelines: Pipeline[] = [];
  for await (const raw of createdBetween(gyre, Index.pipelinesOf(slug), week.from, week.to)) {
    const pipeline = parseStored(PipelineSchema, raw, "pipeline");
    if (inWeek(Date.parse(pipeline.createdAt), week)) pipelines.push(pipeline);
  }
  return pipelines;
}

/** Runs `work` over `items`, `limit` at a time, answers in order. */
async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]!);
      }
    }),
  );
  return out;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const noStatuses = () => Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;

interface Acts {
  /** The login a pipeline named, for someone with no account. */
  login?: string;
  pipelines: number;
  reruns: number;
  approvals: number;
}

/** Who made work run, resolved to their accounts (read once each). */
async function activeUsersOf(gyre: Gyre, acts: Map<string, Acts>): Promise<ActiveUser[]> {
  const users = await eachLimited([...acts], 8, async ([id, act]): Promise<ActiveUser | undefined> => {
    const user = Ids.uuid.safeParse(id).success ? await readUser(gyre, id.toLowerCase(), false) : undefined;
    if (user?.builder) return undefined;
    return {
      id,
      login: user?.login ?? act.login ?? null,
      name: user?.name ?? null,
      registered: user !== undefined,
      pipelines: act.pipelines,
      reruns: act.reruns,
      approvals: act.approvals,
    };
  });
  return users
    .filter((u): u is ActiveUser => u !== undefined)
    .sort((a, b) => byText(a.login ?? "", b.login ?? "") || byText(a.id, b.id));
}

const FirstAdminSchema = z.object({ at: z.string() });

/**
 * When the installation began: its first record that counts, the first administrator's mark
 * (made at the local runtime's first start, `gyre admin bootstrap` or the first sign-in) or its
 * oldest project, whichever is older. Every job and pipeline belongs to a project, so a week
 * that ended before then has nothing to count. Undefined for an installation with neither.
 */
export async function installedAt(
  gyre: Gyre,
  projects: readonly StoredProject[],
): Promise<number | undefined> {
  const mark = await getItem(gyre, Keys.firstAdmin(), FirstAdminSchema, "first administrator mark", {
    consistent: false,
  });
  const times = [mark?.at, ...projects.map((p) => p.createdAt)]
    .filter((t): t is string => t !== undefined)
    .map(Date.parse);
  return times.length > 0 ? Math.min(...times) : undefined;
}

/** The usage statistics of `week`, computed now from the table (see the top of this file). */
export async function usageReport(gyre: Gyre, week: Week): Promise<UsageReport> {
  const projects = await listProjects(gyre);
  const since = await installedAt(gyre, projects);
  const perProject = await eachLimited(projects, PROJECT_CONCURRENCY, async (project: StoredProject) => {
    const [jobs, pipelines] = await Promise.all([
      jobsOfWeek(gyre, project.slug, week),
      pipelinesOfWeek(gyre, project.slug, week),
    ]);
    return { project, ...jobs, pipelines };
  });

  const usage = new Map<string, AccountUsageRow>();
  const activity: JobActivityRow[] = [];
  const acts = new Map<string, Acts>();
  const act = (id: string) => {
    let entry = acts.get(id);
    if (!entry) {
      entry = { pipelines: 0, reruns: 0, approvals: 0 };
      acts.set(id, entry);
    }
    return entry;
  };
  for (const { project, builds, approvals, rerunBy, pipelines } of perProject) {
    const organization = orgSlugOf(project.slug);
    if (builds.length > 0) {
      const row: JobActivityRow = {
        project: project.slug,
        organization,
        jobs: 0,
        byStatus: noStatuses(),
        buildSeconds: 0,
      };
      for (const job of builds) {
        const { tasks, seconds } = buildTime(job);
        const executor = job.plan?.executor.type ?? "unknown";
        const resourceClass = job.plan?.resourceClass ?? "unknown";
        const platform = platformOf(job.plan?.executor);
        const key = [organization, platform, executor, resourceClass].join("\u0000");
        const total = usage.get(key) ?? {
          organization,
          organizationId: project.organizationId,
          platform,
          executor,
          resourceClass,
          jobs: 0,
          tasks: 0,
          buildSeconds: 0,
        };
        total.jobs++;
        total.tasks += tasks;
        total.buildSeconds += seconds;
        usage.set(key, total);
        row.jobs++;
        row.byStatus[job.status]++;
        row.buildSeconds += seconds;
      }
      activity.push(row);
    }
    for (const pipeline of pipelines) {
      const { actor, actorId } = pipeline.trigger;
      if (actorId === SCHEDULER.id) continue;
      const entry = act(actorId ?? `login:${actor}`);
      entry.login ??= actor;
      entry.pipelines++;
    }
    for (const by of rerunBy) act(by).reruns++;
    for (const { by } of approvals) act(by).approvals++;
  }

  const accountUsage = [...usage.values()].sort(
    (a, b) =>
      byText(a.organization, b.organization) ||
      byText(a.platform, b.platform) ||
      byText(a.executor, b.executor) ||
      byText(a.resourceClass, b.resourceClass),
  );
  activity.sort((a, b) => byText(a.project, b.project));
  const now = gyre.now();
  return {
    week,
    generatedAt: now,
    complete: now >= week.to,
    ...(since !== undefined ? { installedAt: since } : {}),
    accountUsage,
    activeUsers: await activeUsersOf(gyre, acts),
    jobActivity: activity,
    projects: {
      total: projects.length,
      building: activity.length,
      new: projects.filter((p) => inWeek(Date.parse(p.createdAt), week)).length,
    },
  };
}
