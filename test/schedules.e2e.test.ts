/**
 * Schedules on the local stack: CircleCI's scheduled pipelines through API v2, and a config's
 * `triggers.schedule.cron`, fired by the scheduler each tick exactly once, across a restart.
 * The scheduler's pass is also called with a later "now" (its clock parameter), so the test
 * need not wait for the hour to turn; nothing is mocked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser } from "../packages/core/src/auth/index.ts";
import { fireDueSchedules } from "../packages/core/src/schedule/index.ts";
import { api, gitRepo, outputsByName, tempDir, waitFor } from "./support.ts";

const dataDir = tempDir("schedules");
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

const start = async () => {
  runtime = await startLocalRuntime({ dataDir, port: 0 });
  client = api(runtime.url, runtime.adminToken);
};

beforeAll(start);
afterAll(async () => {
  await runtime?.stop();
});

const HOUR = 3600_000;
/** The start of the UTC hour `n` hours from now. */
const hourFromNow = (n: number) => Math.floor(Date.now() / HOUR) * HOUR + n * HOUR;
const utcHour = (ms: number) => new Date(ms).getUTCHours();

type Item = Record<string, unknown>;

const pipelinesOf = async (slug: string) =>
  ((await client.get(`/api/v2/project/${slug}/pipeline`)).body.items as Item[]).sort(
    (a, b) => (a.number as number) - (b.number as number),
  );

async function addProject(slug: string, config: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
}

const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Item };
};

