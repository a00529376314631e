/**
 * `gyre doctor`'s judgement, from a snapshot of what the table, the queues and the state machine
 * hold (doctor/index.ts reads it): the reference's "Debugging Queuing Builds" walk (dispatcher,
 * picard-dispatcher, scheduler, Nomad nodes, job processing) as Gyre's five hops. Pure: the same
 * snapshot always gives the same findings, so every rule is tested without a stack.
 *
 * The rules ask the code that acts the question it acts on (`waitingCause` is what a queued job's
 * `messages` say, `lostAllocation` what the reconciler's next pass does), so doctor never tells
 * a story the rest of Gyre does not.
 */

import { PIPELINE_PARAMETER } from "../config/compile.ts";
import { executionName, refsOf } from "../dispatch/execution.ts";
import { type Fleet, lostAllocation } from "../dispatch/reconcile.ts";
import { type Job, type JobStatus, TERMINAL_ALLOCATION, TERMINAL_JOB } from "../job/index.ts";
import { isDraining, type Node, takesAllocations, type WaitingCause, waitingCause } from "../node/index.ts";
import type { Pipeline } from "../pipeline/model.ts";
import { readiness, type WorkflowStatus } from "../workflow/index.ts";

/** The five hops a job takes, in order. */
export const HOPS = ["intake", "dispatch", "scheduling", "nodes", "job_processing"] as const;
export type Hop = (typeof HOPS)[number];
export type Verdict = "OK" | "WARN" | "FAIL";

export interface Finding {
  hop: Hop;
  status: Verdict;
  message: string;
  /** What to do about it (WARN and FAIL). */
  remedy?: string;
}

/** What a queue's GetQueueAttributes answered, with its dead-letter queue's. */
export interface QueueReading {
  name: string;
  visible: number;
  inFlight: number;
  delayed: number;
  deadLetter?: { name: string; visible: number; maxReceiveCount?: number; error?: string };
  /** Why the queue could not be read (a missing permission, a deleted queue). */
  error?: string;
}

export type ExecutionState = "running" | "ended" | "missing";

export interface Settings {
  heartbeatSeconds: number;
  queueTimeoutSeconds: number;
  maxJobSeconds: number;
}

interface Common {
  now: number;
  settings: Settings;
  nodes: Node[];
  /** Execution states by execution name, for the queued allocations that were checked. */
  executions: Record<string, ExecutionState>;
  /** Resource class → the class whose queue carries it (dispatch/execution.ts queueClassFor). */
  queueClass: Record<string, string>;
  /** Job queues by the class they carry. */
  jobQueues: Record<string, QueueReading>;
}

export interface InstallationSnapshot extends Common {
  /** Blocked, queued and running jobs (the active index). */
  jobs: Job[];
  /** Every job of each workflow that has a blocked job (to read its requirements). */
  workflowJobs: Record<string, Job[]>;
  pendingPipelines: Pipeline[];
  /** Each project's newest pipeline per branch or tag (among its latest). */
  latestPipelines: Pipeline[];
  /** The workflows' statuses of each `setup` pipeline among those. */
  setupWorkflows: Record<string, WorkflowStatus[]>;
  intake: QueueReading;
}

export interface JobSnapshot extends Common {
  job: Job;
  pipeline?: Pipeline;
  /** Every job of the job's workflow, itself included. */
  workflowJobs: Job[];
}

/**
 * How long a record may sit in a state that should pass at once before it counts as stuck: the
 * reconciler's grace period (dispatch/reconcile.ts), after which it repairs such records.
 */
export const GRACE_MS = 30_000;
/** A queued job older than this, on a fleet with room for it, was passed over. */
export const UNCLAIMED_MS = 60_000;
/** Findings of one kind listed before the rest are summed up. */
const LIST_MAX = 10;
/** What to look at when the reconciler does not do what it should. */
const NOT_RECONCILED =
  "If it stays, the reconciler is not running: read its `reconciler:` lines in the server log (on AWS, the Reconcile function's logs).";
/** How often the reconciler runs. */
const NEXT_PASS = "at its next pass (every minute on AWS, every third of heartbeatSeconds locally)";
const RECONCILER = `The reconciler repairs this ${NEXT_PASS}. ${NOT_RECONCILED}`;

