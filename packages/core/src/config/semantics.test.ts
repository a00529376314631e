import { describe, expect, it } from "vitest";
import { matchesPattern } from "./filters.ts";
import { InMemoryOrbResolver, processConfig, resolveOrbVersion } from "./index.ts";
import { parseDuration } from "./steps.ts";
import { compile, compiled, failed, job, jobNames, pipeline, workflow } from "./testing.ts";

const DOCKER = "docker: [{ image: cimg/base:stable }]";

/** A 2.1 config with one job per name, plus the given workflow jobs. */
function flow(jobs: string[], wfJobs: string): string {
  return `version: 2.1
jobs:
${jobs.map((j) => `  ${j}:\n    ${DOCKER}\n    steps: [checkout]`).join("\n")}
workflows:
  w:
    jobs:
${wfJobs}`;
}

describe("YAML", () => {
  it("resolves anchors, aliases and merge keys; tolerates anchor-holding top-level keys", async () => {
    const c = await compiled(`
version: 2
aliases:
  - &img
    image: cimg/ruby:3.2
references:
  defaults: &defaults
    docker: [*img]
    working_directory: ~/app
    environment: { A: "1" }
jobs:
  build:
    <<: *defaults
    environment: { B: "2" }
    steps: [checkout]
`);
    const b = job(c, "workflow", "build");
    expect(b.workingDirectory).toBe("~/app");
    expect(b.environment).toEqual({ B: "2" });
    expect(b.executor).toEqual({ type: "docker", images: [{ image: "cimg/ruby:3.2", environment: {} }] });
  });

  it("lets a later anchor override an earlier one of the same name", async () => {
    const c = await compiled(`
version: 2.1
x: &p 2
y: *p
z: &p 4
jobs:
  a: { ${DOCKER}, parallelism: *p, steps: [checkout] }
workflows: { w: { jobs: [a] } }
`);
    expect(job(c, "w", "a").parallelism).toBe(4);
  });

  it("reports an alias to an undefined anchor", async () => {
    const errors = await failed("version: 2.1\njobs:\n  a: *nope\n");
    expect(errors[0]).toMatchObject({ line: 3, column: 6 });
  });
});

