import { describe, expect, it } from "vitest";
import type { Job } from "../job/index.ts";
import type { Node } from "../node/index.ts";
import type { Pipeline } from "../pipeline/model.ts";
import {
  diagnoseInstallation,
  diagnoseJob,
  type Finding,
  type InstallationSnapshot,
  type JobSnapshot,
  type QueueReading,
  span,
} from "./diagnose.ts";

const NOW = Date.parse("2026-01-01T12:00:00.000Z");
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const WF = "11111111-1111-4111-8111-111111111111";
const PIPELINE = "22222222-2222-4222-8222-222222222222";

const size = (cpus: number) => ({ cpus, memoryMb: cpus * 2048 });

function node(over: Partial<Node> = {}): Node {
  return {
    id: "node-a",
    name: "host-a",
    status: "ready",
    heartbeatAt: NOW - 2000,
    resources: size(4),
    reserved: size(0),
    allocated: size(0),
    classes: { small: size(1), medium: size(2) },
    createdAt: ago(3600),
    updatedAt: NOW,
    ...over,
  };
}

function job(over: Partial<Job> & { resourceClass?: string } = {}): Job {
  const { resourceClass = "medium", ...rest } = over;
  return {
    id: "33333333-3333-4333-8333-333333333333",
    number: 7,
    name: "build",
    type: "build",
    status: "queued",
    projectSlug: "gh/acme/api",
    pipelineId: PIPELINE,
    pipelineNumber: 3,
    workflowId: WF,
    workflowName: "main",
    requires: [],
    contexts: [],
    plan: {
      name: "build",
      executor: { type: "machine" },
      resourceClass,
      parallelism: 1,
      environment: {},
      workingDirectory: "~/project",
      steps: [],
    } as unknown as Job["plan"],
    checkout: { repoUrl: "/repo", revision: "a".repeat(40), branch: "main" },
    pipeline: {} as Job["pipeline"],
    attempt: 1,
    retries: 0,
    allocations: { "0": { status: "queued" } },
    createdAt: ago(120),
    queuedAt: ago(120),
    updatedAt: NOW - 120_000,
    ...rest,
  };
}

function pipeline(over: Partial<Pipeline> = {}): Pipeline {
  return {
    id: PIPELINE,
    number: 3,
    projectSlug: "gh/acme/api",
    state: "created",
    errors: [],
    trigger: { type: "api", receivedAt: ago(130), actor: "admin" },
    vcs: { providerName: "GitHub", repoUrl: "/repo", revision: "a".repeat(40), branch: "main" },
    createdAt: ago(130),
    updatedAt: ago(125),
    ...over,
  };
}

const queue = (name: string, over: Partial<QueueReading> = {}): QueueReading => ({
  name,
  visible: 0,
  inFlight: 0,
  delayed: 0,
  ...over,
});

const SETTINGS = { heartbeatSeconds: 30, queueTimeoutSeconds: 86_400, maxJobSeconds: 18_000 };

function installation(over: Partial<InstallationSnapshot> = {}): InstallationSnapshot {
  return {
    now: NOW,
    settings: SETTINGS,
    nodes: [node()],
    executions: {},
    queueClass: { medium: "medium", large: "large", "acme/big": "medium" },
    jobQueues: {
      small: queue("gyre-jobs-small"),
      medium: queue("gyre-jobs-medium"),
      large: queue("gyre-jobs-large"),
    },
    jobs: [],
    workflowJobs: {},
    pendingPipelines: [],
    latestPipelines: [pipeline()],
    setupWorkflows: {},
    intake: queue("gyre-intake", { deadLetter: { name: "gyre-intake-dlq", visible: 0, maxReceiveCount: 5 } }),
    ...over,
  };
}

function jobSnapshot(j: Job, over: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    now: NOW,
    settings: SETTINGS,
    nodes: [node()],
    executions: {},
    queueClass: { [j.plan!.resourceClass]: j.plan!.resourceClass },
    jobQueues: { [j.plan!.resourceClass]: queue(`gyre-jobs-${j.plan!.resourceClass}`) },
    job: j,
    pipeline: pipeline(),
    workflowJobs: [j],
    ...over,
  };
}

const notOk = (findings: Finding[]) => findings.filter((f) => f.status !== "OK");

