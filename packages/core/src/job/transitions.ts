/**
 * The state machine on one screen: every legal move of an allocation, a job, a pipeline and
 * a builder node, as data. Every status write in Gyre is built from this table (`jobMove`,
 * `allocationMove`, `pipelineMove`, `nodeMove` below and the store): the move's `from`
 * statuses become the write's condition, so an illegal move is refused by DynamoDB itself,
 * never written; the fields it sets are the only ones it may set; `active` says whether the
 * item enters or leaves the reconciler's active index. A replayed move finds the item already
 * moved and is answered as a no-op by its caller (it re-reads and compares).
 *
 * A workflow's status is not written: it is derived from its jobs by WORKFLOW_RULES, so it can
 * never disagree with them (no crash between two writes leaves a workflow stale).
 *
 * `docs/architecture.md` shows the diagram `renderStateDiagrams()` draws from this table; a
 * test fails when the two disagree.
 */
import type { Condition, UpdateSpec } from "../store/expression.ts";
import { activeShard } from "../table.ts";
import type { AllocationStatus, Job, JobStatus } from "./schema.ts";

export interface Move<S extends string, F extends string> {
  event: string;
  /** Statuses the move may start from; empty: the move creates the item. */
  from: readonly S[];
  /** The status it ends in, or the statuses it may end in (chosen by the caller). */
  to: readonly S[];
  /** Fields the move sets besides the status and `updatedAt`. */
  sets: readonly F[];
  /** The item enters or leaves the active index (`gsi2`) the reconciler reads. */
  active?: "enter" | "leave";
  note: string;
}

const RESULTS = ["success", "failed", "timedout", "canceled"] as const;

export const ALLOCATION_MOVES = [
  {
    event: "claim",
    from: ["queued"],
    to: ["running"],
    sets: ["nodeId", "startedAt", "taskToken"],
    note: "a builder node takes it (one winner); liveness starts here",
  },
  {
    event: "cancel",
    from: ["queued", "running"],
    to: ["canceled"],
    sets: ["stoppedAt"],
    note: "a user cancels its job: a running one's node stops it within a second or two",
  },
  {
    event: "finish",
    from: ["running"],
    to: RESULTS,
    sets: ["stoppedAt"],
    note: "the node that runs it reports the outcome",
  },
  {
    event: "lose",
    from: ["running"],
    to: ["lost"],
    sets: ["stoppedAt"],
    note: "its node stopped heartbeating; the node's later writes are refused",
  },
  {
    event: "refuse",
    from: ["queued", "running"],
    to: ["failed"],
    sets: ["stoppedAt"],
    note: "claimed but not allowed to run (a missing context)",
  },
  {
    event: "expire",
    from: ["queued"],
    to: ["infrastructure_fail"],
    sets: ["stoppedAt"],
    note: "no node took it within the queue timeout",
  },
] as const satisfies readonly Move<AllocationStatus, string>[];