describe("scheduled pipelines (API v2)", () => {
  const slug = "gh/acme/nightly";
  // Hours that have not come yet: the live scheduler fires nothing of its own during the test.
  const hours = [utcHour(hourFromNow(2)), utcHour(hourFromNow(3))].sort((a, b) => a - b);
  const body = {
    name: "twice an hour",
    description: "keeps the cache warm",
    "attribution-actor": "current",
    parameters: { branch: "main", greeting: "hello" },
    timetable: {
      "per-hour": 2,
      "hours-of-day": hours,
      "days-of-week": ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
  };
  let id: string;

  beforeAll(() =>
    addProject(
      slug,
      `version: 2.1
parameters:
  greeting:
    type: string
    default: hi
jobs:
  say:
    machine: true
    steps:
      - run:
          name: Say
          command: echo "<< pipeline.parameters.greeting >> from << pipeline.schedule.name >> (<< pipeline.trigger_source >>)"
workflows:
  main:
    jobs: [say]
`,
    ),
  );

  it("are created, listed, read, updated and deleted with CircleCI's shapes", async () => {
    const created = await call("POST", `/api/v2/project/${slug}/schedule`, body);
    expect(created.status).toBe(201);
    const me = (await client.get("/api/v2/me")).body;
    expect(created.body).toEqual({
      id: expect.any(String),
      name: "twice an hour",
      description: "keeps the cache warm",
      "project-slug": slug,
      timetable: body.timetable,
      parameters: body.parameters,
      "attribution-actor": "current",
      actor: { id: me.id, login: me.login, name: me.name },
      "created-at": expect.any(String),
      "updated-at": expect.any(String),
    });
    id = created.body.id as string;
    expect((await call("GET", `/api/v2/project/${slug}/schedule`)).body).toEqual({
      items: [created.body],
      next_page_token: null,
    });
    expect((await call("GET", `/api/v2/schedule/${id}`)).body).toEqual(created.body);

    const patched = await call("PATCH", `/api/v2/schedule/${id}`, {
      description: null,
      timetable: { "per-hour": 1 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      description: null,
      timetable: { ...body.timetable, "per-hour": 1 },
      name: "twice an hour",
    });
    expect((await call("GET", `/api/v2/schedule/${id}`)).body).toEqual(patched.body);
    // Another user who saves it answers for it: its pipelines never run in the first one's name.
    const other = await createUser(runtime.gyre, { login: "schedule-editor", name: "Ed Itor", admin: true });
    const editorToken = await createToken(runtime.gyre, other.id, "schedules");
    const edited = await fetch(`${runtime.url}/api/v2/schedule/${id}`, {
      method: "PATCH",
      headers: { "circle-token": editorToken, "content-type": "application/json" },
      body: JSON.stringify({ parameters: { branch: "other" } }),
    });
    expect(edited.status).toBe(200);
    expect(((await edited.json()) as Item).actor).toEqual({
      id: other.id,
      login: "schedule-editor",
      name: "Ed Itor",
    });
    expect((await call("GET", `/api/v2/schedule/${id}`)).body).toMatchObject({
      "attribution-actor": "current",
      actor: { id: other.id, login: "schedule-editor", name: "Ed Itor" },
      parameters: { branch: "other" },
    });
    // And back: the admin's save makes the pipelines theirs again (the next test fires them).
    const back = await call("PATCH", `/api/v2/schedule/${id}`, { parameters: body.parameters });
    expect(back.body).toMatchObject({ actor: { id: me.id, login: me.login }, parameters: body.parameters });
    // Days of the month in place of days of the week, in some months only (CircleCI's newer fields).
    const second = (await call("POST", `/api/v2/project/${slug}/schedule`, { ...body, name: "monthly" }))
      .body;
    const monthly = await call("PATCH", `/api/v2/schedule/${second.id}`, {
      timetable: { "days-of-month": [1, 15], months: ["JAN", "JUL"] },
    });
    expect(monthly.body.timetable).toEqual({
      ...body.timetable,
      "days-of-week": undefined,
      "days-of-month": [1, 15],
      months: ["JAN", "JUL"],
    });
    expect((await call("DELETE", `/api/v2/schedule/${second.id}`)).status).toBe(200);

    const spare = (await call("POST", `/api/v2/project/${slug}/schedule`, { ...body, name: "spare" })).body;
    expect(await call("DELETE", `/api/v2/schedule/${spare.id}`)).toEqual({
      status: 200,
      body: { message: "Schedule deleted." },
    });
    expect(await call("GET", `/api/v2/schedule/${spare.id}`)).toEqual({
      status: 404,
      body: { message: `Schedule not found: ${spare.id}.` },
    });
  });

  it("refuses bad bodies and unknown ids with a precise message, writing nothing", async () => {
    const bad: [unknown, string][] = [
      [{ ...body, timetable: { ...body.timetable, "per-hour": 0 } }, "between 1 and 60"],
      [{ ...body, timetable: { ...body.timetable, "hours-of-day": [24] } }, "hours 0 to 23"],
      [{ ...body, timetable: { ...body.timetable, "days-of-week": ["MONDAY"] } }, "days-of-week"],
      [{ ...body, parameters: { greeting: "x" } }, "must contain branch or tag"],
      [{ ...body, parameters: { branch: "main", tag: "v1" } }, "give a branch or a tag, not both"],
      [{ ...body, parameters: { branch: "a..b" } }, "branch"],
      [{ ...body, "attribution-actor": "someone" }, "attribution-actor"],
      [{ ...body, colour: "red" }, "colour"],
      [{ name: "x" }, "timetable"],
      [{ ...body, timetable: { ...body.timetable, "days-of-month": [1] } }, "not both"],
      [{ ...body, timetable: { "per-hour": 1, "hours-of-day": [1] } }, "give days-of-week or days-of-month"],
      [{ ...body, timetable: { ...body.timetable, months: ["JANUARY"] } }, "months"],
    ];
    for (const [b, words] of bad) {
      const res = await call("POST", `/api/v2/project/${slug}/schedule`, b);
      expect({ b, status: res.status }).toEqual({ b, status: 400 });
      expect(res.body.message).toContain(words);
    }
    expect((await call("PATCH", `/api/v2/schedule/${id}`, { timetable: { "per-hour": 61 } })).status).toBe(
      400,
    );
    expect((await call("POST", "/api/v2/project/gh/acme/none/schedule", body)).status).toBe(404);
    expect((await call("GET", "/api/v2/schedule/not-a-uuid")).status).toBe(404);
    expect((await call("PATCH", `/api/v2/schedule/${crypto.randomUUID()}`, { name: "x" })).status).toBe(404);
    expect((await call("DELETE", `/api/v2/schedule/${crypto.randomUUID()}`)).status).toBe(404);
    expect(((await call("GET", `/api/v2/project/${slug}/schedule`)).body.items as Item[]).length).toBe(1);
  });

  it("fire each tick once, as scheduled_pipeline with the schedule's name and parameters, and catch up after a restart", async () => {
    // Two ticks have fallen due a minute after the third hour from now (once an hour, at :00).
    const due = hourFromNow(3) + 60_000;
    expect(await fireDueSchedules(runtime.gyre, due)).toMatchObject({ fired: 2 });
    expect(await fireDueSchedules(runtime.gyre, due)).toMatchObject({ fired: 0 });
    const fired = await waitFor("the two scheduled pipelines", async () => {
      const p = await pipelinesOf(slug);
      return p.length === 2 && p.every((x) => x.state === "created") ? p : undefined;
    });
    for (const p of fired) {
      expect(p.trigger).toMatchObject({ type: "scheduled_pipeline", actor: { login: "admin" } });
    }
    await waitFor("the scheduled job to run", async () => {
      const jobs = (await client.get(`/api/v2/pipeline/${fired[0]!.id}/workflow`)).body.items!;
      return jobs[0]?.status === "success" ? true : undefined;
    });
    const [workflow] = (await client.get(`/api/v2/pipeline/${fired[0]!.id}/workflow`)).body.items!;
    const [job] = (await client.get(`/api/v2/workflow/${workflow!.id}/job`)).body.items!;
    expect(await outputsByName(client, slug, job!.job_number as number)).toMatchObject({
      Say: "hello from twice an hour (scheduled_pipeline)\n",
    });

    // Gyre stops; when it starts again, the tick that fell due meanwhile fires, once.
    await runtime.stop();
    await start();
    expect(await fireDueSchedules(runtime.gyre, hourFromNow(4) + 60_000)).toMatchObject({ fired: 0 });
    const nextDay = hourFromNow(27) + 60_000;
    expect(await fireDueSchedules(runtime.gyre, nextDay)).toMatchObject({ fired: 2, skipped: 0 });
    expect(await fireDueSchedules(runtime.gyre, nextDay)).toMatchObject({ fired: 0, skipped: 0 });
    await waitFor("four scheduled pipelines", async () =>
      (await pipelinesOf(slug)).length === 4 ? true : undefined,
    );
    // Ticks more than a day old are skipped, not fired late (a schedule off for days floods nothing).
    expect(await fireDueSchedules(runtime.gyre, hourFromNow(27 + 72) + 60_000)).toMatchObject({
      fired: 2,
      skipped: 4,
    });
  });
});

describe("a config's triggers.schedule.cron", () => {
  const slug = "gh/acme/cron";
  // Two hours on: the live scheduler fires nothing of its own during the test.
  const cronHour = utcHour(hourFromNow(2));
  beforeAll(() =>
    addProject(
      slug,
      `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
  nightly:
    machine: true
    steps:
      - run:
          name: Nightly
          command: echo "nightly on $CIRCLE_BRANCH (<< pipeline.trigger_source >>)"
workflows:
  commit:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "30 ${cronHour} * * *"
          filters:
            branches:
              only: [main]
    jobs: [nightly]
`,
    ),
  );

  it("is recorded from the default branch's config and fires only its own workflow, once per tick", async () => {
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { branch: "main" });
    expect(created.status).toBe(201);
    await waitFor("the commit pipeline", async () => {
      const [p] = await pipelinesOf(slug);
      return p?.state === "created" ? p : undefined;
    });
    // The tick two hours on, and a minute past it.
    const next = new Date(hourFromNow(2) + 30 * 60_000);
    const report = await fireDueSchedules(runtime.gyre, next.getTime() + 60_000);
    expect(report.fired).toBeGreaterThanOrEqual(1);
    const pipelines = await waitFor("the nightly pipeline", async () => {
      const p = await pipelinesOf(slug);
      return p.length === 2 && p[1]!.state === "created" ? p : undefined;
    });
    const workflows = (await client.get(`/api/v2/pipeline/${pipelines[1]!.id}/workflow`)).body.items!;
    expect(workflows.map((w) => w.name)).toEqual(["nightly"]);
    const done = await waitFor("the nightly job", async () => {
      const [j] = (await client.get(`/api/v2/workflow/${workflows[0]!.id}/job`)).body.items!;
      return j?.status === "success" ? j : undefined;
    });
    expect(await outputsByName(client, slug, done.job_number as number)).toMatchObject({
      Nightly: "nightly on main (schedule)\n",
    });
    expect(await fireDueSchedules(runtime.gyre, next.getTime() + 60_000)).toMatchObject({ fired: 0 });
    // It is Gyre's own record, not one of the API's scheduled pipelines.
    expect((await call("GET", `/api/v2/project/${slug}/schedule`)).body.items).toEqual([]);
  });

  it("is removed with its project, so a project added again under the slug gets none of it", async () => {
    const kept = (await pipelinesOf(slug)).length;
    const removed = await call("DELETE", `/api/gyre/projects/${slug}`);
    expect(removed).toMatchObject({ status: 200, body: { removed: { schedule: 1 } } });
    await addProject(
      slug,
      "version: 2.1\njobs:\n  a:\n    machine: true\n    steps: [{ run: echo a }]\nworkflows:\n  w:\n    jobs: [a]\n",
    );
    const later = hourFromNow(2) + 30 * 60_000 + 24 * 3600_000 + 60_000;
    expect(await fireDueSchedules(runtime.gyre, later)).toMatchObject({ failed: 0 });
    // Its pipelines are kept (a project's history outlives it); the schedule fired no new one.
    expect((await pipelinesOf(slug)).length).toBe(kept);
  });
});
