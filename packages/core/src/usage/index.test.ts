/**
 * Usage statistics: ISO weeks parsed strictly, and a week's report computed from records made by
 * the real modules (projects, users, pipelines' workflows and jobs as the intake writes them) in
 * an in-memory table, the jobs then moved to how they ended.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, type User } from "../auth/users.ts";
import { compiled } from "../config/testing.ts";
import { GyreError } from "../error.ts";
import { deterministicUuid } from "../id.ts";
import { type AllocationState, type Job, JobSchema } from "../job/index.ts";
import { pipelineValues, writeWorkflows } from "../pipeline/create.ts";
import type { Pipeline, TriggerInfo } from "../pipeline/model.ts";
import { createProject, reserveNumbers, type StoredProject } from "../project/index.ts";
import { SYSTEM_ACTOR as SCHEDULER } from "../schedule/model.ts";
import { putItem } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Index, Keys, padNumber } from "../table.ts";
import { readWorkflow, type WorkflowItem, WorkflowItemSchema } from "../workflow/index.ts";
import {
  buildTime,
  csvField,
  dueWeek,
  lastFullWeek,
  parseWeek,
  requestedWeek,
  type UsageReport,
  usageCsv,
  usageJson,
  usageReport,
  WEEK_MS,
  weekOf,
  weeksIn,
} from "./index.ts";

const at = (iso: string) => Date.parse(iso);

describe("ISO weeks", () => {
  it("run from Monday 00:00 UTC to the next Monday, week 1 being the week of 4 January", () => {
    const w48 = parseWeek("2026-W48");
    expect(new Date(w48.from).toISOString()).toBe("2026-11-23T00:00:00.000Z");
    expect(new Date(w48.to).toISOString()).toBe("2026-11-30T00:00:00.000Z");
    // 2026 starts on a Thursday: its week 1 starts in 2025, and it has 53 weeks.
    expect(new Date(parseWeek("2026-W01").from).toISOString()).toBe("2025-12-29T00:00:00.000Z");
    expect(weeksIn(2026)).toBe(53);
    expect(weeksIn(2025)).toBe(52);
    expect(weekOf(at("2021-01-03T12:00:00Z")).id).toBe("2020-W53");
    expect(weekOf(at("2024-12-30T00:00:00Z")).id).toBe("2025-W01");
  });

  it("hold their last millisecond and not the next Monday's first", () => {
    const w = parseWeek("2026-W02");
    expect(weekOf(w.to - 1).id).toBe("2026-W02");
    expect(weekOf(w.to).id).toBe("2026-W03");
    expect(weekOf(w.from).id).toBe("2026-W02");
  });

  it("round-trip: the week of any instant parses back to itself and holds the instant", () => {
    fc.assert(
      fc.property(fc.integer({ min: at("1970-01-05T00:00:00Z"), max: at("9999-12-20T00:00:00Z") }), (ms) => {
        const week = weekOf(ms);
        expect(parseWeek(week.id)).toEqual(week);
        expect(ms >= week.from && ms < week.to).toBe(true);
        expect(week.to - week.from).toBe(WEEK_MS);
      }),
    );
  });

  it("are refused unless written YYYY-Www with a week the year has, the message naming the problem", () => {
    const refusal = (text: string) => {
      try {
        parseWeek(text);
      } catch (error) {
        expect(error).toBeInstanceOf(GyreError);
        expect((error as GyreError).code).toBe("bad_request");
        return (error as GyreError).message;
      }
      throw new Error(`${text} was accepted`);
    };
    for (const text of [
      "2026-w48",
      "2026W48",
      "2026-W4",
      " 2026-W48",
      "2026-W48 ",
      "26-W48",
      "2026-W048",
      "",
    ])
      expect(refusal(text)).toMatch(/give an ISO week as YYYY-Www, such as 2026-W48/);
    expect(refusal("2026-W00")).toMatch(/numbered from 01/);
    expect(refusal("2025-W53")).toBe('Invalid week "2025-W53": 2025 has 52 ISO weeks.');
    expect(refusal("2026-W54")).toMatch(/2026 has 53 ISO weeks/);
    expect(refusal("1969-W52")).toMatch(/1970 or later/);
    expect(refusal("x".repeat(500)).length).toBeLessThan(120);
  });

  it("are asked for as the last full week by default, `this` for the week so far, never one not begun", () => {
    const now = at("2026-01-14T09:30:00Z"); // Wednesday of 2026-W03
    expect(requestedWeek(undefined, now).id).toBe("2026-W02");
    expect(requestedWeek("this", now).id).toBe("2026-W03");
    expect(requestedWeek("last", now).id).toBe("2026-W02");
    expect(requestedWeek("2026-W03", now).id).toBe("2026-W03");
    expect(requestedWeek("2025-W10", now).id).toBe("2025-W10");
    const refused = () => requestedWeek("2026-W04", now);
    expect(refused).toThrow(GyreError);
    expect(refused).toThrow(
      'Invalid week "2026-W04": it has not begun (the week under way is 2026-W03: give week=this for it so far).',
    );
    // Its first instant has begun.
    expect(requestedWeek("2026-W04", parseWeek("2026-W04").from).id).toBe("2026-W04");
    expect(() => requestedWeek("This", now)).toThrow(/give an ISO week as YYYY-Www/);
  });

  it("give the last full week, and the delivery's week two hours after it ended", () => {
    expect(lastFullWeek(at("2026-01-12T00:00:00Z")).id).toBe("2026-W02");
    expect(lastFullWeek(at("2026-01-11T23:59:59Z")).id).toBe("2026-W01");
    expect(dueWeek(at("2026-01-12T01:59:59Z")).id).toBe("2026-W01");
    expect(dueWeek(at("2026-01-12T02:00:00Z")).id).toBe("2026-W02");
  });
});

describe("build time", () => {
  const task = (startedAt: string, stoppedAt?: string): AllocationState => ({
    status: stoppedAt ? "success" : "running",
    startedAt,
    ...(stoppedAt ? { stoppedAt } : {}),
  });

  it("sums each task's run, rounded up to the second; queued and running tasks count nothing yet", () => {
    expect(
      buildTime({
        status: "running",
        allocations: {
          "0": task("2026-01-05T10:00:00.000Z", "2026-01-05T10:10:00.001Z"),
          "1": task("2026-01-05T10:00:00.000Z", "2026-01-05T10:05:00.000Z"),
          "2": task("2026-01-05T10:00:00.000Z"),
          "3": { status: "queued" },
        },
      }),
    ).toEqual({ tasks: 2, seconds: 601 + 300 });
  });

  it("ends a task with its job when the job ended without the task's own stop (a lost node)", () => {
    expect(
      buildTime({
        status: "infrastructure_fail",
        stoppedAt: "2026-01-05T10:01:00.000Z",
        allocations: { "0": { status: "lost", startedAt: "2026-01-05T10:00:00.000Z" } },
      }),
    ).toEqual({ tasks: 1, seconds: 60 });
  });
});

describe("CSV fields", () => {
  it("are quoted as RFC 4180 asks, and text a spreadsheet would run as a formula is defused", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-1+2,3")).toBe(`"'-1+2,3"`);
    expect(csvField(12.5)).toBe("12.5");
    expect(csvField(null)).toBe("");
    expect(csvField(true)).toBe("true");
  });
});

// ---------------------------------------------------------------------------------------------
// A week's report. W is 2026-W02: Monday 5 to Sunday 11 January 2026.

const W = parseWeek("2026-W02");
const CHECKOUT = "    steps: [checkout]\n";
const DOCKER = "    docker: [{ image: cimg/base:stable }]\n";

const API_CONFIG = `version: 2.1
jobs:
  build:
${DOCKER}    parallelism: 2
${CHECKOUT}  test:
    machine: true
    resource_class: large
${CHECKOUT}workflows:
  main:
    jobs: [build, test]
`;
const RELEASE_CONFIG = `version: 2.1
jobs:
  build:
${DOCKER}${CHECKOUT}  deploy:
${DOCKER}${CHECKOUT}workflows:
  release:
    jobs:
      - build
      - hold: { type: approval, requires: [build] }
      - deploy: { requires: [hold] }
`;
const TOOL_CONFIG = `version: 2.1
jobs:
  mac:
    macos: { xcode: 15.4.0 }
    resource_class: macos.m1.medium.gen1
${CHECKOUT}  lint:
${DOCKER}    resource_class: small
${CHECKOUT}  long:
${DOCKER}${CHECKOUT}workflows:
  checks:
    jobs: [mac, lint, long]
`;
const NIGHTLY_CONFIG = `version: 2.1
jobs:
  nightly:
${DOCKER}${CHECKOUT}workflows:
  nightly:
    jobs: [nightly]
`;

let table: TestTable;
let report: UsageReport;
const users: Record<string, User> = {};
const projects: Record<string, StoredProject> = {};

/** A pipeline of `project` triggered at `when`, its workflows and jobs written as the intake does. */
async function pipelineOf(
  project: StoredProject,
  when: string,
  trigger: Omit<TriggerInfo, "receivedAt">,
  config?: string,
) {
  table.setNow(at(when));
  const plan = config ? await compiled(config) : undefined;
  const jobs = plan?.workflows.reduce((n, w) => n + w.jobs.length, 0) ?? 0;
  const { pipelineNumber, firstJobNumber } = await reserveNumbers(table.gyre, project.slug, jobs);
  const pipeline: Pipeline = {
    id: deterministicUuid("pipeline", project.slug, String(pipelineNumber)),
    number: pipelineNumber,
    projectSlug: project.slug,
    state: plan ? "created" : "errored",
    errors: plan ? [] : [{ type: "config", message: "no config" }],
    trigger: { ...trigger, receivedAt: when },
    vcs: { providerName: "GitHub", repoUrl: project.repoUrl, revision: "f".repeat(40), branch: "main" },
    createdAt: when,
    updatedAt: when,
  };
  await putItem(table.gyre, {
    ...Keys.pipeline(pipeline.id),
    gsi1pk: Index.pipelinesOf(project.slug),
    gsi1sk: padNumber(pipeline.number),
    ...pipeline,
  });
  if (!plan) return {};
  const values = pipelineValues(project, pipeline);
  await writeWorkflows(
    table.gyre,
    project,
    pipeline,
    await compiled(config!, values),
    values,
    firstJobNumber,
    "setup",
  );
  const byName: Record<string, Job> = {};
  for (const w of plan.workflows) {
    const { jobs: written } = await readWorkflow(
      table.gyre,
      deterministicUuid(pipeline.id, "setup", "workflow", w.name),
    );
    for (const job of written) byName[job.name] = job;
  }
  return byName;
}