export const JOB_MOVES = [
  {
    event: "create",
    from: [],
    to: ["blocked", "queued", "on_hold", "success"],
    sets: [],
    active: "enter",
    note: "written with its workflow; only blocked and queued jobs are active",
  },
  {
    event: "carry",
    from: [],
    to: ["success", "failed", "infrastructure_fail", "timedout", "canceled", "not_run", "unauthorized"],
    sets: [],
    note: "copied into a rerun's new workflow, not run again (its result stays its first workflow's)",
  },
  {
    event: "unblock",
    from: ["blocked"],
    to: ["queued"],
    sets: ["queuedAt"],
    note: "its requirements ended as it requires",
  },
  {
    event: "hold",
    from: ["blocked"],
    to: ["on_hold"],
    sets: [],
    active: "leave",
    note: "an approval job is reached",
  },
  {
    event: "pass",
    from: ["blocked"],
    to: ["success"],
    sets: ["startedAt", "stoppedAt"],
    active: "leave",
    note: "a no-op job is reached",
  },
  {
    event: "strand",
    from: ["blocked"],
    to: ["not_run"],
    sets: [],
    active: "leave",
    note: "a requirement ended otherwise: its dependencies will never be satisfied",
  },
  {
    event: "start",
    from: ["queued", "running"],
    to: ["running"],
    sets: ["startedAt"],
    note: "an allocation is claimed (with the claim, in one write)",
  },
  {
    event: "settle",
    from: ["queued", "running"],
    to: [...RESULTS, "infrastructure_fail"],
    sets: ["stoppedAt", "messages"],
    active: "leave",
    note: "every allocation is done: the worst outcome wins",
  },
  {
    event: "retry",
    from: ["queued", "running"],
    to: ["queued"],
    sets: ["attempt", "retries", "allocations", "queuedAt", "startedAt", "messages"],
    note: "a node was lost: a new attempt, the old one fenced off",
  },
  {
    event: "approve",
    from: ["on_hold"],
    to: ["success"],
    sets: ["approvedBy", "startedAt", "stoppedAt"],
    note: "a user approves the approval job: what requires it runs",
  },
  {
    event: "cancel",
    from: ["blocked", "queued", "running", "on_hold"],
    to: ["canceled"],
    sets: ["canceledBy", "stoppedAt"],
    active: "leave",
    note: "a user cancels it or its workflow: the jobs that require it are not run",
  },
  {
    event: "refuse",
    from: ["queued", "running"],
    to: ["unauthorized"],
    sets: ["stoppedAt", "messages"],
    active: "leave",
    note: "it names a context that does not exist",
  },
] as const satisfies readonly Move<JobStatus, string>[];

export type PipelineState = "pending" | "created" | "errored" | "setup-pending" | "setup";

export const PIPELINE_MOVES = [
  {
    event: "trigger",
    from: [],
    to: ["pending"],
    sets: [],
    active: "enter",
    note: "accepted through the API, before its config is read",
  },
  {
    event: "create",
    from: [],
    to: ["created", "setup", "errored"],
    sets: [],
    note: "a push read and compiled by the intake",
  },
  {
    event: "compile",
    from: ["pending"],
    to: ["created", "setup", "errored"],
    sets: ["vcs", "errors", "continuation"],
    active: "leave",
    note: "the intake read and compiled its config",
  },
  {
    event: "continue",
    from: ["setup"],
    to: ["created", "errored"],
    sets: ["errors", "continuationDigest"],
    note: "its setup job sent the continuation",
  },
] as const satisfies readonly Move<PipelineState, string>[];

export type NodeStatus = "ready" | "down";

export const NODE_MOVES = [
  {
    event: "register",
    from: [],
    to: ["ready"],
    sets: [
      "name",
      "version",
      "heartbeatAt",
      "allocations",
      "credentialHash",
      "resources",
      "reserved",
      "classes",
      "allocated",
    ],
    note: "a builder presents the join token and gets its own credential",
  },
  {
    event: "heartbeat",
    from: ["ready", "down"],
    to: ["ready"],
    sets: ["heartbeatAt", "allocations", "running", "allocated", "busyAt", "pollFailures", "claiming"],
    note: "a heartbeat within the deadline (a down node that comes back gets new work only)",
  },
  {
    event: "miss",
    from: ["ready"],
    to: ["down"],
    sets: ["downAt"],
    note: "no heartbeat within the deadline: its running allocations are lost",
  },
  {
    event: "revoke",
    from: ["ready", "down"],
    to: ["down"],
    sets: ["revokedAt", "downAt"],
    note: "an operator revoked its credential: its calls are refused, its running allocations lost",
  },
  {
    event: "drain",
    from: ["ready"],
    to: ["ready"],
    sets: ["drainedAt", "drainDeadline"],
    note: "an operator drains it: it takes no new allocation, the running ones finish",
  },
  {
    event: "undrain",
    from: ["ready"],
    to: ["ready"],
    sets: ["drainedAt", "drainDeadline"],
    note: "an operator ends the drain: it is eligible for new allocations again",
  },
  {
    event: "eligibility",
    from: ["ready"],
    to: ["ready"],
    sets: ["ineligibleAt"],
    note: "an operator marks it ineligible for new allocations (not draining: the running ones go on), or eligible again",
  },
  {
    event: "leave",
    from: ["ready"],
    to: ["down"],
    sets: ["leftAt", "downAt", "allocations", "running", "allocated"],
    note: "the builder drained (SIGTERM: its running allocations finished) and left",
  },
] as const satisfies readonly Move<NodeStatus, string>[];