describe("the whole installation", () => {
  it("finds nothing wrong on an idle, healthy installation, and says what it checked on every hop", () => {
    const findings = diagnoseInstallation(installation());
    expect(notOk(findings)).toEqual([]);
    expect(new Set(findings.map((f) => f.hop))).toEqual(
      new Set(["intake", "dispatch", "scheduling", "nodes", "job_processing"]),
    );
    expect(findings.find((f) => f.hop === "nodes")?.message).toBe(
      "Node node-a (host-a): ready, heartbeat 2 s ago, 0 allocations, 0/4 vCPU and 0/8192 MB in use, offers small, medium.",
    );
    expect(findings[0]?.message).toBe(
      "Intake queue gyre-intake: 0 waiting, 0 in flight; dead-letter queue gyre-intake-dlq: 0.",
    );
  });

  it("fails scheduling, naming the class, when queued jobs are of a class no ready node offers", () => {
    const findings = diagnoseInstallation(installation({ jobs: [job({ resourceClass: "large" })] }));
    expect(notOk(findings)).toEqual([
      {
        hop: "scheduling",
        status: "FAIL",
        message:
          "1 job of resource class large queued, the oldest for 2 min: No ready builder node offers resource class large (they offer small, medium): this job runs once one that does joins.",
        remedy: expect.stringContaining("fit resource class large"),
      },
    ]);
  });

  it("judges a class without a queue of its own by the queue that carries it", () => {
    const findings = diagnoseInstallation(
      installation({
        jobs: [job({ resourceClass: "acme/big" })],
        nodes: [node({ classes: { small: size(1) } })],
      }),
    );
    expect(notOk(findings).map((f) => f.message)).toEqual([
      "1 job of resource class medium queued, the oldest for 2 min: No ready builder node offers resource class medium (they offer small): this job runs once one that does joins.",
    ]);
  });

  it("only warns when every node offering the class is full", () => {
    const findings = diagnoseInstallation(
      installation({ jobs: [job()], nodes: [node({ allocated: size(4) })] }),
    );
    expect(notOk(findings).map((f) => [f.hop, f.status, f.message])).toEqual([
      [
        "scheduling",
        "WARN",
        "1 job of resource class medium queued, the oldest for 2 min: The one builder node offering resource class medium is full: this job runs when one has room.",
      ],
    ]);
  });

  it("warns when a node has room for a job that has waited more than a minute, and is quiet before that", () => {
    expect(notOk(diagnoseInstallation(installation({ jobs: [job()] }))).map((f) => f.message)).toEqual([
      "1 job of resource class medium queued, the oldest for 2 min: A ready node offering resource class medium has room, but none has taken it for 2 min.",
    ]);
    const young = job({ queuedAt: ago(5), createdAt: ago(5), updatedAt: NOW - 5000 });
    expect(notOk(diagnoseInstallation(installation({ jobs: [young] })))).toEqual([]);
  });

  it("fails the nodes hop when every ready node drains, and warns for each draining node", () => {
    const drained = node({ drainedAt: NOW - 60_000 });
    const findings = notOk(diagnoseInstallation(installation({ nodes: [drained] })));
    expect(findings.map((f) => [f.hop, f.status, f.message])).toEqual([
      ["nodes", "FAIL", "Every ready builder node is draining (1 node): no node takes a new job."],
      [
        "nodes",
        "WARN",
        `Node node-a (host-a) is draining since ${ago(60)}: it takes no new job; 0 allocations still running on it.`,
      ],
    ]);
    expect(findings[1]?.remedy).toBe("`gyre nomad node drain -disable node-a` makes it eligible again.");
  });

  it("fails nodes and job processing for a node that stopped heartbeating mid-job, with what the reconciler will do", () => {
    const running = job({
      status: "running",
      allocations: { "0": { status: "running", nodeId: "node-a", startedAt: ago(100) } },
    });
    const findings = notOk(
      diagnoseInstallation(installation({ jobs: [running], nodes: [node({ heartbeatAt: NOW - 45_000 })] })),
    );
    expect(findings.map((f) => [f.hop, f.status, f.message])).toEqual([
      [
        "nodes",
        "FAIL",
        "Node node-a (host-a) last heartbeated 45 s ago, past the 30 s deadline, and is still marked ready; it holds 1 running allocation.",
      ],
      [
        "job_processing",
        "FAIL",
        "Job gh/acme/api/7 (build): Builder node node-a stopped heartbeating while it ran allocation 0 (attempt 1).",
      ],
    ]);
    expect(findings[1]?.remedy).toMatch(
      /^The reconciler gives the job a new attempt on another node at its next pass/,
    );
    const retried = notOk(
      diagnoseInstallation(
        installation({ jobs: [{ ...running, retries: 1 }], nodes: [node({ heartbeatAt: NOW - 45_000 })] }),
      ),
    );
    expect(retried[1]?.remedy).toMatch(
      /^The reconciler ends the job infrastructure_fail \(its one retry is used\)/,
    );
  });

  it("fails nodes for a down node that jobs still record running allocations on", () => {
    const running = job({
      status: "running",
      allocations: { "0": { status: "running", nodeId: "node-b", startedAt: ago(100) } },
    });
    const down = node({
      id: "node-b",
      name: "host-b",
      status: "down",
      downAt: NOW - 10_000,
      heartbeatAt: NOW - 40_000,
    });
    const findings = notOk(diagnoseInstallation(installation({ jobs: [running], nodes: [node(), down] })));
    expect(findings.map((f) => [f.hop, f.message])).toEqual([
      [
        "nodes",
        `Node node-b (host-b) is down (since ${ago(10)}), yet 1 allocation are still recorded running on it: gh/acme/api/7 (build) allocation 0.`,
      ],
      [
        "job_processing",
        "Job gh/acme/api/7 (build): Builder node node-b stopped heartbeating while it ran allocation 0 (attempt 1).",
      ],
    ]);
  });

  it("fails when no node is registered at all", () => {
    expect(notOk(diagnoseInstallation(installation({ nodes: [] }))).map((f) => [f.hop, f.message])).toEqual([
      ["nodes", "No builder node is registered: nothing can run a job."],
    ]);
  });

  it("fails intake for the newest pipeline of a branch that errored, not for one a later pipeline replaced", () => {
    const errored = pipeline({
      state: "errored",
      errors: [{ type: "config", message: "jobs.build: steps is required (line 3, column 5)" }],
    });
    expect(notOk(diagnoseInstallation(installation({ latestPipelines: [errored] })))).toEqual([
      {
        hop: "intake",
        status: "FAIL",
        message: `The newest pipeline of gh/acme/api on branch main, #3 (${PIPELINE}), errored: config: jobs.build: steps is required (line 3, column 5)`,
        remedy:
          "Fix .circleci/config.yml (`gyre config validate` shows the same errors), then push or `gyre trigger` again.",
      },
    ]);
  });

  it("only warns for a newest pipeline that errored on its trigger's parameters alone: the config is not broken", () => {
    const errored = pipeline({
      state: "errored",
      errors: [
        {
          type: "config",
          message: 'pipeline parameter "deploy" was passed but the config does not declare it',
        },
      ],
    });
    expect(notOk(diagnoseInstallation(installation({ latestPipelines: [errored] })))).toEqual([
      {
        hop: "intake",
        status: "WARN",
        message: `The newest pipeline of gh/acme/api on branch main, #3 (${PIPELINE}), errored: config: pipeline parameter "deploy" was passed but the config does not declare it`,
        remedy:
          "Trigger again with only the parameters the config declares (its top-level `parameters:`), or declare the ones passed.",
      },
    ]);
    // Beside a real config error it is a failure as before.
    const both = pipeline({
      state: "errored",
      errors: [
        ...errored.errors,
        { type: "config", message: "jobs.build: steps is required (line 3, column 5)" },
      ],
    });
    expect(notOk(diagnoseInstallation(installation({ latestPipelines: [both] })))[0]?.status).toBe("FAIL");
  });

  it("fails intake for a pipeline pending past the grace period, saying whether its message waits or was lost", () => {
    const pending = pipeline({ state: "pending", createdAt: ago(45), updatedAt: ago(45) });
    const [lost] = notOk(diagnoseInstallation(installation({ pendingPipelines: [pending] })));
    expect(lost?.message).toBe(
      `Pipeline gh/acme/api #3 (${PIPELINE}) has been pending for 45 s: the intake has not read and compiled its config.`,
    );
    expect(lost?.remedy).toMatch(/^No trigger waits in the intake queue: its message was lost\./);
    const [behind] = notOk(
      diagnoseInstallation(
        installation({ pendingPipelines: [pending], intake: queue("gyre-intake", { visible: 4 }) }),
      ),
    );
    expect(behind?.remedy).toMatch(/^The intake queue holds 4 triggers: the intake is behind or not running/);
    const young = pipeline({ state: "pending", createdAt: ago(5) });
    expect(notOk(diagnoseInstallation(installation({ pendingPipelines: [young] })))).toEqual([]);
  });

  it("fails intake for dead-lettered triggers and scheduling for dead-lettered allocations", () => {
    const findings = notOk(
      diagnoseInstallation(
        installation({
          intake: queue("gyre-intake", {
            deadLetter: { name: "gyre-intake-dlq", visible: 2, maxReceiveCount: 5 },
          }),
          jobQueues: {
            medium: queue("jobs-medium", {
              deadLetter: { name: "jobs-medium-dlq", visible: 1, maxReceiveCount: 50 },
            }),
          },
        }),
      ),
    );
    expect(findings.map((f) => [f.hop, f.status, f.message])).toEqual([
      [
        "intake",
        "FAIL",
        "2 messages in the dead-letter queue gyre-intake-dlq: triggers the intake failed to turn into pipelines, each received 5 times.",
      ],
      [
        "scheduling",
        "FAIL",
        "1 message in the dead-letter queue jobs-medium-dlq: allocations of resource class medium that builders received without a claim settling, each received 50 times.",
      ],
    ]);
  });

  it("warns, without failing, for a queue it cannot read", () => {
    const findings = notOk(
      diagnoseInstallation(installation({ intake: queue("gyre-intake", { error: "AccessDenied: no" }) })),
    );
    expect(findings.map((f) => [f.hop, f.status, f.message])).toEqual([
      ["intake", "WARN", "Could not read the queue gyre-intake: AccessDenied: no"],
    ]);
  });

  it("fails dispatch for a blocked job whose requirements ended, and for a queued job whose execution is gone or over", () => {
    const done = job({
      name: "test",
      number: 6,
      status: "success",
      allocations: { "0": { status: "success" } },
    });
    const blocked = job({
      status: "blocked",
      requires: ["test"],
      allocations: { "0": { status: "queued" } },
    });
    const findings = notOk(
      diagnoseInstallation(installation({ jobs: [blocked], workflowJobs: { [WF]: [done, blocked] } })),
    );
    expect(findings.map((f) => [f.hop, f.message])).toEqual([
      [
        "dispatch",
        "Job gh/acme/api/7 (build) is blocked although every job it requires has ended (test success): its workflow was not advanced when they finished.",
      ],
    ]);
    const name = "33333333-3333-4333-8333-333333333333-1-0";
    for (const [state, words] of [
      ["missing", "does not exist"],
      ["ended", "ended before any builder took it"],
    ] as const) {
      const [found] = notOk(
        diagnoseInstallation(installation({ jobs: [job()], executions: { [name]: state } })),
      );
      expect(found?.hop).toBe("dispatch");
      expect(found?.message).toContain(`the execution ${name}`);
      expect(found?.message).toContain(words);
    }
  });

  it("fails dispatch for a job whose allocations all ended but that was never settled", () => {
    const unsettled = job({ status: "running", allocations: { "0": { status: "success" } } });
    expect(notOk(diagnoseInstallation(installation({ jobs: [unsettled] }))).map((f) => f.message)).toEqual([
      "Job gh/acme/api/7 (build) is running although all its allocations ended (success): the report that ended them did not settle the job.",
    ]);
  });

  it("fails intake for a setup pipeline whose setup workflow ended without continuing", () => {
    const setup = pipeline({ state: "setup" });
    expect(
      notOk(
        diagnoseInstallation(
          installation({ latestPipelines: [setup], setupWorkflows: { [PIPELINE]: ["success"] } }),
        ),
      ).map((f) => f.message),
    ).toEqual([
      `Setup pipeline gh/acme/api #3 (${PIPELINE}) is still in setup although its setup workflow ended (success): it was never continued.`,
    ]);
    expect(
      notOk(
        diagnoseInstallation(
          installation({ latestPipelines: [setup], setupWorkflows: { [PIPELINE]: ["running"] } }),
        ),
      ),
    ).toEqual([]);
  });

  it("warns for a job running past the maximum job time, and fails it 10 minutes later", () => {
    const long = (s: number) =>
      job({
        status: "running",
        allocations: { "0": { status: "running", nodeId: "node-a", startedAt: ago(s) } },
      });
    const [late] = notOk(diagnoseInstallation(installation({ jobs: [long(18_100)] })));
    expect([late?.hop, late?.status]).toEqual(["job_processing", "WARN"]);
    expect(late?.message).toBe(
      "Job gh/acme/api/7 (build) allocation 0 has run for 5 h, past the maximum job time (18000 s): its agent should have stopped it as timedout.",
    );
    const [over] = notOk(diagnoseInstallation(installation({ jobs: [long(18_700)] })));
    expect([over?.hop, over?.status, over?.message]).toEqual([
      "job_processing",
      "FAIL",
      "Job gh/acme/api/7 (build): allocation 0 (attempt 1) ran past the maximum run time (18000 s) without its node ending it.",
    ]);
  });
});