/** A span in the unit a person reads it in: `42 s`, `7 min`, `3 h`, `2 d`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h` : `${Math.round(h / 24)} d`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const iso = (ms: number) => new Date(ms).toISOString();
const jobRef = (j: Job) => `${j.projectSlug}/${j.number} (${j.name})`;
const pipelineRef = (p: Pipeline) => `${p.projectSlug} #${p.number} (${p.id})`;
const refName = (p: Pipeline) =>
  p.vcs.tag !== undefined ? `tag ${p.vcs.tag}` : `branch ${p.vcs.branch ?? "(none)"}`;
const nodeRef = (n: Node) => (n.name ? `${n.id} (${n.name})` : n.id);
const since = (at: string | undefined, now: number) => (at ? now - Date.parse(at) : 0);

/** The class a job waits on the queue of. */
const classOf = (s: Common, job: Job) => {
  const own = job.plan?.resourceClass ?? "medium";
  return s.queueClass[own] ?? own;
};

const fleetOf = (s: Common): Fleet => {
  const deadline = s.now - s.settings.heartbeatSeconds * 1000;
  const alive = new Map<string, Node>();
  const revoked = new Set<string>();
  for (const n of s.nodes) {
    if (n.revokedAt !== undefined) revoked.add(n.id);
    else if (n.heartbeatAt >= deadline) alive.set(n.id, n);
  }
  return { alive, revoked };
};

const clockOf = (s: Common) => ({ now: () => s.now, resources: { maxJobSeconds: s.settings.maxJobSeconds } });

/** Findings past the first LIST_MAX of one kind, summed up in one. */
function capped(findings: Finding[], what: string): Finding[] {
  if (findings.length <= LIST_MAX) return findings;
  const rest = findings.length - LIST_MAX;
  const last = findings[LIST_MAX]!;
  return [
    ...findings.slice(0, LIST_MAX),
    { ...last, message: `…and ${plural(rest, what)} more like these.` },
  ];
}

// ---------------------------------------------------------------------------------------------
// Rules shared by the two views

function deadLetters(queue: QueueReading, hop: Hop, what: string, remedy: string): Finding | undefined {
  const dl = queue.deadLetter;
  if (!dl) return undefined;
  if (dl.error)
    return {
      hop,
      status: "WARN",
      message: `Could not read the dead-letter queue ${dl.name} of ${queue.name}: ${dl.error}`,
      remedy:
        "Give this function sqs:GetQueueAttributes on the dead-letter queue, or read it in the SQS console.",
    };
  if (dl.visible === 0) return undefined;
  const receives = dl.maxReceiveCount === undefined ? "" : `, each received ${dl.maxReceiveCount} times`;
  return {
    hop,
    status: "FAIL",
    message: `${plural(dl.visible, "message")} in the dead-letter queue ${dl.name}: ${what}${receives}.`,
    remedy,
  };
}

const unreadable = (queue: QueueReading, hop: Hop): Finding => ({
  hop,
  status: "WARN",
  message: `Could not read the queue ${queue.name}: ${queue.error}`,
  remedy: "Give this function sqs:GetQueueAttributes on it, and check that it exists.",
});

/** A blocked job whose requirements all ended, left blocked past the grace period. */
function strandedBlock(s: Common, job: Job, siblings: readonly Job[]): Finding | undefined {
  if (job.status !== "blocked") return undefined;
  const statusOf = new Map(siblings.map((j) => [j.name, j.status]));
  if (readiness(job, (n) => statusOf.get(n)) === "waiting" || job.updatedAt > s.now - GRACE_MS)
    return undefined;
  const ended = job.requires.map((r) => `${r} ${statusOf.get(r) ?? "missing"}`).join(", ");
  return {
    hop: "dispatch",
    status: "FAIL",
    message: `Job ${jobRef(job)} is blocked although every job it requires has ended (${ended}): its workflow was not advanced when they finished.`,
    remedy: RECONCILER,
  };
}

/** A job still queued or running whose every allocation has ended. */
function unsettled(s: Common, job: Job): Finding | undefined {
  const all = Object.values(job.allocations);
  if (job.status === "blocked" || !all.every((a) => TERMINAL_ALLOCATION.has(a.status))) return undefined;
  if (job.updatedAt > s.now - GRACE_MS) return undefined;
  return {
    hop: "dispatch",
    status: "FAIL",
    message: `Job ${jobRef(job)} is ${job.status} although all its allocations ended (${all.map((a) => a.status).join(", ")}): the report that ended them did not settle the job.`,
    remedy: RECONCILER,
  };
}