/**
 * A workflow's status from its jobs, as CircleCI reports it, first rule that matches wins.
 * `ready` = blocked with every requirement met (about to be queued).
 */
export const WORKFLOW_RULES = [
  { status: "failing", when: "a job is queued, running or ready, and one has failed" },
  { status: "running", when: "a job is queued, running or ready" },
  { status: "canceled", when: "a user canceled the workflow" },
  { status: "unauthorized", when: "a job was refused a context" },
  { status: "failing", when: "an approval is on hold and a job has failed" },
  { status: "on_hold", when: "an approval is on hold" },
  { status: "failed", when: "a job failed (failed, infrastructure_fail, timedout)" },
  { status: "canceled", when: "a job was canceled" },
  { status: "success", when: "every job succeeded or was not run, and one succeeded" },
  { status: "not_run", when: "otherwise" },
] as const;

type AnyMove = Move<string, string>;

function find<M extends AnyMove>(table: readonly M[], event: string): M {
  const move = table.find((m) => m.event === event);
  if (!move) throw new Error(`No move "${event}" in the transition table.`);
  return move;
}

/** The table's verdict on a move: the update parts it implies, or an Error for an illegal one. */
function parts(
  move: AnyMove,
  to: string,
  fields: Record<string, unknown>,
  prefix: readonly string[],
): { set: [readonly string[], unknown][]; when: Condition[] } {
  if (!move.to.includes(to)) throw new Error(`Move "${move.event}" cannot end in "${to}".`);
  for (const field of Object.keys(fields)) {
    if (!move.sets.includes(field)) throw new Error(`Move "${move.event}" does not set "${field}".`);
  }
  return {
    set: [
      [[...prefix, "status"], to],
      ...Object.entries(fields).map(([k, v]): [readonly string[], unknown] => [[...prefix, k], v]),
    ],
    when: move.from.length > 0 ? [{ path: [...prefix, "status"], in: move.from }] : [],
  };
}

function activeParts(move: AnyMove, id: string): Pick<UpdateSpec, "set" | "remove"> {
  if (move.active === "enter") return { set: { gsi2pk: activeShard(id), gsi2sk: id } };
  if (move.active === "leave") return { remove: ["gsi2pk", "gsi2sk"] };
  return {};
}

export type JobEvent = (typeof JOB_MOVES)[number]["event"];
export type AllocationEvent = (typeof ALLOCATION_MOVES)[number]["event"];

/**
 * A job's move as an update of its item: condition `status IN from AND attempt = <attempt>`
 * (a move made from an older read of an earlier attempt is refused), status, fields,
 * `updatedAt`, active index.
 */
export function jobMove(
  job: Pick<Job, "id" | "attempt">,
  event: Exclude<JobEvent, "create">,
  to: JobStatus,
  fields: Record<string, unknown>,
  now: number,
): UpdateSpec {
  const move = find<AnyMove>(JOB_MOVES, event);
  const p = parts(move, to, fields, []);
  const active = activeParts(move, job.id);
  return {
    set: [
      ...p.set,
      [["updatedAt"], now],
      ...Object.entries(active.set ?? {}).map(([k, v]): [readonly string[], unknown] => [[k], v]),
    ],
    remove: active.remove,
    when: [...p.when, { path: "attempt", eq: job.attempt }],
  };
}

/**
 * An allocation's move as an update of its job's item (allocations live in the job):
 * condition on the allocation's status and the job's attempt, plus `fence` (e.g. the node
 * that must hold it).
 */
export function allocationMove(
  job: Pick<Job, "attempt">,
  index: number,
  event: AllocationEvent,
  to: AllocationStatus,
  fields: Record<string, unknown>,
  now: number,
  fence: Condition[] = [],
): UpdateSpec {
  const move = find<AnyMove>(ALLOCATION_MOVES, event);
  const p = parts(move, to, fields, ["allocations", String(index)]);
  return {
    set: [...p.set, [["updatedAt"], now]],
    when: [...p.when, { path: "attempt", eq: job.attempt }, ...fence],
  };
}

