/**
 * `workflows:` to workflow specs: each job entry resolved (2.1: expanded through its
 * definition, matrix unrolled; 2.0: the job as written), requires resolved against names
 * and matrix aliases (with the statuses a status-form requirement allows), and the
 * compile-time checks: unknown job, unknown requires or statuses, requires cycles, duplicate
 * names, schedule cron expressions. Filters are read here and applied per pipeline in
 * compile.ts.
 */
import { Cron } from "croner";
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { type Expander, lookup, type Namespace } from "./expand.ts";
import { readFilters } from "./filters.ts";
import { expandMatrix } from "./matrix.ts";
import {
  type BranchTagFilters,
  REQUIRED_STATUSES,
  type RequiredStatus,
  type ScheduleTrigger,
} from "./plan.ts";
import { evaluate } from "./when.ts";
import { isMapping, type Mapping } from "./yaml.ts";

export interface WorkflowJobSpec {
  name: string;
  /** The job definition it invokes (`build`, `node/test`). */
  job: string;
  type: "build" | "approval" | "no-op";
  requires: string[];
  /**
   * Required jobs (names as in `requires`) that may end in statuses other than success
   * (`requires: [{ build: [success, failed] }]`); absent when every requirement is success.
   */
  requiredStatuses?: Record<string, RequiredStatus[]>;
  filters: BranchTagFilters;
  contexts: string[];
  /** The expanded 2.0-style job; absent for approvals and unknown jobs. */
  body?: Mapping;
  /** Where the entry was written (for diagnostics). */
  site: { container: unknown; key: string | number };
  /** Printable extras kept for `config process`. */
  extra: Mapping;
}

export interface WorkflowSpec {
  name: string;
  /** `when`/`unless` allow it to run for this pipeline. */
  active: boolean;
  jobs: WorkflowJobSpec[];
  triggers: ScheduleTrigger[];
  site: { container: unknown; key: string };
}

/** Keys of a workflow job entry that belong to the workflow, not to the job's parameters. */
export const WORKFLOW_JOB_KEYS = new Set([
  "requires",
  "filters",
  "context",
  "name",
  "type",
  "matrix",
  "pre-steps",
  "post-steps",
  "serial-group",
  "override-with",
]);

const WORKFLOW_KEYS = new Set(["jobs", "triggers", "when", "unless", "max_auto_reruns"]);

export interface WorkflowContext {
  is21: boolean;
  root: Namespace;
  expander: Expander;
  diags: Diagnostics;
}

export function readWorkflows(block: unknown, ctx: WorkflowContext, container: Mapping): WorkflowSpec[] {
  const { diags } = ctx;
  const out: WorkflowSpec[] = [];
  if (!isMapping(block)) {
    diags.error(
      container,
      "workflows",
      `"workflows" must be a map of workflow names to workflows, not ${describeType(block)}`,
      "value",
    );
    return out;
  }
  for (const [name, wf] of Object.entries(block)) {
    if (name === "version") continue;
    if (!isMapping(wf)) {
      diags.error(
        block,
        name,
        `workflow "${name}" must be a map with "jobs", not ${describeType(wf)}`,
        "value",
      );
      continue;
    }
    for (const k of Object.keys(wf)) {
      if (!WORKFLOW_KEYS.has(k)) diags.error(wf, k, `unknown key "${k}" in workflow "${name}"`);
      else if ((k === "when" || k === "unless") && !ctx.is21) diags.error(wf, k, `"${k}" needs version 2.1`);
    }
    let active = true;
    if (wf.when !== undefined) active = evaluate(wf.when, diags, wf, "when");
    if (wf.unless !== undefined) active = active && !evaluate(wf.unless, diags, wf, "unless");
    out.push({
      name,
      active,
      jobs: readJobs(wf, name, ctx),
      triggers: readTriggers(wf, diags),
      site: { container: block, key: name },
    });
  }
  return out;
}