describe("2.1 parameters", () => {
  const cfg = `
version: 2.1
parameters:
  deploy: { type: boolean, default: false }
  region: { type: enum, enum: [eu, us], default: eu }
commands:
  greet:
    parameters:
      who: { type: string, default: world }
      times: { type: integer, default: 1 }
      loud: { type: boolean, default: false }
      var: { type: env_var_name, default: TOKEN }
      after: { type: steps, default: [] }
    steps:
      - run: echo hello << parameters.who >> x<< parameters.times >> $<< parameters.var >>
      - when:
          condition: << parameters.loud >>
          steps: [{ run: echo LOUD }]
      - << parameters.after >>
executors:
  small:
    parameters:
      size: { type: enum, enum: [small, medium], default: small }
    ${DOCKER}
    resource_class: << parameters.size >>
jobs:
  build:
    parameters:
      exe: { type: executor, default: small }
      shard: { type: integer }
    executor: << parameters.exe >>
    parallelism: << parameters.shard >>
    steps:
      - greet
      - greet:
          who: << pipeline.git.branch >>
          times: 3
          loud: true
          after: [{ run: echo after }]
      - run: echo << pipeline.parameters.region >> << pipeline.number >> << pipeline.git.revision >>
workflows:
  w:
    jobs:
      - build: { shard: 2, exe: { name: small, size: medium } }
`;
  it("binds arguments, defaults, typed placeholders, steps parameters and pipeline values", async () => {
    const c = await compiled(cfg, { branch: "feature/x" });
    const b = job(c, "w", "build");
    expect(b.parallelism).toBe(2);
    expect(b.resourceClass).toBe("medium");
    expect(b.steps.map((s) => (s.type === "run" ? s.command : s.type))).toEqual([
      "echo hello world x1 $TOKEN",
      "echo hello feature/x x3 $TOKEN",
      "echo LOUD",
      "echo after",
      `echo eu 42 ${pipeline().revision}`,
    ]);
  });

  it("takes pipeline parameters from the trigger and checks them", async () => {
    const c = await compiled(cfg, { parameters: { region: "us" } });
    const last = job(c, "w", "build").steps.at(-1);
    expect(last?.type === "run" && last.command).toMatch(/^echo us /);
    const errors = await failed(cfg, { parameters: { region: "mars", nope: 1 } });
    expect(errors.map((e) => e.message)).toEqual(
      [
        `pipeline parameter "region": expected one of eu, us, got "mars"`,
        `pipeline parameter "nope" was passed but the config does not declare it`,
      ].sort((a, b) => (a.includes("nope") ? 1 : -1) - (b.includes("nope") ? 1 : -1)),
    );
  });

  it.each([
    ["a missing required parameter", "- build", /job "build" needs parameter "shard"/],
    ["an unknown argument", "- build: { shard: 1, shards: 2 }", /job "build" has no parameter "shards"/],
    ["a wrong integer", "- build: { shard: many }", /expected an integer/],
    [
      "a bad enum",
      "- build: { shard: 1, exe: { name: small, size: huge } }",
      /expected one of small, medium/,
    ],
    ["an unknown executor", "- build: { shard: 1, exe: big }", /unknown executor "big"/],
  ])("reports %s", async (_, entry, message) => {
    const errors = await failed(
      cfg.replace("- build: { shard: 2, exe: { name: small, size: medium } }", entry),
    );
    expect(errors.some((e) => message.test(e.message) && e.line !== undefined)).toBe(true);
  });

  it("reports undeclared << parameters.x >>", async () => {
    const errors = await failed(`version: 2.1
jobs:
  a:
    ${DOCKER}
    steps: [{ run: echo << parameters.nope >> }]
workflows: { w: { jobs: [a] } }
`);
    expect(errors).toEqual([
      {
        path: "jobs.a.steps[0].run",
        message: `<< parameters.nope >>: parameter "nope" is not declared here`,
        line: 5,
        column: 20,
      },
    ]);
  });

  it("warns for <<parameters.x>> without spaces but substitutes it", async () => {
    const r = await compile(`version: 2.1
jobs:
  a:
    parameters: { rc: { type: string, default: large } }
    ${DOCKER}
    resource_class: <<parameters.rc>>
    steps: [checkout]
workflows: { w: { jobs: [a] } }
`);
    expect(r.ok && job(r.config, "w", "a").resourceClass).toBe("large");
    expect(r.warnings.map((w) => w.message)).toContain(
      "<<parameters.rc>> written without spaces; CircleCI accepts it but the schema wants << parameters.rc >>",
    );
  });

  it("pre-steps and post-steps wrap the job's steps", async () => {
    const c = await compiled(`version: 2.1
jobs:
  a: { ${DOCKER}, steps: [{ run: main }] }
workflows:
  w:
    jobs:
      - a:
          pre-steps: [{ run: pre }]
          post-steps: [{ run: post }]
`);
    expect(job(c, "w", "a").steps.map((s) => s.type === "run" && s.command)).toEqual(["pre", "main", "post"]);
  });

  it("setup: true is carried to the plan", async () => {
    const c = await compiled(
      `version: 2.1\nsetup: true\n${flow(["a"], "      - a").slice("version: 2.1\n".length)}`,
    );
    expect(c.setup).toBe(true);
  });
});

