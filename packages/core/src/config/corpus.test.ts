/**
 * Every real-world config in shared/corpus/configs compiles; those that use
 * registry orbs compile once the orbs are published (fixtures/orbs) and otherwise fail
 * with exactly the missing-orb errors. Several files are checked job by job.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CORPUS } from "../../../../test/corpus.ts";
import { fixtureOrbs } from "./fixtures/orbs.ts";
import { compileConfig, InMemoryOrbResolver, processConfig } from "./index.ts";
import { parseOrbRef } from "./orbs.ts";
import type { CompiledConfig } from "./plan.ts";
import { job, jobNames, pipeline, workflow } from "./testing.ts";

const DIR = `${CORPUS}/configs/`;
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const read = (f: string) => readFileSync(DIR + f, "utf8");
const orbs = fixtureOrbs();

async function corpus(file: string, over = {}): Promise<CompiledConfig> {
  const r = await compileConfig(read(file), { pipeline: pipeline(over), orbs });
  if (!r.ok) throw new Error(`${file}:\n${r.errors.map((e) => JSON.stringify(e)).join("\n")}`);
  return r.config;
}

/** `orbs:` entries that name registry orbs, as written (pipeline parameters resolved by hand). */
function registryOrbs(source: string): string[] {
  const block = /^orbs:\n((?:[ \t]+.*\n|\s*\n)+)/m.exec(source)?.[1] ?? "";
  return [...block.matchAll(/^\s+[\w-]+:\s*([\w-]+\/[\w-]+@\S+)/gm)].map((m) =>
    m[1]!.replace("<<pipeline.parameters.dev-orb-version>>", "dev:alpha"),
  );
}

describe("corpus configs", () => {
  it("has the 43 files SOURCES.md lists", () => {
    expect(files).toHaveLength(43);
  });

  for (const file of files) {
    it(`${file} compiles for branch pushes to main and master`, async () => {
      for (const branch of ["main", "master"]) {
        const c = await corpus(file, { branch });
        expect(["2", "2.0", "2.1"]).toContain(c.version);
        for (const w of c.workflows) {
          for (const j of w.jobs) {
            if (j.type === "build") {
              expect(j.plan, `${file} ${w.name}/${j.name}`).toBeDefined();
              expect(j.plan!.steps.length).toBeGreaterThan(0);
            }
            for (const r of j.requires) expect(w.jobs.some((x) => x.name === r)).toBe(true);
          }
        }
      }
    });
  }

  const withOrbs = files.filter((f) => registryOrbs(read(f)).length > 0);
  it("finds the configs that use registry orbs", () => {
    expect(withOrbs).toHaveLength(19);
  });
  for (const file of withOrbs) {
    it(`${file} fails with exactly the missing-orb errors when no orb is published`, async () => {
      const r = await compileConfig(read(file), { pipeline: pipeline(), orbs: new InMemoryOrbResolver() });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const expected = registryOrbs(read(file)).map((ref) => {
        const o = parseOrbRef(ref)!;
        return `orb ${o.name}@${o.version} not found: no published version of ${o.name} matches "${o.version}"`;
      });
      expect(r.errors.map((e) => e.message).sort()).toEqual([...new Set(expected)].sort());
      for (const e of r.errors) {
        expect(e.path).toMatch(/^orbs\./);
        expect(e.line).toBeGreaterThan(0);
      }
    });
  }

  it("every corpus config also processes to version 2 YAML", async () => {
    for (const file of files) {
      const r = await processConfig(read(file), { pipeline: pipeline(), orbs });
      expect(r.ok, file).toBe(true);
      if (r.ok) expect(r.yaml).toMatch(/^version: 2\n/);
    }
  });
});

