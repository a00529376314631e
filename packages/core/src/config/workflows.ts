/**
 * `workflows:` to workflow specs: each job entry resolved (2.1: expanded through its
 * definition, matrix unrolled; 2.0: the job as written), requires resolved against names
 * and matrix aliases, and the compile-time checks: unknown job, unknown requires, requires
 * cycles, duplicate names. Filters are read here and applied per pipeline in compile.ts.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { type Expander, lookup, type Namespace } from "./expand.ts";
import { readFilters } from "./filters.ts";
import { expandMatrix } from "./matrix.ts";
import type { BranchTagFilters, ScheduleTrigger } from "./plan.ts";
import { evaluate } from "./when.ts";
import { isMapping, type Mapping } from "./yaml.ts";

export interface WorkflowJobSpec {
  name: string;
  /** The job definition it invokes (`build`, `node/test`). */
  job: string;
  type: "build" | "approval" | "no-op";
  requires: string[];
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
    out.push({ cron: s.cron, filters: readFilters(s.filters, diags, s, "filters") });
  });
  return out;
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
  const requires: string[] = [];
  if (args?.requires !== undefined && args.requires !== null) {
    const raw = args.requires;
    const items = Array.isArray(raw) ? raw : [raw];
    if (!Array.isArray(raw)) diags.error(args, "requires", `"requires" must be a list of job names`, "value");
    items.forEach((r, i) => {
      let name: unknown = r;
      // `- build: success` / `- build: [success, failed]` (status requirements)
      if (isMapping(r) && Object.keys(r).length === 1) name = Object.keys(r)[0];
      if (typeof name !== "string") {
        diags.error(
          Array.isArray(raw) ? raw : args,
          Array.isArray(raw) ? i : "requires",
          `a required job must be a job name`,
          "value",
        );
        return;
      }
      if (ambiguous.has(name))
        diags.error(
          Array.isArray(raw) ? raw : args,
          Array.isArray(raw) ? i : "requires",
          `job "${e.name}" requires "${name}", but several jobs in this workflow have that name; give them distinct "name"s`,
          "value",
        );
      else if (names.has(name)) requires.push(name);
      else if (aliases.has(name)) requires.push(...aliases.get(name)!);
      else
        diags.error(
          Array.isArray(raw) ? raw : args,
          Array.isArray(raw) ? i : "requires",
          `job "${e.name}" requires "${name}", which is not a job in this workflow`,
          "value",
        );
    });
  }
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
    requires: [...new Set(requires)],
    filters,
    contexts,
    site: e.site,
    extra,
  };
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
  if (reported.size > 0) for (const s of specs) s.requires = [];
}
