/** Helpers shared by the config engine's tests (not used by production code). */
import { compileConfig } from "./compile.ts";
import type { OrbResolver } from "./orbs.ts";
import type {
  CompiledConfig,
  CompileResult,
  ConfigDiagnostic,
  JobPlan,
  PipelineValues,
  WorkflowPlan,
} from "./plan.ts";

export function pipeline(over: Partial<PipelineValues> = {}): PipelineValues {
  const base: PipelineValues = {
    id: "5034460f-c7c4-4c43-9457-de07e2029e7b",
    number: 42,
    branch: "main",
    revision: "f3ac6b1b0b2f4a3c9e1f8d2a7c5b4e6d9f0a1b2c",
    gitUrl: "https://github.com/acme/widgets",
    projectType: "github",
    triggerSource: "webhook",
  };
  const out = { ...base, ...over };
  // A tag push has no branch unless the test says so.
  if (over.tag !== undefined && !("branch" in over)) delete out.branch;
  return out;
}

export async function compile(
  source: string,
  over: Partial<PipelineValues> = {},
  orbs?: OrbResolver,
): Promise<CompileResult> {
  return compileConfig(source, orbs ? { pipeline: pipeline(over), orbs } : { pipeline: pipeline(over) });
}

/** Compile and insist on success, showing the errors if not. */
export async function compiled(
  source: string,
  over: Partial<PipelineValues> = {},
  orbs?: OrbResolver,
): Promise<CompiledConfig> {
  const r = await compile(source, over, orbs);
  if (!r.ok)
    throw new Error(`expected the config to compile:\n${r.errors.map((e) => JSON.stringify(e)).join("\n")}`);
  return r.config;
}

/** Compile and insist on failure. */
export async function failed(
  source: string,
  over: Partial<PipelineValues> = {},
  orbs?: OrbResolver,
): Promise<ConfigDiagnostic[]> {
  const r = await compile(source, over, orbs);
  if (r.ok) throw new Error("expected the config to fail");
  return r.errors;
}

export function workflow(c: CompiledConfig, name: string): WorkflowPlan {
  const w = c.workflows.find((x) => x.name === name);
  if (!w) throw new Error(`no workflow ${name}; have ${c.workflows.map((x) => x.name).join(", ")}`);
  return w;
}

export function job(c: CompiledConfig, wf: string, name: string): JobPlan {
  const j = workflow(c, wf).jobs.find((x) => x.name === name);
  if (!j?.plan) throw new Error(`no job ${name} with a plan in ${wf}`);
  return j.plan;
}

export function jobNames(c: CompiledConfig, wf: string): string[] {
  return workflow(c, wf).jobs.map((j) => j.name);
}
