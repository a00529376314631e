/**
 * Schedules: CircleCI's scheduled pipelines (API v2 `/project/{slug}/schedule`, a timetable in
 * UTC) and the legacy `triggers: - schedule: cron:` of a config's workflows (recorded from the
 * project's default-branch config each time it compiles). Both are one item kind, fired by one
 * scheduler (`fireDueSchedules`): in-process in the local runtime, a one-minute cron function
 * on AWS.
 *
 * Each tick fires exactly once, and none is missed across a restart: a schedule keeps the last
 * tick it fired (`lastTick`); a pass fires every tick after it up to now, in order, each as a
 * trigger keyed by the schedule and the tick (pipeline/intake.ts's idempotency record, so a
 * pass that crashed after triggering and before moving `lastTick` makes no second pipeline),
 * then moves `lastTick` conditionally (two passes at once never both advance it). Ticks older
 * than CATCH_UP_MS are skipped: a schedule that was off for days does not flood the queue.
 */
import { Cron } from "croner";
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { deterministicUuid } from "../id.ts";
import type { Project } from "../project/index.ts";
import { PipelineParameters, RefName } from "../protocol/api.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseInput, parseStored, z } from "../protocol/schema.ts";
import { deleteItem, getItem, type Item, putItem, queryAll, queryPage, tryUpdate } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

export const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;

export const MONTHS = [
  "JAN",
  "FEB",
  "MAR",
  "APR",
  "MAY",
  "JUN",
  "JUL",
  "AUG",
  "SEP",
  "OCT",
  "NOV",
  "DEC",
] as const;

/**
 * CircleCI's timetable: `per-hour` at `hours-of-day` (UTC), on `days-of-week` or on
 * `days-of-month` (one of the two, as CircleCI takes them), in `months` (all when absent).
 */
const TimetableFields = z
  .object({
    "per-hour": z.number().int().min(1, "between 1 and 60").max(60, "between 1 and 60"),
    "hours-of-day": z
      .array(z.number().int().min(0, "hours 0 to 23 (UTC)").max(23, "hours 0 to 23 (UTC)"))
      .min(1, "choose at least one hour of the day (UTC)")
      .max(24),
    "days-of-week": z.array(z.enum(DAYS)).min(1, "choose at least one day of the week").max(7).optional(),
    "days-of-month": z
      .array(z.number().int().min(1, "days 1 to 31").max(31, "days 1 to 31"))
      .min(1, "choose at least one day of the month")
      .max(31)
      .optional(),
    months: z
      .array(z.enum(MONTHS))
      .min(1, "choose at least one month, or leave months out for every month")
      .max(12)
      .optional(),
  })
  .strict();

export const TimetableSchema = TimetableFields.superRefine((t, ctx) => {
  const week = t["days-of-week"] !== undefined;
  const month = t["days-of-month"] !== undefined;
  if (week === month)
    ctx.addIssue({
      code: "custom",
      message: week
        ? "give days-of-week or days-of-month, not both"
        : "choose the days it runs: give days-of-week or days-of-month",
    });
});
export type Timetable = z.infer<typeof TimetableSchema>;

const ActorSchema = z.object({ id: z.string(), login: z.string(), name: z.string() });
export type ScheduleActor = z.infer<typeof ActorSchema>;

export const ScheduleSchema = z.object({
  id: z.string(),
  /** `api`: a scheduled pipeline; `config`: a workflow's `triggers.schedule.cron`. */
  kind: z.enum(["api", "config"]),
  projectSlug: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  timetable: TimetableSchema.optional(),
  /** Five-field cron in UTC: the timetable's, or the config's. */
  cron: z.string(),
  /** The pipeline's parameters, with `branch` or `tag` (CircleCI's shape). */
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  attributionActor: z.enum(["current", "system"]),
  actor: ActorSchema,
  /** A config schedule's workflow: only it runs in the pipelines it fires. */
  workflow: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** The last tick fired (ISO); a new schedule starts at its creation. */
  lastTick: z.string(),
});
export type Schedule = z.infer<typeof ScheduleSchema>;

/** Who a `system`-attributed schedule's pipelines are started by. */
export const SYSTEM_ACTOR: ScheduleActor = {
  id: deterministicUuid("gyre", "scheduler"),
  login: "scheduled-pipelines",
  name: "Scheduled pipelines",
};