const putJob = (job: Job) =>
  putItem(table.gyre, {
    ...Keys.job(job.workflowId, job.name),
    gsi1pk: Index.jobsOf(job.projectSlug),
    gsi1sk: padNumber(job.number),
    ...JobSchema.parse(job),
  });

/** Moves `job` to how it ended: each task's start and stop (none for a job that never started). */
async function ended(
  job: Job | undefined,
  status: Job["status"],
  tasks: [string, string?][],
  extra: Partial<Job> = {},
) {
  if (!job) throw new Error("no such job");
  const allocations = Object.fromEntries(
    tasks.map(([startedAt, stoppedAt], i) => [
      String(i),
      {
        status: stoppedAt ? (status === "running" ? "success" : status) : "running",
        startedAt,
        ...(stoppedAt ? { stoppedAt } : {}),
      } as AllocationState,
    ]),
  );
  const stops = tasks.map(([, s]) => s).filter((s): s is string => s !== undefined);
  await putJob({
    ...job,
    status,
    ...(tasks.length > 0 ? { allocations, startedAt: tasks[0]![0] } : {}),
    ...(status !== "running" && stops.length > 0 ? { stoppedAt: stops.sort().at(-1)! } : {}),
    ...extra,
  });
}

beforeAll(async () => {
  table = await memoryTable();
  const gyre = table.gyre;
  table.setNow(at("2025-12-01T00:00:00Z"));
  for (const login of ["alice", "carol"])
    users[login] = await createUser(gyre, { login, name: login === "carol" ? 'Carol "CJ", Jones' : "Alice" });
  for (const slug of ["gh/acme/api", "gh/acme/web"])
    projects[slug] = (
      await createProject(gyre, { repoUrl: `https://github.com/${slug.slice(3)}`, slug })
    ).project;
  // Added during the week.
  table.setNow(at("2026-01-06T08:00:00Z"));
  projects["gh/beta/tool"] = (
    await createProject(gyre, { repoUrl: "https://github.com/beta/tool", slug: "gh/beta/tool" })
  ).project;
  const api = projects["gh/acme/api"]!;
  const web = projects["gh/acme/web"]!;
  const tool = projects["gh/beta/tool"]!;
  const alice = { type: "api", actor: "alice", actorId: users.alice!.id } as const;

  // The week before: a release whose build ran then; its approval and deploy happen in W.
  const release = await pipelineOf(
    api,
    "2026-01-04T23:00:00.000Z",
    { type: "webhook", actor: "bob", actorId: deterministicUuid("vcs-user", "github", "bob") },
    RELEASE_CONFIG,
  );
  await ended(release.build, "success", [["2026-01-04T23:30:00.000Z", "2026-01-05T00:10:00.000Z"]]);
  await ended(release.hold, "success", [], {
    approvedBy: users.carol!.id,
    startedAt: "2026-01-05T09:00:00.000Z",
    stoppedAt: "2026-01-05T09:00:00.000Z",
  });
  await ended(release.deploy, "success", [["2026-01-05T09:01:00.000Z", "2026-01-05T09:03:00.000Z"]]);

  // W: alice's pipeline of api, parallelism 2 on docker, a failed machine job.
  const main = await pipelineOf(api, "2026-01-05T10:00:00.000Z", alice, API_CONFIG);
  await ended(main.build, "success", [
    ["2026-01-05T10:01:00.000Z", "2026-01-05T10:11:00.500Z"],
    ["2026-01-05T10:01:00.000Z", "2026-01-05T10:06:00.000Z"],
  ]);
  await ended(main.test, "failed", [["2026-01-05T10:12:00.000Z", "2026-01-05T10:15:00.000Z"]]);

  // W: carol reruns that workflow's `test` (a new workflow in the pipeline, as dispatch/rerun.ts makes).
  table.setNow(at("2026-01-06T09:00:00.000Z"));
  const test = main.test!;
  const { firstJobNumber } = await reserveNumbers(gyre, api.slug, 1, 0);
  const rerun: WorkflowItem = WorkflowItemSchema.parse({
    id: deterministicUuid("rerun", test.workflowId),
    name: test.workflowName,
    pipelineId: test.pipelineId,
    pipelineNumber: test.pipelineNumber,
    projectSlug: api.slug,
    createdAt: "2026-01-06T09:00:00.000Z",
    startedBy: users.carol!.id,
    rerunOf: test.workflowId,
  });
  await putItem(gyre, {
    ...Keys.workflow(rerun.id),
    gsi1pk: Index.workflowsOf(rerun.pipelineId),
    gsi1sk: `${rerun.createdAt}#${rerun.name}`,
    ...rerun,
  });
  await ended(
    {
      ...test,
      id: deterministicUuid("rerun job", test.id),
      number: firstJobNumber,
      workflowId: rerun.id,
      workspaceId: test.workflowId,
      createdAt: rerun.createdAt,
    },
    "success",
    [["2026-01-06T09:01:00.000Z", "2026-01-06T09:03:00.000Z"]],
  );

  // W: alice on beta/tool: macOS, a job canceled while queued, one still running.
  const checks = await pipelineOf(tool, "2026-01-07T12:00:00.000Z", alice, TOOL_CONFIG);
  await ended(checks.mac, "success", [["2026-01-07T12:01:00.000Z", "2026-01-07T12:01:59.200Z"]]);
  await ended(checks.lint, "canceled", [], { stoppedAt: "2026-01-07T12:02:00.000Z" });
  await ended(checks.long, "running", [["2026-01-07T12:05:00.000Z"]]);

  // W: a scheduled pipeline attributed to Gyre's scheduler, and a push by someone with no account
  // whose config did not compile.
  const nightly = await pipelineOf(
    web,
    "2026-01-08T03:00:00.000Z",
    {
      type: "scheduled_pipeline",
      actor: SCHEDULER.login,
      actorId: SCHEDULER.id,
      schedule: { id: "s", name: "nightly" },
    },
    NIGHTLY_CONFIG,
  );
  await ended(nightly.nightly, "success", [["2026-01-08T03:00:10.000Z", "2026-01-08T03:00:40.000Z"]]);
  await pipelineOf(web, "2026-01-09T15:00:00.000Z", {
    type: "webhook",
    actor: "frank",
    actorId: deterministicUuid("vcs-user", "github", "frank"),
  });

  // After W: the next Monday at midnight, and weeks later (the report finds W by number).
  const next = await pipelineOf(
    web,
    "2026-01-12T00:00:00.000Z",
    { type: "webhook", actor: "dave" },
    NIGHTLY_CONFIG,
  );
  await ended(next.nightly, "success", [["2026-01-12T00:00:05.000Z", "2026-01-12T00:01:00.000Z"]]);
  for (let day = 0; day < 40; day++) {
    const later = await pipelineOf(
      api,
      new Date(at("2026-01-26T00:00:00.000Z") + day * 86_400_000).toISOString(),
      { type: "webhook", actor: "erin" },
      API_CONFIG,
    );
    await ended(later.build, "success", [
      [
        new Date(at("2026-01-26T00:01:00.000Z") + day * 86_400_000).toISOString(),
        new Date(at("2026-01-26T00:02:00.000Z") + day * 86_400_000).toISOString(),
      ],
    ]);
  }

  table.setNow(at("2026-03-10T00:00:00.000Z"));
  report = await usageReport(gyre, W);
}, 120_000);