/** The queued allocations of a job whose execution is gone or over: nothing puts them on a queue. */
function lostExecutions(s: Common, job: Job): Finding[] {
  if (job.status !== "queued" && job.status !== "running") return [];
  // Its execution starts just after the job is written: only a settled wait counts.
  if (since(job.queuedAt ?? job.createdAt, s.now) < GRACE_MS) return [];
  return refsOf(job).flatMap((ref): Finding[] => {
    if (job.allocations[String(ref.index)]?.status !== "queued") return [];
    const name = executionName(ref);
    const state = s.executions[name];
    if (state === "missing")
      return [
        {
          hop: "dispatch",
          status: "FAIL",
          message: `Job ${jobRef(job)} is queued, but the execution ${name} that puts allocation ${ref.index} on its queue does not exist.`,
          remedy: `The reconciler starts it again (same attempt) once the job has waited 10 minutes on AWS, at its next pass locally. ${NOT_RECONCILED}`,
        },
      ];
    if (state === "ended")
      return [
        {
          hop: "dispatch",
          status: "FAIL",
          message: `Job ${jobRef(job)} is queued, but the execution ${name} of allocation ${ref.index} ended before any builder took it.`,
          remedy: `The reconciler gives the job a new attempt ${NEXT_PASS}, at no cost to its retries. ${NOT_RECONCILED}`,
        },
      ];
    return [];
  });
}

const CAPACITY_REMEDY: Record<WaitingCause, (cls: string) => string> = {
  no_ready_node: () =>
    "Start a builder: `gyre start --agents N` locally (the supervisor restarts dead agents); on AWS, check the builder instances and their agents' logs. `gyre nomad node status` lists the nodes.",
  class_not_offered: (cls) =>
    `Add a builder node whose resources, less its reserve, fit resource class ${cls} (GYRE_NODE_CPUS, GYRE_NODE_MEMORY_MB, GYRE_NODE_RESERVED_CPUS, GYRE_NODE_RESERVED_MEMORY_MB), or give the jobs a resource_class the nodes offer.`,
  draining: () =>
    "End a drain with `gyre nomad node drain -disable <node>`, or mark an ineligible node eligible with `gyre nomad node eligibility -enable <node>` (`gyre nomad node status` shows which), or add a node.",
  full: () =>
    "Nothing is broken: every node offering it runs as much as fits. Wait, or add builder nodes if jobs wait too long.",
};

/** Why queued work of `cls` waits, graded: no node can ever take it (FAIL) or all are busy (WARN). */
function capacity(
  s: Common,
  cls: string,
  lead: string,
  oldestMs: number,
): { status: Verdict; message: string; remedy?: string } {
  const waiting = waitingCause(cls, s.nodes);
  const queue = s.jobQueues[cls]?.name ?? `the ${cls} queue`;
  if (waiting)
    return {
      status: waiting.cause === "full" ? "WARN" : "FAIL",
      message: `${lead} ${waiting.message}`,
      remedy: CAPACITY_REMEDY[waiting.cause](cls),
    };
  if (oldestMs > UNCLAIMED_MS)
    return {
      status: "WARN",
      message: `${lead} A ready node offering resource class ${cls} has room, but none has taken it for ${span(oldestMs)}.`,
      remedy: `Check that the agents poll ${queue} (GYRE_QUEUES) and read their logs for "claim failed".`,
    };
  return {
    status: "OK",
    message: `${lead} A ready node offering resource class ${cls} has room: it takes the job at its next receive.`,
  };
}

const DEAD_JOB_REMEDY = (queue: string) =>
  `Their jobs wait queued until the queue timeout. Fix what refuses the claims (agent log lines "claim failed"), then move the messages back to ${queue} (SQS "Start DLQ redrive").`;

const silentFor = (s: Common, n: Node) => s.now - n.heartbeatAt;
const deadlineMs = (s: Common) => s.settings.heartbeatSeconds * 1000;

/** A ready node's heartbeat graded: past the deadline (FAIL), two beats missed (WARN), on time. */
function heartbeat(s: Common, n: Node): Verdict {
  const silent = silentFor(s, n);
  if (silent > deadlineMs(s)) return "FAIL";
  return silent > (2 * deadlineMs(s)) / 3 ? "WARN" : "OK";
}

