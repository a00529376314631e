import { describe, expect, it } from "vitest";
import { compileConfig } from "./index.ts";
import { compile, compiled, failed, job, jobNames, pipeline, workflow } from "./testing.ts";

describe("compileConfig: basics", () => {
  it("compiles a version 2.1 config with docker, run (both forms), checkout and requires", async () => {
    const c = await compiled(`
version: 2.1
jobs:
  build:
    docker:
      - image: cimg/node:20.1
        environment: { NODE_ENV: test }
      - image: postgres:15
        name: db
    resource_class: large
    steps:
      - checkout
      - run: npm ci
      - run:
          name: Test
          command: npm test
          background: true
          no_output_timeout: 20m
          environment:
            CI: true
  deploy:
    machine: true
    steps:
      - run: ./deploy.sh
workflows:
  main:
    jobs:
      - build
      - deploy:
          requires: [build]
`);
    expect(c.version).toBe("2.1");
    expect(c.setup).toBe(false);
    expect(jobNames(c, "main")).toEqual(["build", "deploy"]);
    const build = job(c, "main", "build");
    expect(build.executor).toEqual({
      type: "docker",
      images: [
        { image: "cimg/node:20.1", environment: { NODE_ENV: "test" } },
        { image: "postgres:15", name: "db", environment: {} },
      ],
    });
    expect(build.resourceClass).toBe("large");
    expect(build.parallelism).toBe(1);
    expect(build.workingDirectory).toBe("~/project");
    expect(build.steps).toEqual([
      { type: "checkout" },
      { type: "run", command: "npm ci", background: false, environment: {}, when: "on_success" },
      {
        type: "run",
        name: "Test",
        command: "npm test",
        background: true,
        environment: { CI: "true" },
        noOutputTimeout: 1200,
        when: "on_success",
      },
    ]);
    expect(job(c, "main", "deploy").executor).toEqual({ type: "machine" });
    expect(workflow(c, "main").jobs[1]!.requires).toEqual(["build"]);
  });

  it("version 2 with no workflows runs the build job in a workflow named workflow", async () => {
    const c = await compiled(`
version: 2
jobs:
  build:
    docker: [{ image: alpine }]
    steps: [checkout]
  other:
    docker: [{ image: alpine }]
    steps: [checkout]
`);
    expect(c.workflows.map((w) => w.name)).toEqual(["workflow"]);
    expect(jobNames(c, "workflow")).toEqual(["build"]);
    expect(c.version).toBe("2");
  });

  it("keeps version as written (2.0)", async () => {
    const r = await compile(`
version: 2.0
jobs:
  build: { docker: [{ image: alpine }], steps: [checkout] }
`);
    expect(r.ok && r.config.version).toBe("2.0");
    expect(r.warnings.some((w) => w.path === "version")).toBe(true);
  });

  it("reports invalid YAML with a line and column", async () => {
    const errors = await failed("version: 2.1\njobs:\n  build: [\n");
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toMatch(/invalid YAML/);
    expect(errors[0]!.line).toBeGreaterThan(0);
    expect(errors[0]!.column).toBeGreaterThan(0);
  });

  it("names the config path, line and column of an unknown step key, and reports all errors at once", async () => {
    const errors = await failed(`version: 2.1
jobs:
  build:
    docker:
      - image: alpine
    steps:
      - checkout
      - run:
          name: x
          comand: make
  test:
    docker:
      - image: alpine
    steps:
      - frobnicate
workflows:
  w:
    jobs: [build, test, nope]
`);
    expect(errors).toContainEqual({
      path: "jobs.build.steps[1].run",
      message: `run needs "command"`,
      line: 9,
      column: 11,
    });
    expect(errors).toContainEqual({
      path: "jobs.build.steps[1].run",
      message: `unknown key "comand" (did you mean "command"?)`,
      line: 10,
      column: 11,
    });
    expect(errors).toContainEqual({
      path: "jobs.test.steps[0]",
      message: `unknown step or command "frobnicate"`,
      line: 15,
      column: 9,
    });
    expect(errors).toContainEqual({
      path: "workflows.w.jobs[2]",
      message: `unknown job "nope"`,
      line: 18,
      column: 25,
    });
  });

  it("re-exports the entry point from index.ts", () => {
    expect(typeof compileConfig).toBe("function");
    expect(pipeline().branch).toBe("main");
  });
});