describe("pipeline values", () => {
  it("substitutes every documented value", async () => {
    const c = await compiled(
      `version: 2.1
jobs:
  a:
    ${DOCKER}
    steps:
      - run: "<< pipeline.id >>|<< pipeline.number >>|<< pipeline.git.branch >>|<< pipeline.git.tag >>|<< pipeline.git.revision >>|<< pipeline.git.base_revision >>|<< pipeline.project.git_url >>|<< pipeline.project.type >>|<< pipeline.trigger_source >>"
workflows: { w: { jobs: [a] } }
`,
      { baseRevision: "base1", triggerSource: "api" },
    );
    const s = job(c, "w", "a").steps[0];
    const p = pipeline();
    expect(s?.type === "run" && s.command).toBe(
      `${p.id}|42|main||${p.revision}|base1|https://github.com/acme/widgets|github|api`,
    );
  });
});

describe("matrix", () => {
  const cfg = (entry: string, req = "build") => `version: 2.1
jobs:
  build:
    parameters:
      version: { type: string }
      platform: { type: string }
    ${DOCKER}
    steps: [{ run: "echo << parameters.platform >> << parameters.version >>" }]
  report: { ${DOCKER}, steps: [checkout] }
workflows:
  w:
    jobs:
${entry}
      - report:
          requires: [${req}]
`;
  it("names jobs by the job name and values in sorted parameter order, and alias requires all", async () => {
    const c = await compiled(
      cfg(`      - build:
          matrix:
            parameters:
              version: ["0.1", "0.2"]
              platform: [macos, linux]
            exclude:
              - { version: "0.2", platform: linux }`),
    );
    expect(jobNames(c, "w")).toEqual(["build-macos-0.1", "build-macos-0.2", "build-linux-0.1", "report"]);
    expect(workflow(c, "w").jobs.at(-1)!.requires).toEqual([
      "build-macos-0.1",
      "build-macos-0.2",
      "build-linux-0.1",
    ]);
    const s = job(c, "w", "build-macos-0.2").steps[0];
    expect(s?.type === "run" && s.command).toBe("echo macos 0.2");
  });

  it("keeps float-looking values as written (16.0 stays 16.0)", async () => {
    const c = await compiled(
      cfg(`      - build:
          matrix:
            parameters: { version: [16.0], platform: [linux] }`),
    );
    expect(jobNames(c, "w")[0]).toBe("build-linux-16.0");
  });

  it("uses name patterns with << matrix.x >> and a custom alias", async () => {
    const c = await compiled(
      cfg(
        `      - build:
          name: b-<< matrix.platform >>
          matrix:
            alias: all
            parameters: { version: ["1"], platform: [a, b] }
      - report:
          name: after
          requires: [b-b]`,
        "all",
      ),
    );
    expect(jobNames(c, "w")).toEqual(["b-a", "b-b", "after", "report"]);
    expect(workflow(c, "w").jobs[2]!.requires).toEqual(["b-b"]);
    expect(workflow(c, "w").jobs[3]!.requires).toEqual(["b-a", "b-b"]);
  });
});

describe("when / unless", () => {
  const cfg = (cond: string) => `version: 2.1
parameters:
  flag: { type: boolean, default: true }
  name: { type: string, default: release-1 }
jobs:
  a: { ${DOCKER}, steps: [checkout] }
workflows:
  w:
    when: ${cond}
    jobs: [a]
`;
  it.each([
    ["true", true],
    ["false", false],
    ['""', false],
    ["<< pipeline.parameters.flag >>", true],
    ["{ not: << pipeline.parameters.flag >> }", false],
    ["{ and: [true, << pipeline.parameters.flag >>] }", true],
    ["{ and: [true, false] }", false],
    ["{ or: [false, false, 1] }", true],
    ["{ equal: [main, << pipeline.git.branch >>] }", true],
    ["{ equal: [dev, << pipeline.git.branch >>] }", false],
    ["{ matches: { pattern: '^release-\\d+$', value: << pipeline.parameters.name >> } }", true],
    ["{ matches: { pattern: 'release', value: << pipeline.parameters.name >> } }", false],
  ])("workflow when: %s → runs %s", async (cond, runs) => {
    const c = await compiled(cfg(cond));
    expect(c.workflows.length).toBe(runs ? 1 : 0);
  });

  it("unless on a workflow and when/unless steps", async () => {
    const c = await compiled(`version: 2.1
jobs:
  a:
    ${DOCKER}
    steps:
      - when: { condition: { equal: [main, << pipeline.git.branch >>] }, steps: [{ run: on-main }] }
      - unless: { condition: { equal: [main, << pipeline.git.branch >>] }, steps: [{ run: off-main }] }
workflows:
  w: { unless: false, jobs: [a] }
  v: { unless: true, jobs: [a] }
`);
    expect(c.workflows.map((w) => w.name)).toEqual(["w"]);
    expect(job(c, "w", "a").steps.map((s) => s.type === "run" && s.command)).toEqual(["on-main"]);
  });

  it("reports malformed logic statements", async () => {
    const errors = await failed(cfg("{ equal: main, or: [] }"));
    expect(errors[0]!.message).toMatch(/exactly one of the keys/);
    expect(errors[0]!.line).toBe(9);
  });
});