function readTriggers(wf: Mapping, diags: Diagnostics): ScheduleTrigger[] {
  const raw = wf.triggers;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    diags.error(wf, "triggers", `"triggers" must be a list`, "value");
    return [];
  }
  const out: ScheduleTrigger[] = [];
  raw.forEach((t, i) => {
    if (!isMapping(t) || !isMapping(t.schedule)) {
      diags.error(raw, i, `a trigger must be a map with "schedule"`);
      return;
    }
    const s = t.schedule;
    for (const k of Object.keys(s))
      if (k !== "cron" && k !== "filters") diags.error(s, k, `unknown key "${k}" in schedule`);
    if (typeof s.cron !== "string" || s.cron.trim().split(/\s+/).length !== 5) {
      diags.error(s, "cron", `"cron" must be a five-field cron expression such as "0 0 * * *"`, "value");
      return;
    }
    const problem = cronProblem(s.cron);
    if (problem) {
      diags.error(s, "cron", `invalid cron expression ${JSON.stringify(s.cron)}: ${problem}`, "value");
      return;
    }
    out.push({ cron: s.cron, filters: readFilters(s.filters, diags, s, "filters") });
  });
  return out;
}

const CRON_FIELDS = ["minute", "hour", "day of month", "month", "day of week"] as const;
const CRON_NAMES: Partial<Record<(typeof CRON_FIELDS)[number], ReadonlySet<string>>> = {
  month: new Set(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
  "day of week": new Set(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
};

/**
 * Why a five-field cron expression is not one CircleCI schedules (UTC, standard cron:
 * numbers, `*`, lists, ranges, steps, month and day names), or undefined if it is. croner
 * checks values and ranges; its extensions (`L`, `W`, `#`, `?`, `+`) are refused after.
 */
function cronProblem(expression: string): string | undefined {
  try {
    // No function and paused: croner only parses, it starts no timer.
    new Cron(expression, { paused: true, mode: "5-part" });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return reason.replace(/^CronPattern:\s*/, "");
  }
  const fields = expression.trim().split(/\s+/);
  for (let i = 0; i < CRON_FIELDS.length; i++) {
    const field = CRON_FIELDS[i]!;
    const names = CRON_NAMES[field];
    const text = fields[i] ?? "";
    const plain = names ? text.replace(/[a-z]+/gi, (w) => (names.has(w.toUpperCase()) ? "0" : w)) : text;
    if (!/^[0-9*,/-]+$/.test(plain))
      return `the ${field} field "${text}" is not standard cron (numbers, *, lists, ranges and /steps${names ? `, or ${field === "month" ? "month" : "day"} names` : ""})`;
  }
  return undefined;
}

interface Entry {
  name: string;
  job: string;
  args: Mapping | undefined;
  alias?: string;
  site: { container: unknown; key: string | number };
}

function readJobs(wf: Mapping, wfName: string, ctx: WorkflowContext): WorkflowJobSpec[] {
  const { diags } = ctx;
  const list = wf.jobs;
  if (!Array.isArray(list)) {
    diags.error(
      wf,
      "jobs",
      `workflow "${wfName}" needs "jobs": a list of jobs`,
      list === undefined ? "key" : "value",
    );
    return [];
  }
  const entries: Entry[] = [];
  list.forEach((item, i) => {
    let job: string;
    let args: Mapping | undefined;
    if (typeof item === "string") job = item;
    else if (isMapping(item) && Object.keys(item).length === 1) {
      job = Object.keys(item)[0]!;
      const a = item[job];
      if (a !== null && a !== undefined && !isMapping(a)) {
        diags.error(item, job, `settings of job "${job}" must be a map, not ${describeType(a)}`, "value");
        return;
      }
      args = a ?? undefined;
    } else {
      diags.error(
        list,
        i,
        isMapping(item)
          ? `a workflow job must have exactly one key (the job name), found ${Object.keys(item).join(", ")}; indent its settings under the name`
          : `a workflow job must be a job name or a map, not ${describeType(item)}`,
      );
      return;
    }
    const site = { container: list, key: i };
    if (args?.matrix !== undefined) {
      if (!ctx.is21) diags.error(args, "matrix", `"matrix" needs version 2.1`);
      const m = expandMatrix(job, args, diags);
      if (!m) return;
      for (const inst of m.instances) {
        const name = typeof inst.args.name === "string" ? inst.args.name : inst.name;
        entries.push({ name, job, args: inst.args, alias: m.alias, site });
      }
      return;
    }
    let name = job;
    if (args?.name !== undefined) {
      if (typeof args.name === "string" && args.name) name = args.name;
      else diags.error(args, "name", `"name" must be a non-empty string`, "value");
    }
    entries.push({ name, job, args, site });
  });

  // Names, aliases, duplicates. CircleCI runs a workflow that names two jobs alike (it
  // tells them apart itself); Gyre warns and suffixes the later ones (`name-2`), and only a
  // `requires` that names such a job is an error, because it is ambiguous.
  const names = new Map<string, Entry>();
  const aliases = new Map<string, string[]>();
  const ambiguous = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) {
      ambiguous.add(e.name);
      let n = 2;
      while (names.has(`${e.name}-${n}`)) n++;
      const renamed = `${e.name}-${n}`;
      diags.warn(
        e.site.container,
        e.site.key,
        `workflow "${wfName}" has two jobs named "${e.name}"; this one runs as "${renamed}" (give it a distinct "name")`,
      );
      e.name = renamed;
    }
    names.set(e.name, e);
    if (e.alias !== undefined) {
      const a = aliases.get(e.alias) ?? [];
      a.push(e.name);
      aliases.set(e.alias, a);
    }
  }

  const specs: WorkflowJobSpec[] = [];
  for (const e of names.values()) {
    const spec = buildJob(e, ctx, names, aliases, ambiguous);
    if (spec) specs.push(spec);
  }
  checkCycles(specs, wfName, diags);
  return specs;
}