const ScheduleParameters = PipelineParameters.superRefine((p, ctx) => {
  const ref = (k: string) => (p[k] === undefined ? undefined : RefName.safeParse(p[k]));
  if (p.branch !== undefined && p.tag !== undefined)
    ctx.addIssue({ code: "custom", path: ["tag"], message: "give a branch or a tag, not both" });
  else if (p.branch === undefined && p.tag === undefined)
    ctx.addIssue({ code: "custom", message: "must contain branch or tag" });
  for (const k of ["branch", "tag"]) {
    const checked = ref(k);
    if (checked && !checked.success)
      ctx.addIssue({ code: "custom", path: [k], message: "a valid git ref name" });
  }
});

export const CreateScheduleSchema = z
  .object({
    name: z.string().min(1).max(255),
    timetable: TimetableSchema,
    "attribution-actor": z.enum(["current", "system"]),
    parameters: ScheduleParameters,
    description: z.string().max(1024).nullable().optional(),
  })
  .strict();
export type CreateScheduleBody = z.infer<typeof CreateScheduleSchema>;

export const UpdateScheduleSchema = z
  .object({
    name: z.string().min(1).max(255).optional(),
    timetable: TimetableFields.partial().optional(),
    "attribution-actor": z.enum(["current", "system"]).optional(),
    parameters: ScheduleParameters.optional(),
    description: z.string().max(1024).nullable().optional(),
  })
  .strict();
export type UpdateScheduleBody = z.infer<typeof UpdateScheduleSchema>;

/**
 * A timetable as cron: `per-hour` ticks spread evenly over each hour (minute ⌊k·60/n⌋), at the
 * hours and on the days given, in UTC.
 */
export function timetableCron(t: Timetable): string {
  const n = t["per-hour"];
  const minutes = Array.from({ length: n }, (_, k) => Math.floor((k * 60) / n));
  const hours = [...new Set(t["hours-of-day"])].sort((a, b) => a - b);
  const list = <T>(values: readonly T[] | undefined, order: (v: T) => number) =>
    values ? [...new Set(values)].sort((a, b) => order(a) - order(b)).join(",") : "*";
  const dom = list(t["days-of-month"], (d) => d);
  const months = list(t.months, (m) => MONTHS.indexOf(m));
  const dow = list(t["days-of-week"], (d) => DAYS.indexOf(d));
  return `${minutes.join(",")} ${hours.join(",")} ${dom} ${months} ${dow}`;
}

/** The ticks of `cron` after `after` and at or before `until`, oldest first, at most `limit`. */
export function ticksBetween(cron: string, after: Date, until: Date, limit: number): Date[] {
  const pattern = new Cron(cron, { paused: true, mode: "5-part", timezone: "Etc/UTC" });
  const ticks: Date[] = [];
  for (let next = pattern.nextRun(after); next && next <= until && ticks.length < limit; ) {
    ticks.push(next);
    next = pattern.nextRun(next);
  }
  return ticks;
}

const itemOf = (s: Schedule): Item => ({
  ...Keys.schedule(s.id),
  // Per project (the API's list), and all of them (the scheduler's), on the two indexes.
  gsi1pk: Index.schedulesOf(s.projectSlug),
  gsi1sk: `${s.kind}#${s.id}`,
  gsi2pk: Index.schedules(),
  gsi2sk: s.id,
  ...s,
});

export async function createSchedule(
  gyre: Gyre,
  project: Project,
  body: CreateScheduleBody,
  caller: ScheduleActor,
): Promise<Schedule> {
  const now = new Date(gyre.now()).toISOString();
  const schedule: Schedule = {
    id: crypto.randomUUID(),
    kind: "api",
    projectSlug: project.slug,
    name: body.name,
    description: body.description ?? null,
    timetable: body.timetable,
    cron: timetableCron(body.timetable),
    parameters: body.parameters,
    attributionActor: body["attribution-actor"],
    actor: body["attribution-actor"] === "system" ? SYSTEM_ACTOR : caller,
    createdAt: now,
    updatedAt: now,
    lastTick: now,
  };
  await putItem(gyre, itemOf(schedule));
  return schedule;
}

/** A schedule the API shows (`kind: api`), or 404. */
export async function getSchedule(gyre: Gyre, id: string): Promise<Schedule> {
  const found = await getItem(gyre, Keys.schedule(id), ScheduleSchema, "schedule");
  if (found?.kind !== "api") throw notFound(`Schedule not found: ${id}.`);
  return found;
}

/**
 * Changes what the body names; the ticks already fired stay fired. A schedule attributed to the
 * `current` user is attributed to the caller afterwards (the one who saved it answers for it).
 */
