/**
 * CircleCI API v2's scheduled pipelines: list and create a project's schedules, read, update
 * and delete one (`core/src/schedule`). The scheduler fires them (functions/src/scheduler.ts on
 * AWS, the local runtime's timer locally).
 */

import { scheduleJson } from "@gyre/core/presentation/v2";
import {
  CreateScheduleSchema,
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  type ScheduleActor,
  scheduleId,
  UpdateScheduleSchema,
  updateSchedule,
} from "@gyre/core/schedule/index";
import { type Context, Hono } from "hono";
import { allow, authorizeSlug, projectFor } from "./access.ts";
import { type Env, parseBody } from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

const callerOf = (c: Context<Env>): ScheduleActor => {
  const user = c.get("user");
  return { id: user.id, login: user.login, name: user.name };
};

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
    return c.json(scheduleJson(await createSchedule(gyre, project, body, callerOf(c))), 201);
  });

  app.get("/schedule/:id", allow.project("view"), async (c) => c.json(scheduleJson(await scheduleOf(c))));

  app.patch("/schedule/:id", allow.project("write"), async (c) => {
    const { id } = await scheduleOf(c);
    const body = await parseBody(c, UpdateScheduleSchema);
    return c.json(scheduleJson(await updateSchedule(c.get("gyre"), id, body, callerOf(c))));
  });

  app.delete("/schedule/:id", allow.project("write"), async (c) => {
    await deleteSchedule(c.get("gyre"), (await scheduleOf(c)).id);
    return c.json({ message: "Schedule deleted." });
  });

  return app;
}