function buildJob(
  e: Entry,
  ctx: WorkflowContext,
  names: Map<string, Entry>,
  aliases: Map<string, string[]>,
  ambiguous: ReadonlySet<string>,
): WorkflowJobSpec | undefined {
  const { diags } = ctx;
  const args = e.args;
  let type: WorkflowJobSpec["type"] = "build";
  if (args?.type !== undefined && args.type !== null) {
    if (args.type === "approval") type = "approval";
    else if (args.type !== "build")
      diags.error(
        args,
        "type",
        `job "type" must be approval (or build), not ${JSON.stringify(args.type)}`,
        "value",
      );
  }
  const { requires, requiredStatuses } = readRequires(e, args, diags, names, aliases, ambiguous);
  const contexts: string[] = [];
  if (args?.context !== undefined && args.context !== null) {
    const c = args.context;
    for (const v of Array.isArray(c) ? c : [c]) {
      if (typeof v === "string" && v) contexts.push(v);
      else diags.error(args, "context", `"context" must be a context name or a list of names`, "value");
    }
  }
  const filters = readFilters(args?.filters, diags, args, "filters");
  const extra: Mapping = {};
  if (args?.["serial-group"] !== undefined) extra["serial-group"] = args["serial-group"];
  const spec: WorkflowJobSpec = {
    name: e.name,
    job: e.job,
    type,
    requires,
    filters,
    contexts,
    site: e.site,
    extra,
  };
  if (requiredStatuses) spec.requiredStatuses = requiredStatuses;
  if (type === "approval") return spec;

  if (ctx.is21) {
    const found = lookup(ctx.root, "jobs", e.job);
    if (found === "broken") return spec;
    if (!found) {
      diags.error(
        e.site.container,
        e.site.key,
        `unknown job "${e.job}"${e.job.includes("/") ? " (is the orb imported and does it define this job?)" : ""}`,
      );
      return spec;
    }
    const defType = found.def.type;
    if (defType === "no-op" || defType === "approval") {
      // Jobs with nothing to run: no executor, no steps.
      spec.type = defType;
      for (const k of Object.keys(found.def)) {
        if (k !== "type" && k !== "description" && k !== "parameters")
          diags.error(found.def, k, `a job of type ${defType} has nothing to run; remove "${k}"`);
      }
      return spec;
    }
    if (defType !== undefined && defType !== "build")
      diags.error(
        found.def,
        "type",
        `job "type" must be build, approval or no-op, not ${JSON.stringify(defType)}`,
        "value",
      );
    ctx.expander.touchedBroken = false;
    const pre = args?.["pre-steps"];
    const body = ctx.expander.expandJob(
      found,
      e.job,
      args,
      WORKFLOW_JOB_KEYS,
      e.site,
      pre,
      args?.["post-steps"],
    );
    // A job that uses an orb that failed to load is not compiled: its errors would only echo the orb's.
    if (!ctx.expander.touchedBroken) spec.body = body;
  } else {
    const def = ctx.root.jobs.get(e.job);
    if (!def) {
      diags.error(e.site.container, e.site.key, `unknown job "${e.job}"`);
      return spec;
    }
    if (args) {
      for (const k of Object.keys(args)) {
        if (!WORKFLOW_JOB_KEYS.has(k))
          diags.error(args, k, `unknown key "${k}" (job parameters need version 2.1)`);
        else if (k === "pre-steps" || k === "post-steps" || k === "matrix")
          diags.error(args, k, `"${k}" needs version 2.1`);
      }
    }
    spec.body = def;
  }
  return spec;
}

