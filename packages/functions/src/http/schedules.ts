/**
 * CircleCI API v2's scheduled pipelines: list and create a project's schedules, read, update
 * and delete one (`core/src/schedule`). The scheduler fires them (functions/src/scheduler.ts on
 * AWS, the local runtime's timer locally). Each change is an audit record, as the reference
 * writes them: `schedule.create`, `schedule.update` (what changed, before and after) and
 * `schedule.delete`, with the schedule as target and its project's organization as scope.
 */

import { isDeepStrictEqual } from "node:util";
import { projectScope, scopeOf } from "@gyre/core/audit/index";
import { scheduleJson } from "@gyre/core/presentation/v2";
import {
  CreateScheduleSchema,
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  type Schedule,
  type ScheduleActor,
  scheduleId,
  UpdateScheduleSchema,
  updateSchedule,
} from "@gyre/core/schedule/index";
import { type Context, Hono } from "hono";
import { allow, authorizeSlug, projectFor } from "./access.ts";
import { auditRequest, type Env, parseBody } from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

const callerOf = (c: Context<Env>): ScheduleActor => {
  const user = c.get("user");
  return { id: user.id, login: user.login, name: user.name };
};

/** A schedule as an audit record's target. */
const aboutSchedule = (s: Schedule) => ({ target: { id: s.id, type: "schedule", name: s.name } });

/**
 * What a record says of a schedule: what the API shows of it (its parameters are pipeline
 * parameters, never secrets: any viewer of the project reads them) and who its pipelines run as.
 */
const scheduleFields = (s: Schedule): Record<string, unknown> => ({
  name: s.name,
  description: s.description,
  timetable: s.timetable ?? null,
  parameters: s.parameters,
  attribution_actor: s.attributionActor,
  runs_as: s.actor.login,
});

/** The schedule the path names, if the caller may see its project (404 as for an unknown id otherwise). */
async function scheduleOf(c: Context<Env>) {
  const id = scheduleId(c.req.param("id"));
  const schedule = await getSchedule(c.get("gyre"), id);
  await authorizeSlug(c, schedule.projectSlug, `Schedule ${id} not found.`);
  return schedule;
}

export function scheduleRoutes() {
  const app = new Hono<Env>();

  app.get(`${PROJECT}/schedule`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const page = await listSchedules(gyre, project.slug, c.req.query("page-token") || undefined);
    return c.json({ items: page.items.map(scheduleJson), next_page_token: page.nextPageToken });
  });

  app.post(`${PROJECT}/schedule`, allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, CreateScheduleSchema);
    const project = await projectFor(c);
    const schedule = await createSchedule(gyre, project, body, callerOf(c));
    await auditRequest(c, {
      action: "schedule.create",
      ...aboutSchedule(schedule),
      scope: projectScope(project.slug, project.organizationId),
      payload: { project_slug: project.slug, ...scheduleFields(schedule) },
    });
    return c.json(scheduleJson(schedule), 201);
  });

  app.get("/schedule/:id", allow.project("view"), async (c) => c.json(scheduleJson(await scheduleOf(c))));

  app.patch("/schedule/:id", allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const current = await scheduleOf(c);
    const body = await parseBody(c, UpdateScheduleSchema);
    const schedule = await updateSchedule(gyre, current.id, body, callerOf(c));
    // What changed, before and after (as settings.update); a change to nothing is no record.
    const [was, now] = [scheduleFields(current), scheduleFields(schedule)];
    const changed = Object.keys(now).filter((k) => !isDeepStrictEqual(was[k], now[k]));
    if (changed.length > 0)
      await auditRequest(c, {
        action: "schedule.update",
        ...aboutSchedule(schedule),
        scope: await scopeOf(gyre, schedule.projectSlug),
        payload: {
          project_slug: schedule.projectSlug,
          before: Object.fromEntries(changed.map((k) => [k, was[k]])),
          after: Object.fromEntries(changed.map((k) => [k, now[k]])),
        },
      });
    return c.json(scheduleJson(schedule));
  });

  app.delete("/schedule/:id", allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const schedule = await scheduleOf(c);
    await deleteSchedule(gyre, schedule.id);
    await auditRequest(c, {
      action: "schedule.delete",
      ...aboutSchedule(schedule),
      scope: await scopeOf(gyre, schedule.projectSlug),
      payload: { project_slug: schedule.projectSlug, ...scheduleFields(schedule) },
    });
    return c.json({ message: "Schedule deleted." });
  });

  return app;
}
