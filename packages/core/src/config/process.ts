/**
 * `gyre config process`: the config after 2.1 expansion, printed as version 2 YAML the
 * way `circleci config process` does: orbs, commands, executors, parameters and matrices
 * are gone; every workflow job has its own job (named as in the workflow) holding its
 * executor and built-in steps; workflows keep requires, filters, context and triggers.
 * Workflows switched off by `when`/`unless` are left out.
 */
import { stringify } from "yaml";
import { type CompileOptions, expandConfig } from "./compile.ts";
import type { BranchTagFilters, ConfigDiagnostic } from "./plan.ts";
import type { Mapping } from "./yaml.ts";

export type ProcessResult =
  | { ok: true; yaml: string; warnings: ConfigDiagnostic[] }
  | { ok: false; errors: ConfigDiagnostic[]; warnings: ConfigDiagnostic[] };

function plainFilters(f: BranchTagFilters): Mapping | undefined {
  const out: Mapping = {};
  for (const k of ["branches", "tags"] as const) {
    const v = f[k];
    if (!v) continue;
    const m: Mapping = {};
    if (v.only) m.only = v.only.length === 1 ? v.only[0] : v.only;
    if (v.ignore) m.ignore = v.ignore.length === 1 ? v.ignore[0] : v.ignore;
    out[k] = m;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `build`, or `{ build: failed }` / `{ build: [success, failed] }` for a status requirement. */
function requirement(name: string, statuses: Record<string, string[]> | undefined): unknown {
  const s = statuses && Object.hasOwn(statuses, name) ? statuses[name]! : undefined;
  if (!s) return name;
  return { [name]: s.length === 1 ? s[0] : [...s] };
}

/** Deep copy into plain objects (drops shared references so the printer emits no anchors). */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object" && v !== null) {
    const out: Mapping = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

export async function processConfig(source: string, options: CompileOptions): Promise<ProcessResult> {
  let result: Awaited<ReturnType<typeof expandConfig>>;
  try {
    result = await expandConfig(source, options);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      errors: [{ path: "", message: `internal error while processing the config: ${message}` }],
      warnings: [],
    };
  }
  const { diags, config } = result;
  if (!config || diags.failed) return { ok: false, errors: diags.errors, warnings: diags.warnings };

  const jobs: Mapping = {};
  const workflows: Mapping = {};
  for (const wf of config.workflows) {
    if (!wf.active) continue;
    const entries: unknown[] = [];
    for (const j of wf.jobs) {
      const settings: Mapping = {};
      if (j.type === "approval") settings.type = "approval";
      else if (j.type === "no-op") jobs[j.name] ??= { type: "no-op" };
      else if (j.body) {
        const body: Mapping = {};
        for (const [k, v] of Object.entries(j.body)) if (k !== "branches") body[k] = plain(v);
        jobs[j.name] ??= body;
      }
      if (j.requires.length > 0)
        settings.requires = j.requires.map((r) => requirement(r, j.requiredStatuses));
      if (j.contexts.length > 0) settings.context = j.contexts.length === 1 ? j.contexts[0] : [...j.contexts];
      const filters = plainFilters(j.filters);
      if (filters) settings.filters = filters;
      for (const [k, v] of Object.entries(j.extra)) settings[k] = plain(v);
      entries.push(Object.keys(settings).length > 0 ? { [j.name]: settings } : j.name);
    }
    const w: Mapping = { jobs: entries };
    if (wf.triggers.length > 0) {
      w.triggers = wf.triggers.map((t) => {
        const schedule: Mapping = { cron: t.cron };
        const f = plainFilters(t.filters);
        if (f) schedule.filters = f;
        return { schedule };
      });
    }
    workflows[wf.name] = w;
  }
  const doc: Mapping = { version: 2 };
  if (config.setup) doc.setup = true;
  doc.jobs = jobs;
  workflows.version = 2;
  doc.workflows = workflows;
  const yaml = stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
  return { ok: true, yaml, warnings: diags.warnings };
}