describe("corpus configs, checked in detail", () => {
  it("circleci-cli: commands, executors, executor parameters, no-op job, contexts", async () => {
    const c = await corpus("CircleCI-Public__circleci-cli.yml");
    expect(c.workflows.map((w) => w.name)).toEqual(["ci"]);
    expect(jobNames(c, "ci")).toEqual([
      "check",
      "test-linux",
      "test-macos",
      "test-windows",
      "docs",
      "ok-to-deploy",
      "mark-release",
      "deploy",
      "docs-publish",
      "smoke-test-snap",
      "smoke-test-brew",
      "smoke-test-choco",
    ]);
    const check = job(c, "ci", "check");
    expect(check.executor).toEqual({ type: "machine", image: "ubuntu-2604:current" });
    expect(check.resourceClass).toBe("large.gen3");
    expect(check.steps.map((s) => s.type)).toEqual([
      "checkout",
      "run",
      "run",
      "run",
      "run",
      "store_test_results",
    ]);
    const install = check.steps[1];
    expect(install?.type === "run" && install.command).toContain("--version 1.26.4 ");
    expect(job(c, "ci", "test-macos").executor).toEqual({ type: "macos", xcode: "26.5.0" });
    expect(job(c, "ci", "test-windows").resourceClass).toBe("windows.medium");
    const wf = workflow(c, "ci");
    const noop = wf.jobs.find((j) => j.name === "ok-to-deploy")!;
    expect(noop.type).toBe("no-op");
    expect(noop.plan).toBeUndefined();
    expect(noop.requires).toEqual(["check", "test-linux", "test-macos", "test-windows", "docs"]);
    expect(wf.jobs.find((j) => j.name === "deploy")!.contexts).toEqual([
      "devex-release",
      "macos-codesigning",
    ]);
  });

  it("solidus: redefined anchor, matrix with mustache sections in the name, parallelism", async () => {
    const c = await corpus("solidusio__solidus.yml");
    const names = jobNames(c, "build");
    expect(names).toHaveLength(19);
    expect(names).toContain("test-rails-7.0-ruby-3.1-postgres-activestorage");
    expect(names).toContain("test-rails-5.2-ruby-2.5-sqlite-paperclip");
    expect(job(c, "build", "test-rails-7.0-ruby-3.1-postgres-activestorage").parallelism).toBe(3);
    expect(workflow(c, "build").jobs.every((j) => j.contexts.includes("slack-secrets"))).toBe(true);
  });

  it("fan-in-fan-out (2.0): requires graph and machine executor", async () => {
    const c = await corpus("CircleCI-Public__circleci-demo-workflows--fan-in-fan-out.yml");
    const wf = workflow(c, "build-and-deploy");
    expect(wf.jobs.map((j) => [j.name, j.requires])).toEqual([
      ["checkout_code", []],
      ["bundle_dependencies", ["checkout_code"]],
      ["rake_test", ["bundle_dependencies"]],
      ["precompile_assets", ["bundle_dependencies"]],
      ["deploy", ["rake_test", "precompile_assets"]],
    ]);
    expect(job(c, "build-and-deploy", "deploy").executor.type).toBe("machine");
    expect(job(c, "build-and-deploy", "bundle_dependencies").steps.map((s) => s.type)).toEqual([
      "restore_cache",
      "restore_cache",
      "run",
      "save_cache",
    ]);
  });

  it("python-django (version 2, no workflows): one workflow named workflow with build", async () => {
    const c = await corpus("CircleCI-Public__circleci-demo-python-django.yml");
    expect(c.workflows.map((w) => w.name)).toEqual(["workflow"]);
    const build = job(c, "workflow", "build");
    expect(build.steps).toHaveLength(9);
    expect(build.steps[3]).toEqual({
      type: "restore_cache",
      keys: ['deps10-{{ .Branch }}-{{ checksum "Pipfile.lock" }}'],
    });
  });

  it("try-schedule-workflow: the scheduled workflow runs only on schedule", async () => {
    const push = await corpus("CircleCI-Public__circleci-demo-workflows--try-schedule-workflow.yml");
    expect(push.workflows.map((w) => w.name)).toEqual(["commit-workflow"]);
    expect(push.scheduledWorkflows).toEqual([
      {
        name: "scheduled-workflow",
        triggers: [{ cron: "0 1 * * *", filters: { branches: { only: ["try-schedule-workflow"] } } }],
      },
    ]);
    const sched = await corpus("CircleCI-Public__circleci-demo-workflows--try-schedule-workflow.yml", {
      branch: "try-schedule-workflow",
      triggerSource: "schedule",
    });
    expect(sched.workflows.map((w) => w.name)).toEqual(["scheduled-workflow"]);
    const other = await corpus("CircleCI-Public__circleci-demo-workflows--try-schedule-workflow.yml", {
      triggerSource: "schedule",
    });
    expect(other.workflows).toEqual([]);
  });

  it("jest: matrix names, generated and from a name pattern, via a registry orb executor", async () => {
    const c = await corpus("jestjs__jest.yml");
    expect(jobNames(c, "build-and-deploy")).toEqual([
      "test-node-14",
      "test-node-partial-10",
      "test-node-partial-12",
      "test-node-partial-15",
      "test-node-partial-16",
      "test-node-partial-17",
      "test-jest-jasmine",
    ]);
    const j = job(c, "build-and-deploy", "test-node-14");
    expect(j.executor.type).toBe("docker");
    expect(j.executor.type === "docker" && j.executor.images[0]!.image).toMatch(/^cimg\/node:/);
  });

  it("tag pushes run only jobs with a matching tag filter whose requirements also run", async () => {
    expect(jobNames(await corpus("helm__helm.yml", { tag: "v3.0.0" }), "build")).toEqual(["build"]);
    expect(jobNames(await corpus("getsops__sops.yml"), "build-and-deploy")).toEqual(["build"]);
    expect(jobNames(await corpus("getsops__sops.yml", { tag: "v3.7.2" }), "build-and-deploy")).toEqual([
      "push",
    ]);
    const terratest = await corpus("gruntwork-io__terratest.yml", { tag: "v0.14.0" });
    expect(workflow(terratest, "build-and-test").jobs.at(-1)).toMatchObject({
      name: "deploy",
      requires: ["test", "kubernetes_test", "helm_test"],
    });
    expect(jobNames(await corpus("gruntwork-io__terratest.yml"), "build-and-test")).not.toContain("deploy");
    // formik: publish-canary has a tag filter but requires test, which has none: nothing runs.
    expect((await corpus("jaredpalmer__formik.yml", { tag: "v2.0.0-canary.1" })).workflows).toEqual([]);
    expect(jobNames(await corpus("jaredpalmer__formik.yml"), "test-deploy")).toEqual(["test", "deploy-docs"]);
  });

  it("docker/cli: parallelism, setup_remote_docker with deprecated keys warns", async () => {
    const r = await compileConfig(read("docker__cli.yml"), { pipeline: pipeline() });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(job(r.config, "ci", "cross").parallelism).toBe(3);
    expect(job(r.config, "ci", "lint").steps[1]).toMatchObject({ type: "setup_remote_docker" });
    expect(r.warnings.some((w) => /"reusable" is deprecated/.test(w.message))).toBe(true);
  });

  it("warns (does not fail) for what CircleCI accepts and the schema rejects", async () => {
    const warn = async (file: string, re: RegExp) => {
      const r = await compileConfig(read(file), { pipeline: pipeline(), orbs });
      expect(r.ok, file).toBe(true);
      expect(
        r.warnings.some((w) => re.test(w.message)),
        `${file}: ${r.warnings.map((w) => w.message).join("; ")}`,
      ).toBe(true);
    };
    await warn("rubocop__rubocop.yml", /job name "ruby-2\.\d-spec"/);
    await warn("circleci__realitycheck--2018.yml", /job name "medium\+"/);
    await warn("jaredpalmer__formik.yml", /"paths" should be a list/);
    await warn(
      "CircleCI-Public__circleci-demo-workflows--workspace-forwarding.yml",
      /"paths" should be a list/,
    );
    await warn("helm__helm.yml", /"paths" has no effect in restore_cache/);
    await warn("nipreps__fmriprep.yml", /"paths" has no effect in restore_cache/);
    await warn("docker__cli.yml", /"exclusive" is deprecated|"reusable" is deprecated/);
    await warn("circleci__realitycheck.yml", /<<parameters\.resource_class>> written without spaces/);
    await warn("CircleCI-Public__circleci-cli.yml", /resource class "large\.gen3"/);
    await warn("vuejs__vue.yml", /version 2 is deprecated/);
  });
});