/** `terminal`: whatever the required job ended in (the schema's shorthand for every status). */
const TERMINAL = "terminal";
const DEFAULT_STATUSES: readonly RequiredStatus[] = ["success"];

function isRequiredStatus(value: unknown): value is RequiredStatus {
  return typeof value === "string" && (REQUIRED_STATUSES as readonly string[]).includes(value);
}

const STATUS_LIST = REQUIRED_STATUSES.join(", ");

/**
 * The statuses a status-form requirement allows (`build: failed`, `build: [success, failed]`,
 * `build: terminal`), in the canonical order of REQUIRED_STATUSES; undefined (reported) if
 * it is not a status or a non-empty list of statuses.
 */
function readStatuses(req: Mapping, name: string, diags: Diagnostics): RequiredStatus[] | undefined {
  const raw = req[name];
  const allowed = new Set<RequiredStatus>();
  if (raw === TERMINAL) return [...REQUIRED_STATUSES];
  if (typeof raw === "string") {
    if (!isRequiredStatus(raw)) {
      diags.error(
        req,
        name,
        `unknown job status ${JSON.stringify(raw)} for required job "${name}"; expected ${STATUS_LIST} or ${TERMINAL}`,
        "value",
      );
      return undefined;
    }
    allowed.add(raw);
  } else if (Array.isArray(raw)) {
    if (raw.length === 0) {
      diags.error(req, name, `required job "${name}" needs at least one status in its list`, "value");
      return undefined;
    }
    let ok = true;
    raw.forEach((s, j) => {
      if (isRequiredStatus(s)) allowed.add(s);
      else {
        ok = false;
        diags.error(
          raw,
          j,
          s === TERMINAL
            ? `"${TERMINAL}" stands for every status and cannot be listed with others; write "${name}: ${TERMINAL}"`
            : `unknown job status ${typeof s === "string" ? JSON.stringify(s) : describeType(s)} for required job "${name}"; expected ${STATUS_LIST}`,
          "value",
        );
      }
    });
    if (!ok) return undefined;
  } else {
    diags.error(
      req,
      name,
      `the status of required job "${name}" must be one of ${STATUS_LIST}, ${TERMINAL}, or a list of them, not ${describeType(raw)}`,
      "value",
    );
    return undefined;
  }
  return REQUIRED_STATUSES.filter((s) => allowed.has(s));
}

const sameStatuses = (a: readonly RequiredStatus[], b: readonly RequiredStatus[]) =>
  a.length === b.length && a.every((s, i) => s === b[i]);