function nodeLine(s: Common, n: Node, running: number): string {
  const total = n.resources;
  const reserved = n.reserved ?? { cpus: 0, memoryMb: 0 };
  const used = n.allocated ?? { cpus: 0, memoryMb: 0 };
  const room = total
    ? `, ${used.cpus}/${total.cpus - reserved.cpus} vCPU and ${used.memoryMb}/${total.memoryMb - reserved.memoryMb} MB in use`
    : "";
  const classes = n.classes ? `, offers ${Object.keys(n.classes).join(", ")}` : ", offers every class";
  return `Node ${nodeRef(n)}: ready, heartbeat ${span(silentFor(s, n))} ago, ${plural(running, "allocation")}${room}${classes}.`;
}

const LATE_REMEDY =
  "Check the builder host: its agent process and its way to the API (agent log lines, `agent ... exited` in the server log).";

function silentNode(s: Common, n: Node, running: number): Finding {
  const holds = running > 0 ? `; it holds ${plural(running, "running allocation")}` : "";
  return {
    hop: "nodes",
    status: "FAIL",
    message: `Node ${nodeRef(n)} last heartbeated ${span(silentFor(s, n))} ago, past the ${s.settings.heartbeatSeconds} s deadline, and is still marked ready${holds}.`,
    remedy: `It is gone or cut off: the reconciler marks it down and gives what it ran a new attempt ${NEXT_PASS}. ${LATE_REMEDY} ${NOT_RECONCILED}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The whole installation

export function diagnoseInstallation(s: InstallationSnapshot): Finding[] {
  return [...intake(s), ...dispatch(s), ...scheduling(s), ...nodes(s), ...processing(s)];
}

function intake(s: InstallationSnapshot): Finding[] {
  const out: Finding[] = [];
  const q = s.intake;
  if (q.error) out.push(unreadable(q, "intake"));
  else {
    const dead = deadLetters(
      q,
      "intake",
      "triggers the intake failed to turn into pipelines",
      `Read the intake's errors (server log lines \`gyre: intake\`; on AWS the intake function's logs), fix the cause, then move the messages back to ${q.name} (SQS "Start DLQ redrive"). Locally the dead-letter queue is lost at a restart: push again or run \`gyre trigger\`.`,
    );
    if (dead) out.push(dead);
    out.push({
      hop: "intake",
      status: "OK",
      message: `Intake queue ${q.name}: ${q.visible} waiting, ${q.inFlight} in flight${q.deadLetter && !dead ? `; dead-letter queue ${q.deadLetter.name}: ${q.deadLetter.visible}` : ""}.`,
    });
  }
  const pending = s.pendingPipelines
    .filter((p) => Date.parse(p.createdAt) < s.now - GRACE_MS)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .map(
      (p): Finding => ({
        hop: "intake",
        status: "FAIL",
        message: `Pipeline ${pipelineRef(p)} has been pending for ${span(s.now - Date.parse(p.createdAt))}: the intake has not read and compiled its config.`,
        remedy:
          q.visible + q.inFlight > 0
            ? `The intake queue holds ${plural(q.visible + q.inFlight, "trigger")}: the intake is behind or not running (server log lines \`gyre: intake\`; on AWS the intake function's errors and throttles).`
            : `No trigger waits in the intake queue: its message was lost. The reconciler sends it again ${NEXT_PASS}. ${NOT_RECONCILED}`,
      }),
    );
  out.push(...capped(pending, "pending pipeline"));
  // A trigger that passed parameters the config does not take is that trigger's mistake, not a
  // broken config or intake: a warning.
  const triggerOnly = (p: Pipeline) =>
    p.errors.length > 0 &&
    p.errors.every((e) => e.type === "config" && e.message.startsWith(`${PIPELINE_PARAMETER} "`));
  const errored = s.latestPipelines
    .filter((p) => p.state === "errored")
    .map(
      (p): Finding => ({
        hop: "intake",
        status: triggerOnly(p) ? "WARN" : "FAIL",
        message: `The newest pipeline of ${p.projectSlug} on ${refName(p)}, #${p.number} (${p.id}), errored: ${p.errors.map((e) => `${e.type}: ${e.message}`).join("; ")}`,
        remedy: p.errors.some((e) => e.type === "config-fetch")
          ? "Check the project's repository URL, that the branch or tag exists and that .circleci/config.yml is there at that commit; the server must be able to read the repository."
          : triggerOnly(p)
            ? "Trigger again with only the parameters the config declares (its top-level `parameters:`), or declare the ones passed."
            : "Fix .circleci/config.yml (`gyre config validate` shows the same errors), then push or `gyre trigger` again.",
      }),
    );
  out.push(...capped(errored, "errored pipeline"));
  const stalled = s.latestPipelines
    .filter((p) => p.state === "setup")
    .flatMap((p): Finding[] => {
      const statuses = s.setupWorkflows[p.id] ?? [];
      const open = statuses.some((st) => ["running", "failing", "on_hold"].includes(st));
      if (open || statuses.length === 0) return [];
      return [
        {
          hop: "intake",
          status: "FAIL",
          message: `Setup pipeline ${pipelineRef(p)} is still in setup although its setup workflow ended (${statuses.join(", ")}): it was never continued.`,
          remedy:
            "Its setup job must send the continuation (POST /api/v2/pipeline/continue with $CIRCLE_CONTINUATION_KEY, as the continuation orb does); `gyre logs` shows what it did. Trigger the pipeline again once it does.",
        },
      ];
    });
  out.push(...capped(stalled, "setup pipeline"));
  if (pending.length + errored.length + stalled.length === 0)
    out.push({
      hop: "intake",
      status: "OK",
      message: `No pipeline pending longer than ${GRACE_MS / 1000} s, none left in setup, and no branch or tag whose newest pipeline errored (${plural(s.latestPipelines.length, "branch and tag", "branches and tags")} checked).`,
    });
  return out;
}

