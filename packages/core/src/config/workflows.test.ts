/** Workflow-level rules: status-form `requires` and schedule `triggers` cron expressions. */
import { describe, expect, it } from "vitest";
import { processConfig } from "./index.ts";
import { compiled, failed, pipeline, workflow } from "./testing.ts";

const DOCKER = "docker: [{ image: cimg/base:stable }]";

/** A 2.1 config with one job per name, plus the given workflow jobs (indented 6). */
function flow(jobs: string[], wfJobs: string): string {
  return `version: 2.1
jobs:
${jobs.map((j) => `  ${j}:\n    ${DOCKER}\n    steps: [checkout]`).join("\n")}
workflows:
  w:
    jobs:
${wfJobs}`;
}

/** Line (1-based) and column of the first occurrence of `needle` on or after line `from`. */
function at(source: string, needle: string, from = 1): { line: number; column: number } {
  const lines = source.split("\n");
  for (let i = from - 1; i < lines.length; i++) {
    const c = lines[i]!.indexOf(needle);
    if (c >= 0) return { line: i + 1, column: c + 1 };
  }
  throw new Error(`${needle} not in source`);
}

describe("requires with job statuses", () => {
  it("keeps requires as names and records the statuses of requirements that need not succeed", async () => {
    const c = await compiled(
      flow(
        ["lint", "build", "test", "deploy", "report"],
        `      - lint
      - build
      - test
      - deploy
      - report:
          requires:
            - lint
            - build: failed
            - test: [success, failed]
            - deploy: success`,
      ),
    );
    const report = workflow(c, "w").jobs.find((j) => j.name === "report")!;
    expect(report.requires).toEqual(["lint", "build", "test", "deploy"]);
    expect(report.requiredStatuses).toEqual({ build: ["failed"], test: ["success", "failed"] });
  });

  it("leaves requiredStatuses out when every requirement is plain or success", async () => {
    const c = await compiled(
      flow(
        ["a", "b", "c"],
        `      - a
      - b
      - c: { requires: [a, { b: success }, { a: [success] }] }`,
      ),
    );
    const job = workflow(c, "w").jobs.find((j) => j.name === "c")!;
    expect(job.requires).toEqual(["a", "b"]);
    expect(job).not.toHaveProperty("requiredStatuses");
    expect(workflow(c, "w").jobs.find((j) => j.name === "a")).not.toHaveProperty("requiredStatuses");
  });

  it("reads every status the schema allows, terminal as all of them, in a fixed order", async () => {
    const c = await compiled(
      flow(
        ["a", "b", "c", "d"],
        `      - a
      - b
      - c
      - d:
          requires:
            - a: terminal
            - b: [unauthorized, not_run, failed, canceled, failed]
            - c: canceled`,
      ),
    );
    expect(workflow(c, "w").jobs.find((j) => j.name === "d")!.requiredStatuses).toEqual({
      a: ["success", "failed", "canceled", "not_run", "unauthorized"],
      b: ["failed", "canceled", "not_run", "unauthorized"],
      c: ["canceled"],
    });
  });

  it("carries the statuses of a matrix alias to every job it expanded to", async () => {
    const c = await compiled(`version: 2.1
jobs:
  build:
    parameters: { os: { type: string } }
    ${DOCKER}
    steps: [checkout]
  cleanup: { ${DOCKER}, steps: [checkout] }
  notify: { ${DOCKER}, steps: [checkout] }
workflows:
  w:
    jobs:
      - build:
          name: build-on-<< matrix.os >>
          matrix:
            alias: builds
            parameters: { os: [linux, macos] }
      - cleanup:
          name: tidy
          requires: [{ builds: [failed, canceled] }]
      - notify:
          requires: [{ tidy: not_run }, build-on-linux]
`);
    const jobs = workflow(c, "w").jobs;
    const tidy = jobs.find((j) => j.name === "tidy")!;
    expect(tidy.requires).toEqual(["build-on-linux", "build-on-macos"]);
    expect(tidy.requiredStatuses).toEqual({
      "build-on-linux": ["failed", "canceled"],
      "build-on-macos": ["failed", "canceled"],
    });
    const notify = jobs.find((j) => j.name === "notify")!;
    expect(notify.requires).toEqual(["tidy", "build-on-linux"]);
    expect(notify.requiredStatuses).toEqual({ tidy: ["not_run"] });
  });

  it("keeps only the statuses of required jobs that still run after filters", async () => {
    const source = flow(
      ["a", "b", "c"],
      `      - a: { filters: { branches: { only: main } } }
      - b
      - c: { requires: [{ a: failed }, { b: failed }] }`,
    );
    const onMain = workflow(await compiled(source), "w").jobs.find((j) => j.name === "c")!;
    expect(onMain.requiredStatuses).toEqual({ a: ["failed"], b: ["failed"] });
    const elsewhere = workflow(await compiled(source, { branch: "dev" }), "w").jobs.find(
      (j) => j.name === "c",
    )!;
    expect(elsewhere.requires).toEqual(["b"]);
    expect(elsewhere.requiredStatuses).toEqual({ b: ["failed"] });
  });

  it.each([
    ["an unknown status", "{ a: broken }", "broken", /unknown job status "broken" for required job "a"/],
    ["a status with the wrong case", "{ a: Failed }", "Failed", /unknown job status "Failed"/],
    ["an unknown status in a list", "{ a: [success, fail] }", "fail", /unknown job status "fail"/],
    ["terminal inside a list", "{ a: [failed, terminal] }", "terminal", /"terminal" stands for every status/],
    ["an empty list", "{ a: [] }", "[]", /needs at least one status/],
    ["a number", "{ a: 1 }", "1", /must be one of success, failed, .*not a number/],
    ["nothing", "{ a: }", "a:", /must be one of .*not nothing/],
  ])("reports %s with the line and column of the status", async (_, req, needle, message) => {
    const source = flow(["a", "b"], `      - a\n      - b:\n          requires: [${req}]`);
    const errors = await failed(source);
    const e = errors.find((x) => message.test(x.message));
    expect(e, JSON.stringify(errors)).toBeDefined();
    const where = at(source, needle, source.split("\n").length);
    if (needle === "a:") where.column += needle.length + 1;
    expect(e).toMatchObject({ line: where.line, column: where.column });
    expect(e!.path).toMatch(/^workflows\.w\.jobs\[1\]\.b\.requires\[0\]/);
  });

  it("reports a job required twice with different statuses", async () => {
    const source = flow(["a", "b"], `      - a\n      - b: { requires: [a, { a: failed }] }`);
    const errors = await failed(source);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/requires "a" twice with different statuses \(success and failed\)/);
    expect(errors[0]).toMatchObject(at(source, "{ a: failed }"));
  });

  it("prints status requirements in config process output", async () => {
    const r = await processConfig(
      flow(["a", "b", "c"], `      - a\n      - b\n      - c: { requires: [a, { b: [success, failed] }] }`),
      { pipeline: pipeline() },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.yaml).toContain(`      - c:
          requires:
            - a
            - b:
                - success
                - failed
`);
  });
});

