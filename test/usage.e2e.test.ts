/**
 * Usage statistics on the local stack with a real builder agent: two projects' pipelines run
 * (one job passes, one fails), then `gyre usage` (through the CLI's command function) and
 * `GET /api/gyre/usage` show the week's build minutes, each project's jobs by status and who was
 * active; the weekly delivery writes the week's files into the bucket once, and the runtime's
 * timer has written the last week that ended.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createToken, createUser } from "@gyre/core/auth/index";
import { readText } from "@gyre/core/aws/s3";
import { deliverUsage, dueWeek, parseWeek, type UsageJson, usageKeys, weekOf } from "@gyre/core/usage/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { usageCommand } from "../packages/cli/src/usage-command.ts";
import { api, gitRepo, runPipeline, tempDir, waitFor } from "./support.ts";

const dataDir = tempDir("usage");
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
/** The week the pipelines ran in. */
let week: string;
/** Each job's seconds as the API shows its times, rounded up as usage counts them. */
const seconds: Record<string, number> = {};

const config = (command: string) => `version: 2.1
jobs:
  check:
    machine: true
    steps:
      - run: ${command}
workflows:
  main:
    jobs: [check]
`;

/** What `gyre usage` prints (lines) and writes (CSV), with these options. */
async function gyreUsage(options: Parameters<typeof usageCommand>[1]) {
  const lines: string[] = [];
  let written = "";
  const code = await usageCommand(
    new Client(runtime.url, runtime.adminToken),
    options,
    (line) => lines.push(line),
    (text) => {
      written += text;
    },
  );
  return { code, lines, written };
}

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir, port: 0 });
  client = api(runtime.url, runtime.adminToken);
  for (const [slug, command] of [
    ["gh/acme/green", "exit 0"],
    ["gh/acme/red", "exit 1"],
  ] as const) {
    const repo = gitRepo({ ".circleci/config.yml": config(command) });
    expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  }
  const [green, red] = await Promise.all([
    runPipeline(client, "gh/acme/green"),
    runPipeline(client, "gh/acme/red"),
  ]);
  for (const [slug, run] of [
    ["gh/acme/green", green],
    ["gh/acme/red", red],
  ] as const) {
    const job = run.byName.check!;
    seconds[slug] = Math.ceil(
      (Date.parse(job.stopped_at as string) - Date.parse(job.started_at as string)) / 1000,
    );
  }
  week = weekOf(Date.parse(green.byName.check!.started_at as string)).id;
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe("gyre usage", () => {
  it("--json shows the week's machine minutes, each project's jobs by status and the active user", async () => {
    const { code, lines } = await gyreUsage({ week, json: true });
    expect(code).toBe(0);
    const usage = JSON.parse(lines.join("\n")) as UsageJson;
    expect(usage.week).toBe(week);
    expect(usage.from).toBe(new Date(parseWeek(week).from).toISOString());
    expect(usage.complete).toBe(false);
    const total = seconds["gh/acme/green"]! + seconds["gh/acme/red"]!;
    expect(usage.account_usage).toEqual([
      expect.objectContaining({
        organization: "gh/acme",
        platform: "linux",
        executor: "machine",
        resource_class: "medium",
        jobs: 2,
        tasks: 2,
        build_seconds: total,
        build_minutes: Math.round((total / 60) * 100) / 100,
      }),
    ]);
    expect(
      usage.job_activity.map((r) => [r.project, r.jobs, r.by_status.success, r.by_status.failed]),
    ).toEqual([
      ["gh/acme/green", 1, 1, 0],
      ["gh/acme/red", 1, 0, 1],
    ]);
    expect(usage.job_activity.map((r) => r.build_seconds)).toEqual([
      seconds["gh/acme/green"],
      seconds["gh/acme/red"],
    ]);
    // The administrator triggered both pipelines through the API.
    expect(usage.active_users).toEqual({
      count: 1,
      users: [
        expect.objectContaining({ login: "admin", registered: true, pipelines: 2, reruns: 0, approvals: 0 }),
      ],
    });
    expect(usage.projects).toEqual({ total: 2, building: 2, new: 2 });
  });

  it("prints a summary by default, and --csv one table at a time for a spreadsheet", async () => {
    const summary = (await gyreUsage({ week })).lines.join("\n");
    expect(summary).toContain(`Usage for ${week}`);
    expect(summary).toMatch(/gh\/acme\s+linux\s+machine\s+medium\s+2\s+2\s/);
    expect(summary).toMatch(/gh\/acme\/red\s+1\s+0\s+1\s/);

    const account = (await gyreUsage({ week, csv: true })).written.split("\r\n");
    expect(account[0]).toBe(
      "week,organization,organization_id,platform,executor,resource_class,jobs,tasks,build_seconds,build_minutes",
    );
    expect(account[1]).toMatch(new RegExp(`^${week},gh/acme,[0-9a-f-]{36},linux,machine,medium,2,2,\\d+,`));
    const jobs = (await gyreUsage({ week, csv: true, report: "job_activity" })).written;
    expect(jobs).toContain(`${week},gh/acme/red,gh/acme,1,0,0,0,0,1,`);
    await expect(gyreUsage({ week, report: "job_activity" })).rejects.toThrow(
      /--report chooses the CSV table/,
    );
  });
});

