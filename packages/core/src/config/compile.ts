/**
 * The config engine's entry: YAML → (2.1 expansion) → workflow specs → the typed plan for
 * one pipeline. `expandConfig` is shared with `processConfig`, which prints the expansion.
 */
import { LineCounter } from "yaml";
import { Diagnostics } from "./diagnostics.ts";
import { Expander, type Namespace, readNamespace } from "./expand.ts";
import { applyFilters, filtersAllow } from "./filters.ts";
import { compileJob } from "./jobs.ts";
import { loadOrbs, type OrbResolver } from "./orbs.ts";
import { bindArguments, coerce, readDeclarations, substitute } from "./parameters.ts";
import type {
  CompiledConfig,
  CompileResult,
  JobPlan,
  PipelineValues,
  WorkflowJob,
  WorkflowPlan,
} from "./plan.ts";
import { readWorkflows, type WorkflowSpec } from "./workflows.ts";
import { derive, isMapping, type Mapping, parseYaml, type Source } from "./yaml.ts";

export interface CompileOptions {
  pipeline: PipelineValues;
  orbs?: OrbResolver;
}

/** `pipeline.trigger_source` of a legacy scheduled-workflow run: only workflows with `triggers` run. */
export const SCHEDULE_TRIGGER_SOURCE = "schedule";

export interface ExpandedConfig {
  version: string;
  setup: boolean;
  workflows: WorkflowSpec[];
  root: Namespace;
}

const VERSIONS = new Set(["2", "2.0", "2.1"]);
const V21_ONLY = ["orbs", "commands", "executors", "parameters", "setup"] as const;

/** The `<< pipeline.x >>` table for one pipeline. */
export function pipelineTable(
  p: PipelineValues,
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  const t: Record<string, unknown> = {
    id: p.id,
    number: p.number,
    "git.branch": p.branch ?? "",
    "git.tag": p.tag ?? "",
    "git.revision": p.revision,
    "git.base_revision": p.baseRevision ?? "",
    "project.git_url": p.gitUrl,
    "project.type": p.projectType,
    "project.slug": projectSlug(p),
    trigger_source: p.triggerSource,
    "schedule.name": p.schedule?.name ?? "",
    "schedule.id": p.schedule?.id ?? "",
  };
  for (const [k, v] of Object.entries(parameters)) t[`parameters.${k}`] = v;
  return t;
}

/** `gh/org/repo` style slug from the git URL (CircleCI's `pipeline.project.slug`). */
function projectSlug(p: PipelineValues): string {
  const m = /[/:]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(p.gitUrl);
  const vcs = p.projectType === "github" ? "gh" : p.projectType === "bitbucket" ? "bb" : p.projectType;
  return m ? `${vcs}/${m[1]}/${m[2]}` : "";
}

/** Parse and expand a config. Never throws for bad input; problems are in `diags`. */
export async function expandConfig(
  source: string,
  options: CompileOptions,
): Promise<{ diags: Diagnostics; config?: ExpandedConfig }> {
  const diags = new Diagnostics();
  const src: Source = { prefix: "", counter: new LineCounter() };
  const parsed = parseYaml(source, src);
  for (const e of parsed.errors) diags.add(e);
  if (parsed.errors.length > 0) return { diags };
  let root = parsed.value;
  if (!isMapping(root)) {
    diags.add({
      path: "",
      message: "the config must be a map with version, jobs and workflows",
      line: 1,
      column: 1,
    });
    return { diags };
  }
  const rawVersion = root.version;
  const version = rawVersion === undefined || rawVersion === null ? "" : String(rawVersion);
  if (!VERSIONS.has(version)) {
    if (rawVersion === undefined)
      diags.add({
        path: "version",
        message: `the config needs "version: 2.1" (or 2 / 2.0)`,
        line: 1,
        column: 1,
      });
    else
      diags.error(
        root,
        "version",
        `version must be 2, 2.0 or 2.1, not ${JSON.stringify(rawVersion)}`,
        "value",
      );
    return { diags };
  }
  const is21 = version === "2.1";
  if (!is21) {
    diags.warn(
      root,
      "version",
      `version ${version} is deprecated; CircleCI still runs it but the schema wants 2.1`,
      "value",
    );
    for (const k of V21_ONLY) if (root[k] !== undefined) diags.error(root, k, `"${k}" needs version 2.1`);
  }

  let setup = false;
  let table: Record<string, unknown> = {};
  if (is21) {
    if (root.setup !== undefined && root.setup !== null) {
      if (typeof root.setup === "boolean") setup = root.setup;
      else diags.error(root, "setup", `"setup" must be true or false`, "value");
    }
    table = pipelineTable(options.pipeline, pipelineParameters(root, options.pipeline, diags));
    root = substitute(root, { pipeline: table }, diags) as Mapping;
  }
  const config = root as Mapping;
  const orbs = is21
    ? await loadOrbs(config.orbs, config, "", {
        resolver: options.orbs,
        diags,
        substitute: (v) => substitute(v, { pipeline: table }, diags),
        cache: new Map(),
      })
    : new Map<string, Namespace>();
  const ns = readNamespace("", config, orbs, diags);
  const expander = new Expander(ns, diags);
  let workflows = config.workflows;
  if (workflows === undefined || workflows === null) {
    if (ns.jobs.has("build")) workflows = derive(config, { workflow: derive(config, { jobs: ["build"] }) });
    else {
      diags.error(config, undefined, `the config has no "workflows" and no job named "build" to run`);
      return { diags };
    }
  }
  const specs = readWorkflows(workflows, { is21, root: ns, expander, diags }, config);
  return { diags, config: { version, setup, workflows: specs, root: ns } };
}