describe("orbs", () => {
  const inline = `version: 2.1
orbs:
  tools:
    executors:
      default:
        parameters: { tag: { type: string, default: "20" } }
        docker: [{ image: "cimg/node:<< parameters.tag >>" }]
    commands:
      hello:
        parameters: { to: { type: string, default: you } }
        steps: [{ run: "hello << parameters.to >>" }]
    jobs:
      test:
        executor: default
        steps: [checkout, { hello: { to: orb } }]
jobs:
  mine:
    executor: { name: tools/default, tag: "22" }
    steps: [tools/hello]
workflows:
  w:
    jobs: [tools/test, mine]
`;
  it("expands inline orbs: jobs, commands and executors, with their own names inside", async () => {
    const c = await compiled(inline);
    expect(jobNames(c, "w")).toEqual(["tools/test", "mine"]);
    const t = job(c, "w", "tools/test");
    expect(t.executor).toEqual({ type: "docker", images: [{ image: "cimg/node:20", environment: {} }] });
    expect(t.steps.map((s) => (s.type === "run" ? s.command : s.type))).toEqual(["checkout", "hello orb"]);
    const m = job(c, "w", "mine");
    expect(m.executor.type === "docker" && m.executor.images[0]!.image).toBe("cimg/node:22");
  });

  it("resolves registry orbs through the resolver (ranges pick the newest match)", async () => {
    const orb = (tag: string) =>
      `version: 2.1\nexecutors:\n  default:\n    docker: [{ image: "node:${tag}" }]\ncommands:\n  i: { steps: [{ run: "i ${tag}" }] }\n`;
    const resolver = new InMemoryOrbResolver()
      .publish("acme/node", "5.0.0", orb("5.0.0"))
      .publish("acme/node", "5.1.0", orb("5.1.0"))
      .publish("acme/node", "5.1.3", orb("5.1.3"))
      .publish("acme/node", "6.0.0", orb("6.0.0"));
    const src = (v: string) => `version: 2.1
orbs: { node: acme/node@${v} }
jobs: { a: { executor: node/default, steps: [node/i] } }
workflows: { w: { jobs: [a] } }
`;
    for (const [v, expected] of [
      ["5", "5.1.3"],
      ["5.1", "5.1.3"],
      ["5.0", "5.0.0"],
      ["5.1.0", "5.1.0"],
      ["volatile", "6.0.0"],
    ] as const) {
      const c = await compiled(src(v), {}, resolver);
      const s = job(c, "w", "a").steps[0];
      expect(s?.type === "run" && s.command, v).toBe(`i ${expected}`);
    }
    const errors = await failed(src("7"), {}, resolver);
    expect(errors).toEqual([
      {
        path: "orbs.node",
        message: `orb acme/node@7 not found: no published version of acme/node matches "7"`,
        line: 2,
        column: 15,
      },
    ]);
  });

  it("reports resolver failures and errors inside an orb with the orb named", async () => {
    const failing = { resolve: async () => Promise.reject(new Error("S3 timeout")) };
    const r = await compile(
      "version: 2.1\norbs: { x: a/b@1.0.0 }\njobs: { j: { docker: [{image: a}], steps: [x/c] } }\nworkflows: { w: { jobs: [j] } }\n",
      {},
      failing,
    );
    expect(!r.ok && r.errors.map((e) => e.message)).toEqual(["could not fetch orb a/b@1.0.0: S3 timeout"]);
    const bad = new InMemoryOrbResolver().publish(
      "a/b",
      "1.0.0",
      "version: 2.1\ncommands:\n  c:\n    steps: [{ run: { comand: x } }]\n",
    );
    const errors = await failed(
      "version: 2.1\norbs: { x: a/b@1.0.0 }\njobs: { j: { docker: [{image: a}], steps: [x/c] } }\nworkflows: { w: { jobs: [j] } }\n",
      {},
      bad,
    );
    expect(errors).toContainEqual({
      path: "orbs.x.commands.c.steps[0].run",
      message: `unknown key "comand" (did you mean "command"?) (in orb a/b@1.0.0)`,
      line: 4,
      column: 22,
    });
  });

  it.each([
    ["5", ["5.0.0", "5.2.1", "5.10.0", "6.0.0"], "5.10.0"],
    ["5.2", ["5.2.0", "5.2.1", "5.3.0"], "5.2.1"],
    ["5.2.0", ["5.2.0", "5.2.1"], "5.2.0"],
    ["volatile", ["1.0.0", "2.0.0", "10.0.0"], "10.0.0"],
    ["dev:alpha", ["dev:alpha", "1.0.0"], "dev:alpha"],
    ["4", ["5.0.0"], undefined],
    ["5.1.9", ["5.1.0"], undefined],
    ["latest", ["5.1.0"], undefined],
  ])("resolveOrbVersion(%s, %j) = %s", (range, published, expected) => {
    expect(resolveOrbVersion(range, published)).toBe(expected);
  });
});