describe("GET /api/gyre/usage", () => {
  it("answers JSON, or one CSV download, for administrators only", async () => {
    const json = await client.get(`/api/gyre/usage?week=${week}`);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ week, active_users: { count: 1 } });

    const csv = await fetch(`${runtime.url}/api/gyre/usage?week=${week}&format=csv&report=active_users`, {
      headers: { "circle-token": runtime.adminToken },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(csv.headers.get("content-disposition")).toBe(`attachment; filename="${week}-active_users.csv"`);
    expect((await csv.text()).split("\r\n")[1]).toMatch(
      new RegExp(`^${week},[0-9a-f-]{36},admin,Administrator,true,2,0,0$`),
    );

    const user = await createUser(runtime.gyre, { login: "dev" });
    const developer = api(runtime.url, await createToken(runtime.gyre, user.id, "dev"));
    expect((await developer.get(`/api/gyre/usage?week=${week}`)).status).toBe(403);
  });

  it("refuses a malformed week or a CSV table asked for without format=csv, saying what is wrong", async () => {
    expect(await client.get("/api/gyre/usage?week=2025-W53")).toEqual({
      status: 400,
      body: { message: 'Invalid week "2025-W53": 2025 has 52 ISO weeks.' },
    });
    expect((await client.get("/api/gyre/usage?week=2026-48")).body.message).toMatch(
      /give an ISO week as YYYY-Www/,
    );
    expect((await client.get(`/api/gyre/usage?week=${week}&report=job_activity`)).status).toBe(400);
    expect((await client.get(`/api/gyre/usage?format=xml`)).status).toBe(400);
  });

  it("answers week=this with the week under way, refuses a week that has not begun, and says a week before the installation has nothing", async () => {
    const now = Date.now();
    const current = weekOf(now);
    const next = weekOf(current.to);
    const thisWeek = await client.get("/api/gyre/usage?week=this");
    expect(thisWeek.status).toBe(200);
    expect(thisWeek.body).toMatchObject({ week: current.id, complete: false, note: null });
    const cli = await gyreUsage({ week: "this" });
    expect(cli.lines[0]).toMatch(new RegExp(`^Usage for ${current.id} .*so far: the week has not ended\\)$`));

    expect(await client.get(`/api/gyre/usage?week=${next.id}`)).toEqual({
      status: 400,
      body: {
        message: `Invalid week "${next.id}": it has not begun (the week under way is ${current.id}: give week=this for it so far).`,
      },
    });
    await expect(gyreUsage({ week: next.id })).rejects.toThrow(`Invalid week "${next.id}": it has not begun`);
    expect((await client.get(`/api/gyre/usage?week=${next.id}&format=csv`)).status).toBe(400);

    // This installation began at its first start, today: 2020-W01 has nothing, and says why.
    const old = (await client.get("/api/gyre/usage?week=2020-W01")).body as unknown as UsageJson;
    expect(Date.parse(old.installed_at!)).toBeGreaterThan(now - 3_600_000);
    expect(old.note).toBe(
      `2020-W01 ended before this installation began (${old.installed_at}, its first administrator or project): there is nothing to count.`,
    );
    expect(old.totals.jobs).toBe(0);
    const summary = (await gyreUsage({ week: "2020-W01" })).lines;
    expect(summary[1]).toBe(`Note: ${old.note}`);
  });
});

describe("the weekly delivery", () => {
  it("writes the week's CSVs and JSON into the bucket once, the CSVs as gyre usage --csv gives them", async () => {
    const delivered = await deliverUsage(runtime.gyre, parseWeek(week));
    expect(delivered.written).toBe(true);
    const keys = usageKeys(week);
    expect(delivered.keys).toEqual([keys.account_usage, keys.job_activity, keys.active_users, keys.json]);
    expect(await readText(runtime.gyre, keys.account_usage)).toBe(
      (await gyreUsage({ week, csv: true })).written,
    );
    expect(await readText(runtime.gyre, keys.job_activity)).toBe(
      (await gyreUsage({ week, csv: true, report: "job_activity" })).written,
    );
    const stored = JSON.parse((await readText(runtime.gyre, keys.json))!) as UsageJson;
    expect(stored).toMatchObject({ week, totals: { jobs: 2, tasks: 2 } });
    // Delivered already: the next pass leaves it as it is.
    expect((await deliverUsage(runtime.gyre, parseWeek(week))).written).toBe(false);
    // Where docs/operations.md says to read them locally: the bucket's files under s3/gyre/.
    for (const key of delivered.keys)
      expect(readFileSync(join(dataDir, "s3", "gyre", `${key}._S3rver_object`), "utf8"), key).toBe(
        await readText(runtime.gyre, key),
      );
  });

  it("is made by the runtime's timer for the last week that ended, without being asked", async () => {
    const due = dueWeek(Date.now()).id;
    const text = await waitFor("the timer to write the due week", () =>
      readText(runtime.gyre, usageKeys(due).json),
    );
    expect(JSON.parse(text)).toMatchObject({ week: due, complete: true });
    expect(await readText(runtime.gyre, usageKeys(due).account_usage)).toMatch(/^week,organization,/);
  });
});