describe("schedule triggers", () => {
  const scheduled = (cron: string) => `version: 2.1
jobs:
  a: { ${DOCKER}, steps: [checkout] }
workflows:
  nightly:
    triggers:
      - schedule:
          cron: "${cron}"
          filters: { branches: { only: main } }
    jobs: [a]
`;

  it.each([
    ["0 0 * * *"],
    ["*/5 * * * *"],
    ["0 9 * * MON-FRI"],
    ["30 2 1,15 jan,Jul 0-6/2"],
    ["0 0 * * 7"],
    ["0-30/10 8-18 * * 1-5"],
  ])("accepts the standard cron expression %s", async (cron) => {
    const c = await compiled(scheduled(cron));
    expect(c.scheduledWorkflows).toEqual([
      { name: "nightly", triggers: [{ cron, filters: { branches: { only: ["main"] } } }] },
    ]);
  });

  it.each([
    ["99 99 * * *", /Invalid value for minute: 99/],
    ["0 24 * * *", /Invalid value for hour: 24/],
    ["0 0 * * 8", /Invalid value for dayOfWeek: 8/],
    ["5/5 * * * *", /stepping with numeric prefix/],
    ["0 0 * * FUNDAY", /illegal characters|not standard cron/],
    ["0 0 L * *", /the day of month field "L" is not standard cron/],
    ["0 0 15W * *", /the day of month field "15W" is not standard cron/],
    ["0 0 * * 5#2", /the day of week field "5#2" is not standard cron/],
    ["0 0 ? * *", /the day of month field "\?" is not standard cron/],
    ["0 12 1 * +MON", /the day of week field "\+MON" is not standard cron/],
  ])("rejects %s at the cron value, with the reason", async (cron, reason) => {
    const source = scheduled(cron);
    const errors = await failed(source);
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^invalid cron expression "/);
    expect(errors[0]!.message).toMatch(reason);
    expect(errors[0]).toMatchObject({
      path: "workflows.nightly.triggers[0].schedule.cron",
      ...at(source, `"${cron}"`),
    });
  });

  it("still requires exactly five fields (no seconds, no nicknames)", async () => {
    for (const cron of ["0 0 0 * * *", "@daily", "0 0 * *"]) {
      const errors = await failed(scheduled(cron));
      expect(errors[0]!.message).toMatch(/must be a five-field cron expression/);
      expect(errors[0]!.line).toBe(8);
    }
  });
});