export function pipelineMove(
  id: string,
  event: "compile" | "continue",
  to: PipelineState,
  fields: Record<string, unknown>,
  now: string,
  extra: Condition[] = [],
): UpdateSpec {
  const move = find<AnyMove>(PIPELINE_MOVES, event);
  const p = parts(move, to, fields, []);
  const active = activeParts(move, id);
  return {
    set: [
      ...p.set.map(([path, v]): [readonly string[], unknown] => [path[0] === "status" ? ["state"] : path, v]),
      [["updatedAt"], now],
    ],
    remove: active.remove,
    when: [...(move.from.length > 0 ? [{ path: "state", in: move.from }] : []), ...extra],
  };
}

export function nodeMove(
  event: "heartbeat" | "miss" | "revoke" | "leave" | "drain" | "undrain" | "eligibility",
  fields: Record<string, unknown>,
  now: number,
  extra: Condition[] = [],
): UpdateSpec {
  const move = find<AnyMove>(NODE_MOVES, event);
  const p = parts(move, move.to[0]!, fields, []);
  // `changedAt` moves with every change an operator sees (Nomad's ModifyIndex), not heartbeats.
  const changed: [readonly string[], unknown][] = event === "heartbeat" ? [] : [[["changedAt"], now]];
  return { set: [...p.set, ...changed, [["updatedAt"], now]], when: [...p.when, ...extra] };
}

/** Several moves of one item in one write (a claim moves the allocation and its job). */
export function combine(...specs: UpdateSpec[]): UpdateSpec {
  const set: [readonly string[] | string, unknown][] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const list = !spec.set ? [] : Array.isArray(spec.set) ? spec.set : Object.entries(spec.set);
    for (const [path, value] of list as [readonly string[] | string, unknown][]) {
      const id = typeof path === "string" ? path : path.join(".");
      if (seen.has(id)) continue;
      seen.add(id);
      set.push([path, value]);
    }
  }
  const when = specs.flatMap((s) => s.when ?? []);
  const unique = [...new Map(when.map((c) => [JSON.stringify(c), c])).values()];
  return {
    set,
    remove: [
      ...new Set(
        specs.flatMap((s) => (s.remove ?? []).map((p) => (typeof p === "string" ? p : p.join(".")))),
      ),
    ],
    setIfMissing: Object.assign({}, ...specs.map((s) => s.setIfMissing ?? {})),
    add: Object.assign({}, ...specs.map((s) => s.add ?? {})),
    when: unique,
  };
}

/** The move a table allows from `from` by `event`, or undefined (for tests and tools). */
export function legalTargets(
  table: readonly AnyMove[],
  event: string,
  from: string | undefined,
): readonly string[] {
  const move = table.find((m) => m.event === event);
  if (!move) return [];
  if (from === undefined) return move.from.length === 0 ? move.to : [];
  return move.from.includes(from) ? move.to : [];
}

/** Mermaid state diagrams of the table, as docs/architecture.md shows them. */
export function renderStateDiagrams(): string {
  const diagram = (title: string, table: readonly AnyMove[]) => {
    const lines = [`#### ${title}`, "", "```mermaid", "stateDiagram-v2"];
    for (const m of table) {
      for (const to of m.to) {
        const sources = m.from.length > 0 ? m.from : ["[*]"];
        for (const from of sources) lines.push(`    ${state(from)} --> ${state(to)} : ${m.event}`);
      }
    }
    lines.push("```", "");
    return lines.join("\n");
  };
  const state = (s: string) => (s === "[*]" ? s : s.replace(/-/g, "_"));
  const rules = [
    "#### Workflow (derived from its jobs, first rule that matches)",
    "",
    "| status | when |",
    "|---|---|",
    ...WORKFLOW_RULES.map((r) => `| ${r.status} | ${r.when} |`),
    "",
  ].join("\n");
  return [
    diagram("Allocation", ALLOCATION_MOVES),
    diagram("Job", JOB_MOVES),
    diagram("Pipeline", PIPELINE_MOVES),
    diagram("Builder node", NODE_MOVES),
    rules,
  ].join("\n");
}
