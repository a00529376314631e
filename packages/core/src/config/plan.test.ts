/**
 * The plan's zod schemas describe exactly what the compiler produces: every job plan of
 * every corpus config parses unchanged, also after a JSON round trip (as stored).
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CORPUS } from "../../../../test/corpus.ts";
import { fixtureOrbs } from "./fixtures/orbs.ts";
import { compileConfig } from "./index.ts";
import { type JobPlan, JobPlanSchema, type PipelineValues, PipelineValuesSchema } from "./plan.ts";
import { compiled, job, pipeline } from "./testing.ts";

const DIR = `${CORPUS}/configs/`;
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const orbs = fixtureOrbs();

/** Pipelines that between them run most jobs of the corpus: branch pushes, a tag push, a schedule. */
const PIPELINES: Partial<PipelineValues>[] = [
  { branch: "main" },
  { branch: "master" },
  { tag: "v1.2.3" },
  { branch: "master", triggerSource: "schedule" },
];

describe("JobPlanSchema", () => {
  it("parses every job plan of every corpus config unchanged", async () => {
    let plans = 0;
    for (const file of files) {
      const source = readFileSync(DIR + file, "utf8");
      for (const over of PIPELINES) {
        const r = await compileConfig(source, { pipeline: pipeline(over), orbs });
        expect(r.ok, `${file} ${JSON.stringify(over)}`).toBe(true);
        if (!r.ok) continue;
        for (const w of r.config.workflows) {
          for (const j of w.jobs) {
            if (!j.plan) continue;
            plans++;
            const where = `${file} ${w.name}/${j.name}`;
            const parsed = JobPlanSchema.safeParse(j.plan);
            expect(parsed.error?.issues, where).toBeUndefined();
            expect(parsed.data, where).toStrictEqual(j.plan);
            const stored: unknown = JSON.parse(JSON.stringify(j.plan));
            expect(JobPlanSchema.parse(stored), where).toStrictEqual(j.plan);
          }
        }
      }
    }
    expect(plans).toBeGreaterThan(700);
  });

  it("parses a plan using every step type and executor field unchanged", async () => {
    const c = await compiled(`version: 2.1
jobs:
  all:
    docker:
      - image: cimg/node:20.0
        name: app
        entrypoint: [/bin/sh]
        command: [-c, "sleep 1"]
        user: circleci
        environment: { A: "1" }
        auth: { username: u, password: p }
      - image: 123.dkr.ecr.us-east-1.amazonaws.com/db
        aws_auth: { aws_access_key_id: k, aws_secret_access_key: s }
    resource_class: large
    parallelism: 3
    shell: /bin/bash -eo pipefail
    working_directory: ~/app
    environment: { B: "2" }
    steps:
      - checkout: { path: src, method: blobless }
      - run:
          name: test
          command: npm test
          shell: /bin/sh
          background: false
          working_directory: src
          environment: { C: "3" }
          no_output_timeout: 20m
          when: always
          max_auto_reruns: 2
          auto_rerun_delay: 30s
      - save_cache:
          key: 'k-{{ checksum "package-lock.json" }}'
          paths: [node_modules]
          when: on_fail
      - restore_cache: { keys: [k-, k] }
      - store_artifacts: { path: out, destination: artifacts }
      - store_test_results: { path: reports }
      - persist_to_workspace: { root: ., paths: [dist] }
      - attach_workspace: { at: /tmp/ws }
      - add_ssh_keys: { fingerprints: ["SHA256:abc"] }
      - setup_remote_docker: { version: default, docker_layer_caching: true }
workflows:
  w: { jobs: [all] }
`);
    const plan: JobPlan = job(c, "w", "all");
    expect(plan.steps.map((s) => s.type)).toEqual([
      "checkout",
      "run",
      "save_cache",
      "restore_cache",
      "store_artifacts",
      "store_test_results",
      "persist_to_workspace",
      "attach_workspace",
      "add_ssh_keys",
      "setup_remote_docker",
    ]);
    expect(JobPlanSchema.parse(plan)).toStrictEqual(plan);
  });

  it("parses machine, macos and windows executors unchanged", async () => {
    const c = await compiled(`version: 2.1
orbs: {}
jobs:
  m: { machine: { image: ubuntu-2204:current, docker_layer_caching: true }, steps: [checkout] }
  x: { macos: { xcode: "15.0" }, steps: [checkout] }
  win: { machine: { image: windows-server-2022-gui:current, shell: powershell.exe }, resource_class: windows.medium, steps: [checkout] }
workflows:
  w: { jobs: [m, x, win] }
`);
    for (const name of ["m", "x", "win"]) {
      const plan = job(c, "w", name);
      expect(JobPlanSchema.parse(plan)).toStrictEqual(plan);
    }
  });

  it("refuses a plan that is not one the compiler could produce", async () => {
    const c = await compiled(`version: 2.1
jobs:
  a: { docker: [{ image: cimg/base:stable }], steps: [checkout, { run: make }] }
workflows:
  w: { jobs: [a] }
`);
    const plan = job(c, "w", "a");
    const bad: unknown[] = [
      { ...plan, parallelism: 0 },
      { ...plan, parallelism: 1.5 },
      { ...plan, executor: { type: "lambda" } },
      { ...plan, executor: { type: "docker" } },
      { ...plan, steps: [{ type: "deploy", command: "x" }] },
      { ...plan, steps: [{ ...plan.steps[1]!, when: "sometimes" }] },
      { ...plan, environment: { A: 1 } },
      { ...plan, name: undefined },
      null,
      "plan",
    ];
    for (const value of bad)
      expect(JobPlanSchema.safeParse(value).success, JSON.stringify(value)).toBe(false);
  });
});

describe("PipelineValuesSchema", () => {
  it("parses pipeline values unchanged: branch push, tag push, with parameters", () => {
    const values: PipelineValues[] = [
      pipeline(),
      pipeline({ tag: "v1.0.0" }),
      pipeline({
        baseRevision: "0".repeat(40),
        triggerSource: "api",
        parameters: { flag: true, count: 3, name: "x" },
      }),
    ];
    for (const v of values) {
      expect(PipelineValuesSchema.parse(v)).toStrictEqual(v);
      expect(PipelineValuesSchema.parse(JSON.parse(JSON.stringify(v)))).toStrictEqual(v);
    }
  });

  it("refuses values without an id or with a parameter that is not a string, number or boolean", () => {
    const { id: _, ...noId } = pipeline();
    expect(PipelineValuesSchema.safeParse(noId).success).toBe(false);
    expect(PipelineValuesSchema.safeParse({ ...pipeline(), parameters: { a: [1] } }).success).toBe(false);
    expect(PipelineValuesSchema.safeParse({ ...pipeline(), number: "42" }).success).toBe(false);
  });
});