describe("steps", () => {
  const steps = async (yaml: string) => {
    const c = await compiled(`version: 2.1
jobs:
  a:
    ${DOCKER}
    steps:
${yaml}
workflows: { w: { jobs: [a] } }
`);
    return job(c, "w", "a").steps;
  };
  it("compiles every built-in step", async () => {
    expect(
      await steps(`      - checkout: { path: ~/src }
      - run:
          name: n
          command: make
          shell: /bin/sh
          working_directory: sub
          environment: { X: 1 }
          no_output_timeout: 1h
          when: always
          background: false
      - save_cache: { key: k1, paths: [a, b], when: on_fail }
      - restore_cache: { key: k1 }
      - restore_cache: { keys: [k1, k0] }
      - store_artifacts: { path: out, destination: d }
      - store_test_results: { path: results }
      - persist_to_workspace: { root: ., paths: [bin] }
      - attach_workspace: { at: /tmp/ws }
      - add_ssh_keys: { fingerprints: ["aa:bb"] }
      - add_ssh_keys
      - setup_remote_docker: { version: 20.10.18, docker_layer_caching: true }`),
    ).toEqual([
      { type: "checkout", path: "~/src" },
      {
        type: "run",
        name: "n",
        command: "make",
        shell: "/bin/sh",
        background: false,
        workingDirectory: "sub",
        environment: { X: "1" },
        noOutputTimeout: 3600,
        when: "always",
      },
      { type: "save_cache", key: "k1", paths: ["a", "b"], when: "on_fail" },
      { type: "restore_cache", keys: ["k1"] },
      { type: "restore_cache", keys: ["k1", "k0"] },
      { type: "store_artifacts", path: "out", destination: "d" },
      { type: "store_test_results", path: "results" },
      { type: "persist_to_workspace", root: ".", paths: ["bin"] },
      { type: "attach_workspace", at: "/tmp/ws" },
      { type: "add_ssh_keys", fingerprints: ["aa:bb"] },
      { type: "add_ssh_keys", fingerprints: [] },
      { type: "setup_remote_docker", version: "20.10.18", dockerLayerCaching: true },
    ]);
  });

  it.each([
    ["20m", 1200],
    ["1h", 3600],
    ["30s", 30],
    ["1h30m", 5400],
    ["1.5h", 5400],
    ["90", 90],
    [45, 45],
    ["soon", undefined],
    ["10x", undefined],
  ])("parseDuration(%j) = %j", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each([
    ["- run: { command: x, when: sometimes }", /"when" must be always, on_success or on_fail/],
    ["- save_cache: { key: k }", /save_cache needs "paths"/],
    ["- restore_cache: {}", /restore_cache needs "key" or "keys"/],
    ["- run: { command: x, no_output_timeout: soon }", /"no_output_timeout" must be a duration/],
    ["- { run: x, name: y }", /exactly one key/],
    ["- 42", /a step must be a name or a map/],
  ])("rejects %s", async (step, message) => {
    const errors = await failed(
      `version: 2.1\njobs:\n  a:\n    ${DOCKER}\n    steps:\n      ${step}\nworkflows: { w: { jobs: [a] } }\n`,
    );
    expect(errors.find((e) => message.test(e.message))?.line).toBe(6);
  });
});

describe("executors", () => {
  it("docker with auth and service images, machine map, macos, windows; environment list of maps", async () => {
    const c = await compiled(`version: 2.1
jobs:
  d:
    docker:
      - image: private/img
        auth: { username: u, password: $PW }
        aws_auth: { oidc_role_arn: arn:aws:iam::1:role/r }
        entrypoint: [/bin/sh]
        user: root
      - image: redis
        command: redis-server --port 7000
    environment:
      - A: "1"
      - B: "2"
    shell: /bin/bash -eo pipefail
    steps: [checkout]
  m:
    machine: { image: ubuntu-2204:current, docker_layer_caching: true }
    resource_class: arm.medium
    steps: [checkout]
  o:
    macos: { xcode: 15.0.1 }
    steps: [checkout]
  x:
    machine: true
    resource_class: windows.medium
    steps: [checkout]
workflows: { w: { jobs: [d, m, o, x] } }
`);
    const d = job(c, "w", "d");
    expect(d.executor).toEqual({
      type: "docker",
      images: [
        {
          image: "private/img",
          auth: { username: "u", password: "$PW" },
          awsAuth: { oidcRoleArn: "arn:aws:iam::1:role/r" },
          entrypoint: ["/bin/sh"],
          user: "root",
          environment: {},
        },
        { image: "redis", command: ["redis-server --port 7000"], environment: {} },
      ],
    });
    expect(d.environment).toEqual({ A: "1", B: "2" });
    expect(d.shell).toBe("/bin/bash -eo pipefail");
    expect(job(c, "w", "m")).toMatchObject({
      executor: { type: "machine", image: "ubuntu-2204:current", dockerLayerCaching: true },
      resourceClass: "arm.medium",
    });
    expect(job(c, "w", "o").executor).toEqual({ type: "macos", xcode: "15.0.1" });
    expect(job(c, "w", "x").resourceClass).toBe("windows.medium");
  });

  it("requires exactly one executor", async () => {
    const errors = await failed(`version: 2.1
jobs:
  a: { steps: [checkout] }
workflows: { w: { jobs: [a] } }
`);
    expect(errors[0]).toMatchObject({ path: "jobs.a", line: 3, column: 6 });
    expect(errors[0]!.message).toMatch(/needs an executor/);
  });
});

describe("workflows", () => {
  it("approval jobs, contexts (string or list), name overrides", async () => {
    const c = await compiled(
      flow(
        ["a", "b"],
        `      - a: { context: org-global }
      - hold: { type: approval, requires: [a] }
      - b: { name: b-eu, requires: [hold], context: [one, two] }
      - b: { name: b-us, requires: [hold] }`,
      ),
    );
    const w = workflow(c, "w");
    expect(w.jobs.map((j) => [j.name, j.type, j.requires, j.contexts])).toEqual([
      ["a", "build", [], ["org-global"]],
      ["hold", "approval", ["a"], []],
      ["b-eu", "build", ["hold"], ["one", "two"]],
      ["b-us", "build", ["hold"], []],
    ]);
    expect(w.jobs[1]!.plan).toBeUndefined();
    expect(w.jobs[2]!.plan?.name).toBe("b-eu");
  });

  it.each([
    ["an unknown job", "      - nope", /unknown job "nope"/],
    [
      "requires of an unknown job",
      "      - a: { requires: [ghost] }",
      /requires "ghost", which is not a job in this workflow/,
    ],
    [
      "a requires cycle",
      "      - a: { requires: [b] }\n      - b: { requires: [a] }",
      /requires cycle: a -> b -> a|requires cycle: b -> a -> b/,
    ],
    ["a self-require", "      - a: { requires: [a] }", /requires cycle: a -> a/],
    [
      "requires of an ambiguous name",
      "      - a\n      - a\n      - b: { requires: [a] }",
      /several jobs in this workflow have that name/,
    ],
  ])("reports %s with its line", async (_, jobs, message) => {
    const errors = await failed(flow(["a", "b"], jobs));
    const e = errors.find((x) => message.test(x.message));
    expect(e, JSON.stringify(errors)).toBeDefined();
    expect(e!.line).toBeGreaterThan(9);
  });

  it("reports every error of a config at once", async () => {
    const errors = await failed(`version: 2.1
jobs:
  a: { ${DOCKER}, steps: [{ run: { comand: x } }] }
  b: { ${DOCKER}, parallelism: zero, steps: [checkout] }
workflows:
  w: { jobs: [a, b, c, { b: { requires: [d] } }] }
`);
    expect(errors.map((e) => `${e.path}@${e.line}`).sort()).toEqual(
      [
        "jobs.a.steps[0].run@3",
        "jobs.a.steps[0].run@3",
        "jobs.b.parallelism@4",
        "workflows.w.jobs[2]@6",
        "workflows.w.jobs[3].b.requires[0]@6",
      ].sort(),
    );
  });
});

describe("filters", () => {
  it.each([
    ["main", "main", true],
    ["main", "mainline", false],
    ["/feature-.*/", "feature-1", true],
    ["/feature-.*/", "my-feature-1", false],
    ["/release\\/v\\d+/", "release/v2", true],
    ["/(/", "x", false],
  ])("pattern %s vs %s → %s", (pattern, name, expected) => {
    expect(matchesPattern(pattern, name)).toBe(expected);
  });

  const cfg = flow(
    ["a", "b", "c", "d"],
    `      - a: { filters: { branches: { only: [main, /release-.*/] } } }
      - b: { filters: { branches: { ignore: main } } }
      - c: { requires: [a, b] }
      - d: { requires: [b] }`,
  );
  it.each([
    ["main", ["a", "c"], { c: ["a"] }],
    ["release-1", ["a", "b", "c", "d"], { c: ["a", "b"], d: ["b"] }],
    ["dev", ["b", "c", "d"], { c: ["b"], d: ["b"] }],
  ])(
    "branch %s runs %j (filtered requires pruned; all filtered → not run)",
    async (branch, names, requires) => {
      const c = await compiled(cfg, { branch });
      expect(jobNames(c, "w")).toEqual(names);
      for (const [n, r] of Object.entries(requires))
        expect(workflow(c, "w").jobs.find((j) => j.name === n)!.requires).toEqual(r);
    },
  );

  const tags = flow(
    ["a", "b", "c", "d", "e"],
    `      - a
      - b: { filters: { tags: { only: /^v.*/ } } }
      - c: { requires: [b], filters: { tags: { only: /^v.*/ }, branches: { ignore: /.*/ } } }
      - d: { requires: [a, b], filters: { tags: { only: /.*/ } } }
      - e: { filters: { tags: { ignore: /^nightly-.*/ } } }`,
  );
  it("tag pushes: only jobs with a matching tag filter, and all they require, run", async () => {
    expect(jobNames(await compiled(tags, { tag: "v1.0.0" }), "w")).toEqual(["b", "c", "e"]);
    expect((await compiled(tags, { tag: "nightly-3" })).workflows).toEqual([]);
    expect(jobNames(await compiled(tags, { tag: "x" }), "w")).toEqual(["e"]);
    // A branch push ignores tag filters; c ignores all branches.
    expect(jobNames(await compiled(tags, { branch: "main" }), "w")).toEqual(["a", "b", "d", "e"]);
  });
});

describe("processConfig", () => {
  it("prints the expanded config as version 2", async () => {
    const r = await processConfig(
      `version: 2.1
commands:
  hi: { parameters: { to: { type: string } }, steps: [{ run: "hi << parameters.to >>" }] }
jobs:
  build:
    parameters: { v: { type: string } }
    ${DOCKER}
    steps: [checkout, { hi: { to: << parameters.v >> } }]
workflows:
  w:
    jobs:
      - build: { matrix: { parameters: { v: [a, b] } } }
      - hold: { type: approval, requires: [build] }
`,
      { pipeline: pipeline() },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.yaml).toBe(`version: 2
jobs:
  build-a:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: hi a
  build-b:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: hi b
workflows:
  w:
    jobs:
      - build-a
      - build-b
      - hold:
          type: approval
          requires:
            - build-a
            - build-b
  version: 2
`);
  });
});

describe("versions and names", () => {
  it("warns about duplicate workflow job names and runs the later ones suffixed", async () => {
    const r = await compile(flow(["a"], "      - a\n      - a\n      - a"));
    expect(r.ok && jobNames(r.config, "w")).toEqual(["a", "a-2", "a-3"]);
    expect(r.warnings.filter((w) => /two jobs named "a"/.test(w.message))).toHaveLength(2);
  });

  it("rejects 2.1 features in a version 2 config, and unknown versions", async () => {
    const errors = await failed(`version: 2
orbs: { x: a/b@1 }
commands: { c: { steps: [checkout] } }
jobs:
  build: { ${DOCKER}, steps: [checkout] }
`);
    expect(errors.map((e) => e.message)).toEqual([
      `"orbs" needs version 2.1`,
      `"commands" needs version 2.1`,
    ]);
    expect((await failed("version: 3\n"))[0]).toMatchObject({ path: "version", line: 1, column: 10 });
    expect((await failed("jobs: {}\n"))[0]!.message).toMatch(/needs "version: 2.1"/);
  });

  it("a job defined with type: no-op runs nothing and unblocks its dependants", async () => {
    const c = await compiled(`version: 2.1
jobs:
  gate: { type: no-op }
  a: { ${DOCKER}, steps: [checkout] }
workflows: { w: { jobs: [gate, { a: { requires: [gate] } }] } }
`);
    expect(workflow(c, "w").jobs.map((j) => [j.name, j.type, j.requires, j.plan === undefined])).toEqual([
      ["gate", "no-op", [], true],
      ["a", "build", ["gate"], false],
    ]);
  });
});

describe("version 2 validation", () => {
  it("checks jobs no workflow uses", async () => {
    const errors = await failed(`version: 2
jobs:
  build: { ${DOCKER}, steps: [checkout] }
  spare: { ${DOCKER}, steps: [{ frob: {} }] }
`);
    expect(errors).toEqual([
      { path: "jobs.spare.steps[0]", message: `unknown step "frob"`, line: 4, column: 59 },
    ]);
  });
});