/**
 * `requires:` of one workflow job: plain names (`- build`, must succeed) and status forms
 * (`- build: failed`), each resolved to job names (a matrix alias to every job it expanded
 * to, each with the same statuses). A job required twice must be required with the same
 * statuses both times.
 */
function readRequires(
  e: Entry,
  args: Mapping | undefined,
  diags: Diagnostics,
  names: Map<string, Entry>,
  aliases: Map<string, string[]>,
  ambiguous: ReadonlySet<string>,
): { requires: string[]; requiredStatuses?: Record<string, RequiredStatus[]> } {
  const statuses = new Map<string, readonly RequiredStatus[]>();
  if (args?.requires === undefined || args.requires === null) return { requires: [] };
  const raw = args.requires;
  const items = Array.isArray(raw) ? raw : [raw];
  if (!Array.isArray(raw)) diags.error(args, "requires", `"requires" must be a list of job names`, "value");
  const container = Array.isArray(raw) ? raw : args;
  items.forEach((r, i) => {
    const key = Array.isArray(raw) ? i : "requires";
    let name: unknown = r;
    let allowed: readonly RequiredStatus[] | undefined = DEFAULT_STATUSES;
    // `- build: success` / `- build: [success, failed]` (status requirements)
    if (isMapping(r) && Object.keys(r).length === 1) {
      name = Object.keys(r)[0];
      allowed = readStatuses(r, name as string, diags);
    }
    if (typeof name !== "string") {
      diags.error(container, key, `a required job must be a job name`, "value");
      return;
    }
    let targets: string[];
    if (ambiguous.has(name)) {
      diags.error(
        container,
        key,
        `job "${e.name}" requires "${name}", but several jobs in this workflow have that name; give them distinct "name"s`,
        "value",
      );
      return;
    } else if (names.has(name)) targets = [name];
    else if (aliases.has(name)) targets = aliases.get(name)!;
    else {
      diags.error(
        container,
        key,
        `job "${e.name}" requires "${name}", which is not a job in this workflow`,
        "value",
      );
      return;
    }
    if (!allowed) return;
    for (const t of targets) {
      const before = statuses.get(t);
      if (!before) statuses.set(t, allowed);
      else if (!sameStatuses(before, allowed))
        diags.error(
          container,
          key,
          `job "${e.name}" requires "${t}" twice with different statuses (${before.join(", ")} and ${allowed.join(", ")})`,
          "value",
        );
    }
  });
  const requires = [...statuses.keys()];
  const special = [...statuses].filter(([, s]) => !sameStatuses(s, DEFAULT_STATUSES));
  if (special.length === 0) return { requires };
  return { requires, requiredStatuses: Object.fromEntries(special.map(([n, s]) => [n, [...s]])) };
}

function checkCycles(specs: WorkflowJobSpec[], wfName: string, diags: Diagnostics) {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const state = new Map<string, 1 | 2>();
  const reported = new Set<string>();
  const visit = (s: WorkflowJobSpec, stack: string[]) => {
    state.set(s.name, 1);
    for (const r of s.requires) {
      const dep = byName.get(r);
      if (!dep) continue;
      const st = state.get(r);
      if (st === 1) {
        const start = stack.indexOf(r);
        const cycle = start >= 0 ? [...stack.slice(start), s.name, r] : [s.name, r];
        const id = [...cycle].sort().join(",");
        if (!reported.has(id)) {
          reported.add(id);
          diags.error(
            s.site.container,
            s.site.key,
            `workflow "${wfName}" has a requires cycle: ${cycle.join(" -> ")}`,
          );
        }
        continue;
      }
      if (st === undefined) visit(dep, [...stack, s.name]);
    }
    state.set(s.name, 2);
  };
  for (const s of specs) if (!state.has(s.name)) visit(s, []);
  // Break cycles so later stages can walk the graph safely.
  if (reported.size > 0)
    for (const s of specs) {
      s.requires = [];
      delete s.requiredStatuses;
    }
}