afterAll(() => table?.close());

describe("a week's report", () => {
  it("sums build minutes per organization, platform, executor and resource class, each task counted", () => {
    const json = usageJson(report);
    expect(json).toMatchObject({
      week: "2026-W02",
      from: "2026-01-05T00:00:00.000Z",
      to: "2026-01-12T00:00:00.000Z",
    });
    expect(json.complete).toBe(true);
    expect(json.account_usage).toEqual([
      // api's build (2 tasks: 601 s + 300 s), the release's deploy (120 s), web's nightly (30 s).
      {
        organization: "gh/acme",
        organization_id: projects["gh/acme/api"]!.organizationId,
        platform: "linux",
        executor: "docker",
        resource_class: "medium",
        jobs: 3,
        tasks: 4,
        build_seconds: 1051,
        build_minutes: 17.52,
      },
      // The failed test (180 s) and its rerun (120 s).
      expect.objectContaining({
        organization: "gh/acme",
        executor: "machine",
        resource_class: "large",
        jobs: 2,
        tasks: 2,
        build_seconds: 300,
        build_minutes: 5,
      }),
      // Still running, and canceled while queued: jobs of the week with no minutes yet.
      expect.objectContaining({
        organization: "gh/beta",
        platform: "linux",
        resource_class: "medium",
        jobs: 1,
        tasks: 0,
        build_seconds: 0,
      }),
      expect.objectContaining({
        organization: "gh/beta",
        platform: "linux",
        resource_class: "small",
        jobs: 1,
        tasks: 0,
        build_seconds: 0,
      }),
      // 59.2 s, rounded up.
      expect.objectContaining({
        organization: "gh/beta",
        platform: "macos",
        executor: "macos",
        resource_class: "macos.m1.medium.gen1",
        jobs: 1,
        tasks: 1,
        build_seconds: 60,
        build_minutes: 1,
      }),
    ]);
    expect(json.totals).toEqual({ jobs: 8, tasks: 7, build_seconds: 1411, build_minutes: 23.52 });
  });

  it("counts each project's jobs by status in the week they started (or were created, never started)", () => {
    const rows = Object.fromEntries(usageJson(report).job_activity.map((r) => [r.project, r]));
    expect(Object.keys(rows)).toEqual(["gh/acme/api", "gh/acme/web", "gh/beta/tool"]);
    // The release's build started the week before: not here; its deploy, created then, started in W.
    expect(rows["gh/acme/api"]).toMatchObject({ jobs: 4, build_seconds: 1321 });
    expect(rows["gh/acme/api"]!.by_status).toMatchObject({ success: 3, failed: 1, running: 0, on_hold: 0 });
    expect(rows["gh/acme/web"]).toMatchObject({ jobs: 1, build_seconds: 30 });
    expect(rows["gh/beta/tool"]!.by_status).toMatchObject({ success: 1, canceled: 1, running: 1 });
    expect(usageJson(report).projects).toEqual({ total: 3, building: 3, new: 1 });
  });

  it("lists as active who triggered, reran or approved that week, with an account or not, never the scheduler", () => {
    expect(usageJson(report).active_users).toEqual({
      count: 3,
      users: [
        {
          id: users.alice!.id,
          login: "alice",
          name: "Alice",
          registered: true,
          pipelines: 2,
          reruns: 0,
          approvals: 0,
        },
        {
          id: users.carol!.id,
          login: "carol",
          name: 'Carol "CJ", Jones',
          registered: true,
          pipelines: 0,
          reruns: 1,
          approvals: 1,
        },
        {
          id: deterministicUuid("vcs-user", "github", "frank"),
          login: "frank",
          name: null,
          registered: false,
          pipelines: 1,
          reruns: 0,
          approvals: 0,
        },
      ],
    });
  });

  it("gives each table as a CSV with a header row, CRLF line ends and quoted fields", () => {
    const lines = usageCsv(report, "account_usage").split("\r\n");
    expect(lines[0]).toBe(
      "week,organization,organization_id,platform,executor,resource_class,jobs,tasks,build_seconds,build_minutes",
    );
    expect(lines[1]).toBe(
      `2026-W02,gh/acme,${projects["gh/acme/api"]!.organizationId},linux,docker,medium,3,4,1051,17.52`,
    );
    expect(lines).toHaveLength(7); // header, 5 rows, and the empty string after the last CRLF
    const activity = usageCsv(report, "job_activity").split("\r\n");
    expect(activity[0]).toBe(
      "week,project,organization,jobs,blocked,queued,running,success,failed,infrastructure_fail,timedout,canceled,on_hold,not_run,unauthorized,build_seconds,build_minutes",
    );
    expect(activity[1]).toBe("2026-W02,gh/acme/api,gh/acme,4,0,0,0,3,1,0,0,0,0,0,0,1321,22.02");
    expect(usageCsv(report, "active_users")).toContain(`,carol,"Carol ""CJ"", Jones",true,0,1,1\r\n`);
  });

  it("of a week with nothing in it has headers and no rows", async () => {
    const empty = await usageReport(table.gyre, parseWeek("2025-W30"));
    expect(usageJson(empty)).toMatchObject({
      account_usage: [],
      job_activity: [],
      active_users: { count: 0, users: [] },
    });
    expect(usageCsv(empty, "job_activity").split("\r\n")).toHaveLength(2);
  });

  it("of a week that ended before the installation began is empty and says so; the week it began in is not", async () => {
    const before = usageJson(await usageReport(table.gyre, parseWeek("2025-W30")));
    // The first projects were added on 1 December 2025 (no administrator mark in this table).
    expect(before.installed_at).toBe("2025-12-01T00:00:00.000Z");
    expect(before.note).toBe(
      "2025-W30 ended before this installation began (2025-12-01T00:00:00.000Z, its first administrator or project): there is nothing to count.",
    );
    expect(before.totals).toEqual({ jobs: 0, tasks: 0, build_seconds: 0, build_minutes: 0 });
    expect(usageJson(await usageReport(table.gyre, parseWeek("2025-W49"))).note).toBeNull();
    expect(usageJson(report).note).toBeNull();
    // An administrator's mark older than every project is when it began.
    await putItem(table.gyre, { ...Keys.firstAdmin(), at: "2025-11-20T10:00:00.000Z" });
    const marked = usageJson(await usageReport(table.gyre, parseWeek("2025-W30")));
    expect(marked.installed_at).toBe("2025-11-20T10:00:00.000Z");
    // 2025-W47 (16 to 22 November) holds it; 2025-W46 ended before.
    expect(usageJson(await usageReport(table.gyre, parseWeek("2025-W47"))).note).toBeNull();
    expect(usageJson(await usageReport(table.gyre, parseWeek("2025-W46"))).note).toMatch(
      /^2025-W46 ended before this installation began \(2025-11-20T10:00:00.000Z/,
    );
  });

  it("of a later week finds its jobs among the later pipelines, and of the week so far says it is not complete", async () => {
    const later = usageJson(await usageReport(table.gyre, parseWeek("2026-W06")));
    // Seven daily pipelines of erin's, each a one-minute build (their tests never ran: queued).
    expect(later.job_activity).toEqual([expect.objectContaining({ project: "gh/acme/api", jobs: 14 })]);
    expect(later.totals.build_seconds).toBe(7 * 60);
    expect(later.active_users.users.map((u) => u.login)).toEqual(["erin"]);
    table.setNow(at("2026-02-04T00:00:00.000Z"));
    expect((await usageReport(table.gyre, parseWeek("2026-W06"))).complete).toBe(false);
  });
});
