/**
 * The scheduler's pass (see model.ts for what a schedule is): every tick fires once, in order,
 * keyed so a replay makes no second pipeline, and `lastTick` moves conditionally.
 */
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import { triggerPipeline } from "../pipeline/intake.ts";
import { findProject, type Project } from "../project/index.ts";
import { queryAll, tryUpdate } from "../store/index.ts";
import { Index, Keys } from "../table.ts";
import { type Schedule, ScheduleSchema, ticksBetween } from "./model.ts";

/** Ticks older than this are not fired late (a schedule off for days does not flood the queue). */
export const CATCH_UP_MS = 24 * 3600 * 1000;
/** Ticks one pass fires per schedule at most; the rest go to the next pass. */
const TICKS_PER_PASS = 60;

export interface FireReport {
  fired: number;
  skipped: number;
}

/** Fires every due tick of one schedule, oldest first (see the module's header). */
export async function fireSchedule(gyre: Gyre, schedule: Schedule, now = gyre.now()): Promise<FireReport> {
  const report: FireReport = { fired: 0, skipped: 0 };
  const last = Date.parse(schedule.lastTick);
  const from = Math.max(last, now - CATCH_UP_MS);
  if (from > last)
    report.skipped = ticksBetween(schedule.cron, new Date(last), new Date(from), 10_000).length;
  const ticks = ticksBetween(schedule.cron, new Date(from), new Date(now), TICKS_PER_PASS);
  if (ticks.length === 0 && report.skipped === 0) return report;
  const project = await findProject(gyre, schedule.projectSlug);
  let lastTick = schedule.lastTick;
  for (const tick of ticks) {
    if (project) await fire(gyre, project, schedule, tick.toISOString());
    const moved = await tryUpdate(gyre, Keys.schedule(schedule.id), {
      set: { lastTick: tick.toISOString() },
      when: [{ path: "lastTick", eq: lastTick }],
    });
    if (!moved) return report; // another pass is firing it
    lastTick = tick.toISOString();
    report.fired++;
  }
  if (ticks.length === 0 && report.skipped > 0) {
    await tryUpdate(gyre, Keys.schedule(schedule.id), {
      set: { lastTick: new Date(from).toISOString() },
      when: [{ path: "lastTick", eq: lastTick }],
    });
  }
  return report;
}

async function fire(gyre: Gyre, project: Project, s: Schedule, tick: string): Promise<void> {
  const { branch, tag, ...parameters } = s.parameters;
  try {
    await triggerPipeline(gyre, project, {
      ...(typeof branch === "string" ? { branch } : {}),
      ...(typeof tag === "string" ? { tag } : {}),
      ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
      actor: s.actor.login,
      actorId: s.actor.id,
      // A NUL no Idempotency-Key header can carry: a client's key never takes a tick's place.
      idempotencyKey: `\u0000schedule:${s.id}:${tick}`,
      schedule: { id: s.id, name: s.name, ...(s.workflow ? { workflow: s.workflow } : {}) },
    });
  } catch (error) {
    // The schedule was edited between a pass that fired this tick and its retry: it fired.
    if (error instanceof GyreError && error.code === "unprocessable") return;
    throw error;
  }
}

/** The scheduler's pass: every schedule's due ticks; one schedule's failure stops no other. */
export async function fireDueSchedules(
  gyre: Gyre,
  now = gyre.now(),
): Promise<FireReport & { failed: number }> {
  const total = { fired: 0, skipped: 0, failed: 0 };
  const all: Schedule[] = [];
  for await (const s of queryAll(
    gyre,
    { index: "gsi2", partition: Index.schedules() },
    ScheduleSchema,
    "schedule",
  ))
    all.push(s);
  await Promise.all(
    all.map(async (s) => {
      try {
        const r = await fireSchedule(gyre, s, now);
        total.fired += r.fired;
        total.skipped += r.skipped;
      } catch (error) {
        total.failed++;
        console.error(`gyre scheduler: schedule ${s.id} of ${s.projectSlug}: ${(error as Error).message}`);
      }
    }),
  );
  return total;
}