export async function updateSchedule(
  gyre: Gyre,
  id: string,
  body: UpdateScheduleBody,
  caller: ScheduleActor,
): Promise<Schedule> {
  const current = await getSchedule(gyre, id);
  // Days of the month replace days of the week, and the other way round.
  const base = { ...current.timetable };
  if (body.timetable?.["days-of-month"]) delete base["days-of-week"];
  if (body.timetable?.["days-of-week"]) delete base["days-of-month"];
  const timetable = parseInput(TimetableSchema, { ...base, ...body.timetable }, "timetable");
  const attribution = body["attribution-actor"] ?? current.attributionActor;
  const next: Schedule = {
    ...current,
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.description !== undefined ? { description: body.description } : {}),
    ...(body.parameters ? { parameters: body.parameters } : {}),
    timetable,
    cron: timetableCron(timetable),
    attributionActor: attribution,
    // A schedule attributed to a person runs as whoever saved it last: one user's change never
    // makes pipelines run in another's name.
    actor: attribution === "system" ? SYSTEM_ACTOR : caller,
    updatedAt: new Date(gyre.now()).toISOString(),
  };
  // Everything but `lastTick`, which only the scheduler moves.
  const { id: _id, lastTick: _tick, ...fields } = next;
  await tryUpdate(gyre, Keys.schedule(id), { set: fields, when: [{ path: "pk", exists: true }] });
  return { ...next, lastTick: current.lastTick };
}

export async function deleteSchedule(gyre: Gyre, id: string): Promise<void> {
  await getSchedule(gyre, id);
  await deleteItem(gyre, Keys.schedule(id));
}

/** A project's scheduled pipelines, 20 a page, oldest first. */
export async function listSchedules(
  gyre: Gyre,
  slug: string,
  pageToken?: string,
): Promise<{ items: Schedule[]; nextPageToken: string | null }> {
  const list = Index.schedulesOf(slug);
  const start = pageToken
    ? decodePageToken(list, pageToken, {
        attributes: ["pk", "sk", "gsi1pk", "gsi1sk"],
        fixed: { gsi1pk: list },
      })
    : undefined;
  const page = await queryPage(
    gyre,
    { index: "gsi1", partition: list, sort: { beginsWith: "api#" }, limit: 20 },
    start,
  );
  return {
    items: page.items.map((i) => parseStored(ScheduleSchema, i, "schedule")),
    nextPageToken: page.lastKey ? encodePageToken(list, page.lastKey) : null,
  };
}

/** A workflow's schedule triggers as the config compiled them (CompiledConfig.scheduledWorkflows). */
export interface ConfigSchedules {
  name: string;
  triggers: { cron: string; filters: { branches?: { only?: string[] } } }[];
}

/**
 * Records the `triggers.schedule` of a project's default-branch config: one schedule per
 * workflow, trigger and branch the trigger names (`filters.branches.only`; patterns `/…/`
 * name no branch to run on and are skipped), replacing those of the config before. A schedule
 * that stays keeps its last tick.
 */
export async function syncConfigSchedules(
  gyre: Gyre,
  project: Project,
  workflows: readonly ConfigSchedules[],
): Promise<void> {
  const now = new Date(gyre.now()).toISOString();
  const wanted = new Map<string, Schedule>();
  for (const w of workflows) {
    w.triggers.forEach((t, i) => {
      const branches = (t.filters.branches?.only ?? [project.defaultBranch]).filter(
        (b) => !b.startsWith("/"),
      );
      for (const branch of branches) {
        const id = deterministicUuid(project.slug, "config-schedule", w.name, String(i), t.cron, branch);
        wanted.set(id, {
          id,
          kind: "config",
          projectSlug: project.slug,
          name: `${w.name} (${t.cron})`,
          description: null,
          cron: t.cron,
          parameters: { branch },
          attributionActor: "system",
          actor: SYSTEM_ACTOR,
          workflow: w.name,
          createdAt: now,
          updatedAt: now,
          lastTick: now,
        });
      }
    });
  }
  const existing: Schedule[] = [];
  for await (const s of queryAll(
    gyre,
    { index: "gsi1", partition: Index.schedulesOf(project.slug), sort: { beginsWith: "config#" } },
    ScheduleSchema,
    "schedule",
  ))
    existing.push(s);
  await Promise.all([
    ...existing.filter((s) => !wanted.has(s.id)).map((s) => deleteItem(gyre, Keys.schedule(s.id))),
    // New ones only: a schedule already recorded is the same (its id is its content).
    ...[...wanted.values()]
      .filter((s) => !existing.some((e) => e.id === s.id))
      .map((s) => putItem(gyre, itemOf(s), [{ path: "pk", exists: false }])),
  ]);
}

/** A bad schedule id in a path is one that does not exist. */
export function scheduleId(raw: string | undefined): string {
  if (!raw || !z.string().uuid().safeParse(raw).success) throw notFound(`Schedule not found: ${raw ?? ""}.`);
  return raw;
}