/** How an error about a trigger's parameters begins (doctor tells them from a broken config). */
export const PIPELINE_PARAMETER = "pipeline parameter";

function pipelineParameters(
  root: Mapping,
  pipeline: PipelineValues,
  diags: Diagnostics,
): Record<string, unknown> {
  const decls = readDeclarations(root.parameters, diags, root, "parameters");
  const given = pipeline.parameters ?? {};
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given)) {
    const decl = decls.get(k);
    if (!decl) {
      const message = `${PIPELINE_PARAMETER} "${k}" was passed but the config does not declare it`;
      // With no parameters at all, no line of the config is at fault: the trigger is.
      if (root.parameters === undefined) diags.add({ path: "", message });
      else diags.error(root, "parameters", message);
      continue;
    }
    const c = coerce(decl, v);
    if (c.ok) values[k] = c.value;
    else diags.error(root, "parameters", `${PIPELINE_PARAMETER} "${k}": ${c.message}`);
  }
  const rest = bindArguments(decls, undefined, new Set(), "the pipeline", diags, {
    container: root,
    key: "parameters",
  });
  for (const [k, v] of Object.entries(rest)) if (!Object.hasOwn(values, k)) values[k] = v;
  return values;
}

/** Compile a config for one pipeline. */
export async function compileConfig(source: string, options: CompileOptions): Promise<CompileResult> {
  let diags: Diagnostics;
  let config: ExpandedConfig | undefined;
  try {
    ({ diags, config } = await expandConfig(source, options));
  } catch (e) {
    return internalFailure(e);
  }
  if (!config) return { ok: false, errors: diags.errors, warnings: diags.warnings };
  try {
    const compiled = plan(config, options.pipeline, diags);
    if (diags.failed) return { ok: false, errors: diags.errors, warnings: diags.warnings };
    return { ok: true, config: compiled, warnings: diags.warnings };
  } catch (e) {
    return internalFailure(e);
  }
}

function internalFailure(e: unknown): CompileResult {
  const message = e instanceof Error ? e.message : String(e);
  return {
    ok: false,
    errors: [{ path: "", message: `internal error while compiling the config: ${message}` }],
    warnings: [],
  };
}

function plan(config: ExpandedConfig, pipeline: PipelineValues, diags: Diagnostics): CompiledConfig {
  // Compile every job of every workflow first, so all errors show whatever the filters say.
  const plans = new Map<WorkflowSpec["jobs"][number], JobPlan>();
  const byBody = new Map<Mapping, JobPlan | undefined>();
  for (const wf of config.workflows) {
    for (const job of wf.jobs) {
      if (!job.body) continue;
      let p = byBody.get(job.body);
      if (!byBody.has(job.body)) {
        p = compileJob(job.job, job.body, diags);
        byBody.set(job.body, p);
      }
      if (p) plans.set(job, p.name === job.name ? p : { ...p, name: job.name });
    }
  }
  if (config.version !== "2.1") {
    // 2.0 jobs are plain; check the ones no workflow uses too, as CircleCI does.
    const used = new Set(config.workflows.flatMap((w) => w.jobs.map((j) => j.job)));
    for (const [name, body] of config.root.jobs) if (!used.has(name)) compileJob(name, body, diags);
  }
  const scheduledRun = pipeline.triggerSource === SCHEDULE_TRIGGER_SOURCE;
  const workflows: WorkflowPlan[] = [];
  const scheduled: NonNullable<CompiledConfig["scheduledWorkflows"]> = [];
  for (const wf of config.workflows) {
    if (wf.triggers.length > 0) scheduled.push({ name: wf.name, triggers: wf.triggers });
    if (!wf.active) continue;
    if (scheduledRun) {
      if (wf.triggers.length === 0 || !wf.triggers.some((t) => filtersAllow(t.filters, pipeline))) continue;
      // The schedule that fired names its workflow: another scheduled workflow has its own cron.
      if (pipeline.scheduledWorkflow !== undefined && wf.name !== pipeline.scheduledWorkflow) continue;
    } else if (wf.triggers.length > 0) continue;
    const running = applyFilters(wf.jobs, pipeline);
    const jobs: WorkflowJob[] = [];
    for (const j of wf.jobs) {
      const requires = running.get(j.name);
      if (!requires) continue;
      const wj: WorkflowJob = { name: j.name, requires, type: j.type, contexts: j.contexts };
      const statuses = requiredStatuses(j.requiredStatuses, requires);
      if (statuses) wj.requiredStatuses = statuses;
      const p = plans.get(j);
      if (p) wj.plan = p;
      jobs.push(wj);
    }
    if (jobs.length > 0) workflows.push({ name: wf.name, jobs, triggers: wf.triggers });
  }
  const out: CompiledConfig = { version: config.version, setup: config.setup, workflows };
  if (scheduled.length > 0) out.scheduledWorkflows = scheduled;
  return out;
}

/** The status requirements on the required jobs that still run (filters may have pruned some). */
function requiredStatuses(
  all: Record<string, string[]> | undefined,
  requires: readonly string[],
): Record<string, string[]> | undefined {
  if (!all) return undefined;
  const kept = requires
    .filter((r) => Object.hasOwn(all, r))
    .map((r): [string, string[]] => [r, [...all[r]!]]);
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