function dispatch(s: InstallationSnapshot): Finding[] {
  const problems: Finding[] = [];
  for (const job of s.jobs) {
    const stuck = strandedBlock(s, job, s.workflowJobs[job.workflowId] ?? []) ?? unsettled(s, job);
    problems.push(...(stuck ? [stuck] : lostExecutions(s, job)));
  }
  const count = (st: JobStatus) => s.jobs.filter((j) => j.status === st).length;
  const checked = Object.keys(s.executions).length;
  return [
    ...capped(problems, "stuck job"),
    ...(problems.length === 0
      ? [
          {
            hop: "dispatch" as const,
            status: "OK" as const,
            message: `${plural(count("blocked"), "job")} blocked on their requirements, ${count("queued")} queued, ${count("running")} running; ${plural(checked, "queued allocation")} checked, each with its execution running.`,
          },
        ]
      : []),
  ];
}

function scheduling(s: InstallationSnapshot): Finding[] {
  const out: Finding[] = [];
  const queued = new Map<string, Job[]>();
  for (const job of s.jobs) {
    const waits = job.status === "queued" || job.status === "running";
    if (!waits || !job.plan || !Object.values(job.allocations).some((a) => a.status === "queued")) continue;
    const cls = classOf(s, job);
    queued.set(cls, [...(queued.get(cls) ?? []), job]);
  }
  const depths: string[] = [];
  for (const [cls, q] of Object.entries(s.jobQueues)) {
    if (q.error) {
      out.push(unreadable(q, "scheduling"));
      continue;
    }
    const dead = deadLetters(
      q,
      "scheduling",
      `allocations of resource class ${cls} that builders received without a claim settling`,
      DEAD_JOB_REMEDY(q.name),
    );
    if (dead) out.push(dead);
    depths.push(`${cls} ${q.visible}${q.inFlight > 0 ? ` (+${q.inFlight} in flight)` : ""}`);
  }
  for (const [cls, jobs] of queued) {
    const oldest = Math.max(...jobs.map((j) => since(j.queuedAt ?? j.createdAt, s.now)));
    const lead = `${plural(jobs.length, "job")} of resource class ${cls} queued, the oldest for ${span(oldest)}:`;
    out.push({ hop: "scheduling", ...capacity(s, cls, lead, oldest) });
  }
  out.push({
    hop: "scheduling",
    status: "OK",
    message: `Job queues (messages waiting): ${depths.join(", ") || "none readable"}.`,
  });
  return out;
}

