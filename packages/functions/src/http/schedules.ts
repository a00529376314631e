/**
 * CircleCI API v2's scheduled pipelines: list and create a project's schedules, read, update
 * and delete one (`core/src/schedule`). The scheduler fires them (functions/src/scheduler.ts on
 * AWS, the local runtime's timer locally).
 */

import { scheduleJson } from "@gyre/core/presentation/v2";
import { getProject } from "@gyre/core/project/index";
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
import { type Env, parseBody, requireUser, slugOf } from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

const callerOf = (c: Context<Env>): ScheduleActor => {
  const user = c.get("user");
  return { id: user.id, login: user.login, name: user.name };
};

export function scheduleRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get(`${PROJECT}/schedule`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const page = await listSchedules(gyre, project.slug, c.req.query("page-token") || undefined);
    return c.json({ items: page.items.map(scheduleJson), next_page_token: page.nextPageToken });
  });

  app.post(`${PROJECT}/schedule`, async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, CreateScheduleSchema);
    const project = await getProject(gyre, slugOf(c));
    return c.json(scheduleJson(await createSchedule(gyre, project, body, callerOf(c))), 201);
  });

  app.get("/schedule/:id", async (c) =>
    c.json(scheduleJson(await getSchedule(c.get("gyre"), scheduleId(c.req.param("id"))))),
  );

  app.patch("/schedule/:id", async (c) => {
    const id = scheduleId(c.req.param("id"));
    const body = await parseBody(c, UpdateScheduleSchema);
    return c.json(scheduleJson(await updateSchedule(c.get("gyre"), id, body, callerOf(c))));
  });

  app.delete("/schedule/:id", async (c) => {
    await deleteSchedule(c.get("gyre"), scheduleId(c.req.param("id")));
    return c.json({ message: "Schedule deleted." });
  });

  return app;
}