describe("one job", () => {
  it("puts a queued job of a class nobody offers at scheduling, with its queue and queue timeout", () => {
    const j = job({ resourceClass: "large" });
    const { at, findings } = diagnoseJob(jobSnapshot(j));
    expect(at).toBe("scheduling");
    expect(findings.map((f) => [f.hop, f.status])).toEqual([
      ["intake", "OK"],
      ["dispatch", "OK"],
      ["scheduling", "FAIL"],
    ]);
    expect(findings[2]?.message).toBe(
      `Job gh/acme/api/7 (build) has been queued for 2 min on gyre-jobs-large; unless a builder takes it by ${new Date(NOW - 120_000 + 86_400_000).toISOString()} it ends infrastructure_fail. No ready builder node offers resource class large (they offer small, medium): this job runs once one that does joins.`,
    );
  });

  it("says which requirements a blocked job waits for, and that nothing is wrong", () => {
    const test = job({ name: "test", number: 6, status: "running" });
    const j = job({ status: "blocked", requires: ["test"] });
    const { at, findings } = diagnoseJob(jobSnapshot(j, { workflowJobs: [test, j] }));
    expect(at).toBe("dispatch");
    expect(notOk(findings)).toEqual([]);
    expect(findings[1]?.message).toBe("Job gh/acme/api/7 (build) is blocked: it waits for test (running).");
  });

  it("puts a job running on a silent node at the nodes hop, and says the reconciler will retry it", () => {
    const j = job({
      status: "running",
      allocations: { "0": { status: "running", nodeId: "node-a", startedAt: ago(100) } },
    });
    const { at, findings } = diagnoseJob(jobSnapshot(j, { nodes: [node({ heartbeatAt: NOW - 50_000 })] }));
    expect(at).toBe("nodes");
    expect(findings.map((f) => [f.hop, f.status])).toEqual([
      ["intake", "OK"],
      ["dispatch", "OK"],
      ["scheduling", "OK"],
      ["nodes", "FAIL"],
      ["job_processing", "FAIL"],
    ]);
    expect(findings[2]?.message).toBe(`Allocation 0 was claimed by node node-a at ${ago(100)}.`);
    expect(findings[4]?.message).toBe(
      "Job gh/acme/api/7 (build): Builder node node-a stopped heartbeating while it ran allocation 0 (attempt 1).",
    );
  });

  it("finds a healthy running job at job processing with every hop OK", () => {
    const j = job({
      status: "running",
      allocations: { "0": { status: "running", nodeId: "node-a", startedAt: ago(100) } },
    });
    const { at, findings } = diagnoseJob(jobSnapshot(j));
    expect(at).toBe("job_processing");
    expect(notOk(findings)).toEqual([]);
    expect(findings.at(-1)?.message).toBe("Allocation 0 has run for 100 s (the maximum is 18000 s).");
  });

  it("says an ended job is not stuck, and fails one Gyre gave up on with its message", () => {
    const ok = diagnoseJob(
      jobSnapshot(
        job({ status: "success", stoppedAt: ago(10), allocations: { "0": { status: "success" } } }),
      ),
    );
    expect(ok.at).toBe("job_processing");
    expect(notOk(ok.findings)).toEqual([]);
    const gaveUp = job({
      status: "infrastructure_fail",
      stoppedAt: ago(10),
      allocations: { "0": { status: "infrastructure_fail" } },
      messages: [
        {
          type: "error",
          message:
            "No builder offering resource class large took this job within the queue timeout (86400 s).",
        },
      ],
    });
    const failed = diagnoseJob(jobSnapshot(gaveUp));
    expect(notOk(failed.findings).map((f) => f.message)).toEqual([
      `Job gh/acme/api/7 (build) ended infrastructure_fail at ${ago(10)}: it is not stuck. No builder offering resource class large took this job within the queue timeout (86400 s).`,
    ]);
  });
});

describe("span", () => {
  it("reads in the unit a person would use", () => {
    expect([span(0), span(119_000), span(7 * 60_000), span(3 * 3600_000), span(50 * 3600_000)]).toEqual([
      "0 s",
      "119 s",
      "7 min",
      "3 h",
      "2 d",
    ]);
  });
});