function nodes(s: InstallationSnapshot): Finding[] {
  const out: Finding[] = [];
  const runningOn = new Map<string, string[]>();
  for (const job of s.jobs)
    for (const ref of refsOf(job)) {
      const a = job.allocations[String(ref.index)]!;
      if (a.status === "running" && a.nodeId)
        runningOn.set(a.nodeId, [
          ...(runningOn.get(a.nodeId) ?? []),
          `${jobRef(job)} allocation ${ref.index}`,
        ]);
    }
  if (s.nodes.length === 0)
    return [
      {
        hop: "nodes",
        status: "FAIL",
        message: "No builder node is registered: nothing can run a job.",
        remedy: CAPACITY_REMEDY.no_ready_node(""),
      },
    ];
  const ready = s.nodes.filter((n) => n.status === "ready" && n.revokedAt === undefined);
  for (const n of ready) {
    const running = runningOn.get(n.id)?.length ?? 0;
    const beat = heartbeat(s, n);
    if (beat === "FAIL") out.push(silentNode(s, n, running));
    else if (beat === "WARN")
      out.push({
        hop: "nodes",
        status: "WARN",
        message: `Node ${nodeRef(n)} last heartbeated ${span(silentFor(s, n))} ago: it missed two heartbeats (every ${Math.round(s.settings.heartbeatSeconds / 3)} s) and is down at ${s.settings.heartbeatSeconds} s.`,
        remedy: LATE_REMEDY,
      });
    else if (isDraining(n))
      out.push({
        hop: "nodes",
        status: "WARN",
        message: `Node ${nodeRef(n)} is draining since ${iso(n.drainedAt!)}${n.drainDeadline ? ` (deadline ${iso(n.drainDeadline)})` : ""}: it takes no new job; ${plural(running, "allocation")} still running on it.`,
        remedy: `\`gyre nomad node drain -disable ${n.id}\` makes it eligible again.`,
      });
    else if (n.ineligibleAt !== undefined)
      out.push({
        hop: "nodes",
        status: "WARN",
        message: `Node ${nodeRef(n)} was marked ineligible at ${iso(n.ineligibleAt)}: it takes no new job; ${plural(running, "allocation")} still running on it.`,
        remedy: `\`gyre nomad node eligibility -enable ${n.id}\` makes it eligible again.`,
      });
    else out.push({ hop: "nodes", status: "OK", message: nodeLine(s, n, running) });
  }
  if (ready.length > 0 && ready.every((n) => !takesAllocations(n)))
    out.unshift({
      hop: "nodes",
      status: "FAIL",
      message: ready.every(isDraining)
        ? `Every ready builder node is draining (${plural(ready.length, "node")}): no node takes a new job.`
        : `Every ready builder node is draining or ineligible (${plural(ready.length, "node")}): no node takes a new job.`,
      remedy: CAPACITY_REMEDY.draining(""),
    });
  if (ready.length === 0)
    out.unshift({
      hop: "nodes",
      status: "FAIL",
      message: `No builder node is ready: all ${plural(s.nodes.length, "registered node")} are down.`,
      remedy: CAPACITY_REMEDY.no_ready_node(""),
    });
  const down = s.nodes.filter((n) => !ready.includes(n));
  for (const n of down) {
    const held = runningOn.get(n.id) ?? [];
    if (held.length === 0) continue;
    const why = n.revokedAt !== undefined ? "revoked" : n.leftAt !== undefined ? "left" : "down";
    out.push({
      hop: "nodes",
      status: "FAIL",
      message: `Node ${nodeRef(n)} is ${why} (since ${iso(n.downAt ?? n.revokedAt ?? n.heartbeatAt)}), yet ${plural(held.length, "allocation")} are still recorded running on it: ${held.join(", ")}.`,
      remedy: RECONCILER,
    });
  }
  if (down.length > 0 && down.every((n) => !runningOn.has(n.id)))
    out.push({
      hop: "nodes",
      status: "OK",
      message: `${plural(down.length, "node")} down (left, revoked or silent; kept a day), nothing recorded running on them.`,
    });
  return out;
}

function processing(s: InstallationSnapshot): Finding[] {
  const fleet = fleetOf(s);
  const problems: Finding[] = [];
  let running = 0;
  for (const job of s.jobs)
    for (const ref of refsOf(job)) {
      const a = job.allocations[String(ref.index)]!;
      if (a.status !== "running") continue;
      running++;
      const found = runningProblem(s, job, a, ref, fleet);
      if (found) problems.push(found);
    }
  return [
    ...capped(problems, "running allocation"),
    ...(problems.length === 0
      ? [
          {
            hop: "job_processing" as const,
            status: "OK" as const,
            message: `${plural(running, "allocation")} running, none on a silent node or past the maximum job time (${s.settings.maxJobSeconds} s).`,
          },
        ]
      : []),
  ];
}

/** A running allocation the reconciler's next pass ends (FAIL), or one overdue (WARN). */
function runningProblem(
  s: Common,
  job: Job,
  a: Job["allocations"][string],
  ref: ReturnType<typeof refsOf>[number],
  fleet: Fleet,
): Finding | undefined {
  const lost = lostAllocation(clockOf(s), a, ref, fleet, deadlineMs(s));
  const retry =
    lost && (lost.free || job.retries < 1)
      ? "The reconciler gives the job a new attempt on another node"
      : "The reconciler ends the job infrastructure_fail (its one retry is used)";
  if (lost)
    return {
      hop: "job_processing",
      status: "FAIL",
      message: `Job ${jobRef(job)}: ${lost.message}`,
      remedy: `${retry} ${NEXT_PASS}. ${NOT_RECONCILED}`,
    };
  const ran = since(a.startedAt, s.now);
  if (ran > s.settings.maxJobSeconds * 1000)
    return {
      hop: "job_processing",
      status: "WARN",
      message: `Job ${jobRef(job)} allocation ${ref.index} has run for ${span(ran)}, past the maximum job time (${s.settings.maxJobSeconds} s): its agent should have stopped it as timedout.`,
      remedy: `Check the agent on node ${a.nodeId}; the reconciler ends the allocation 10 minutes past the maximum.`,
    };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// One job

/** The findings on one job, hop by hop up to where it is, and the hop it is stuck at (or at). */
export function diagnoseJob(s: JobSnapshot): { at: Hop; findings: Finding[] } {
  const { job } = s;
  const findings: Finding[] = [];
  const p = s.pipeline;
  findings.push(
    p
      ? {
          hop: "intake",
          status: "OK",
          message: `Pipeline ${pipelineRef(p)} was created from ${refName(p)} at ${p.vcs.revision.slice(0, 12)} and its config compiled (state ${p.state}).`,
        }
      : {
          hop: "intake",
          status: "WARN",
          message: `The job's pipeline ${job.pipelineId} has no record, though its jobs were written: a crash between the intake's writes.`,
          remedy:
            "Nothing to do for the job itself; trigger the pipeline again if it must show in the pipeline list.",
        },
  );
  const allocs = refsOf(job).map((ref) => ({ ref, a: job.allocations[String(ref.index)]! }));

  if (TERMINAL_JOB.has(job.status)) {
    const said = (job.messages ?? []).map((m) => m.message).join(" ");
    const failed = job.status === "infrastructure_fail";
    findings.push({
      hop: "job_processing",
      status: failed ? "FAIL" : "OK",
      message: `Job ${jobRef(job)} ended ${job.status}${job.stoppedAt ? ` at ${job.stoppedAt}` : ""}: it is not stuck.${said ? ` ${said}` : ""}`,
      ...(failed
        ? { remedy: "Its message says why Gyre gave up on it; fix that, then trigger the pipeline again." }
        : {}),
    });
    return { at: pick(findings, "job_processing"), findings };
  }

  // Dispatch: released from its requirements, put on a queue by its execution.
  if (job.status === "blocked") {
    const stuck = strandedBlock(s, job, s.workflowJobs);
    const statusOf = new Map(s.workflowJobs.map((j) => [j.name, j.status]));
    const open = job.requires.filter((r) => !TERMINAL_JOB.has(statusOf.get(r) ?? "blocked"));
    findings.push(
      stuck ?? {
        hop: "dispatch",
        status: "OK",
        message:
          open.length > 0
            ? `Job ${jobRef(job)} is blocked: it waits for ${open.map((r) => `${r} (${statusOf.get(r) ?? "missing"})`).join(", ")}.`
            : `Job ${jobRef(job)} is blocked: its requirements just ended, and it is being released.`,
      },
    );
    return { at: pick(findings, "dispatch"), findings };
  }
  if (job.status === "on_hold") {
    findings.push({
      hop: "dispatch",
      status: "WARN",
      message: `Job ${jobRef(job)} is an approval on hold: Gyre has no approve endpoint yet, so it stays on hold.`,
      remedy: "Remove the approval job from the workflow if the jobs behind it must run.",
    });
    return { at: "dispatch", findings };
  }
  const dispatchProblems = [unsettled(s, job), ...lostExecutions(s, job)].filter(
    (f): f is Finding => f !== undefined,
  );
  const queuedNames = allocs.filter((x) => x.a.status === "queued").map((x) => executionName(x.ref));
  findings.push(
    ...(dispatchProblems.length > 0
      ? dispatchProblems
      : [
          {
            hop: "dispatch" as const,
            status: "OK" as const,
            message: `Job ${jobRef(job)} is ${job.status}, attempt ${job.attempt}${
              queuedNames.length > 0
                ? `; the execution${queuedNames.length > 1 ? "s" : ""} ${queuedNames.join(", ")} put it on its queue and wait${queuedNames.length > 1 ? "" : "s"} for a builder`
                : ""
            }.`,
          },
        ]),
  );

  // Scheduling: the queue of its class, and whether a node can take it.
  const cls = classOf(s, job);
  const queue = s.jobQueues[cls];
  if (queuedNames.length > 0) {
    const waited = since(job.queuedAt ?? job.createdAt, s.now);
    const own = job.plan?.resourceClass ?? cls;
    const via = own === cls ? "" : ` (resource class ${own} has no queue of its own: it waits on ${cls}'s)`;
    const timeout = Date.parse(job.queuedAt ?? job.createdAt) + s.settings.queueTimeoutSeconds * 1000;
    const lead = `Job ${jobRef(job)} has been queued for ${span(waited)} on ${queue?.name ?? `the ${cls} queue`}${via}; unless a builder takes it by ${iso(timeout)} it ends infrastructure_fail.`;
    findings.push({ hop: "scheduling", ...capacity(s, cls, lead, waited) });
    const dead =
      queue && !queue.error
        ? deadLetters(
            queue,
            "scheduling",
            `allocations of resource class ${cls} that builders received without a claim settling`,
            DEAD_JOB_REMEDY(queue.name),
          )
        : undefined;
    if (dead) findings.push(dead);
    if (queue?.error) findings.push(unreadable(queue, "scheduling"));
  }
  const running = allocs.filter((x) => x.a.status === "running");
  if (running.length === 0) return { at: pick(findings, "scheduling"), findings };
  findings.push(
    ...running.map(
      ({ ref, a }): Finding => ({
        hop: "scheduling",
        status: "OK",
        message: `Allocation ${ref.index} was claimed by node ${a.nodeId} at ${a.startedAt}.`,
      }),
    ),
  );

  // Nodes: the ones running it.
  for (const { ref, a } of running) {
    const n = s.nodes.find((x) => x.id === a.nodeId);
    if (!n)
      findings.push({
        hop: "nodes",
        status: "FAIL",
        message: `Node ${a.nodeId}, which runs allocation ${ref.index}, is not registered any more.`,
        remedy: RECONCILER,
      });
    else if (n.revokedAt !== undefined || n.status === "down")
      findings.push({
        hop: "nodes",
        status: "FAIL",
        message: `Node ${nodeRef(n)}, which runs allocation ${ref.index}, is ${n.revokedAt !== undefined ? "revoked" : "down"} since ${iso(n.downAt ?? n.revokedAt ?? n.heartbeatAt)}.`,
        remedy: RECONCILER,
      });
    else if (heartbeat(s, n) === "FAIL") findings.push(silentNode(s, n, 1));
    else
      findings.push({
        hop: "nodes",
        status: heartbeat(s, n) === "WARN" ? "WARN" : "OK",
        message: `Node ${nodeRef(n)} runs allocation ${ref.index} and last heartbeated ${span(silentFor(s, n))} ago (deadline ${s.settings.heartbeatSeconds} s)${isDraining(n) ? "; it is draining, and lets the job finish" : ""}.`,
        ...(heartbeat(s, n) === "WARN" ? { remedy: LATE_REMEDY } : {}),
      });
  }

  // Job processing: the runs themselves.
  const fleet = fleetOf(s);
  for (const { ref, a } of running) {
    findings.push(
      runningProblem(s, job, a, ref, fleet) ?? {
        hop: "job_processing",
        status: "OK",
        message: `Allocation ${ref.index} has run for ${span(since(a.startedAt, s.now))} (the maximum is ${s.settings.maxJobSeconds} s).`,
      },
    );
  }
  return { at: pick(findings, "job_processing"), findings };
}

/** The hop a job is at: its first failing hop, else its first warning one, else where it is. */
function pick(findings: readonly Finding[], where: Hop): Hop {
  return (
    findings.find((f) => f.status === "FAIL")?.hop ?? findings.find((f) => f.status === "WARN")?.hop ?? where
  );
}
