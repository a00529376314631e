/**
 * `POST /api/v2/compile-config-with-defaults`: what `circleci config validate` and
 * `circleci config process` call. The answer has CircleCI's shape, `{valid, errors:
 * [{message}], "source-yaml", "output-yaml"}`, and is 200 whether or not the config is valid.
 * Gyre adds `warnings: [{message}]`, and `plan` (the compiled plan) with `?include=plan`.
 * Registry orbs resolve as they do for a pipeline.
 */
import { type CompileResult, compileConfig, formatDiagnostic, processConfig } from "@gyre/core/config/index";
import type { ConfigDiagnostic, PipelineValues } from "@gyre/core/config/plan";
import { badRequest } from "@gyre/core/error";
import { orbResolver } from "@gyre/core/orb/index";
import { CompileConfigBody } from "@gyre/core/protocol/api";
import type { z } from "@gyre/core/protocol/schema";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, parseBody } from "./context.ts";

type Scalar = string | number | boolean;
type Body = z.output<typeof CompileConfigBody>;

/**
 * The pipeline values to compile with: CircleCI's defaults, overridden by `pipeline_values`
 * (keys as in `<< pipeline.x >>`, with or without the `pipeline.` prefix, as the circleci
 * CLI sends them) and `pipeline_parameters`. Accepted at the top level or under `options`.
 */
function pipelineValues(body: Body): PipelineValues {
  const options = body.options ?? {};
  const given = { ...options.pipeline_values, ...body.pipeline_values };
  const values = new Map(Object.entries(given).map(([k, v]) => [k.replace(/^pipeline\./, ""), v]));
  const text = (key: string) => {
    const v = values.get(key);
    return v === undefined || v === "" ? undefined : String(v);
  };
  const parameters: Record<string, Scalar> = { ...options.pipeline_parameters, ...body.pipeline_parameters };
  for (const [k, v] of values) if (k.startsWith("parameters.")) parameters[k.slice(11)] ??= v;
  const number = Number(values.get("number") ?? 1);
  if (!Number.isInteger(number) || number < 0) throw badRequest("pipeline_values.number must be an integer.");
  const out: PipelineValues = {
    id: text("id") ?? "00000000-0000-0000-0000-000000000001",
    number,
    revision: text("git.revision") ?? "",
    gitUrl: text("project.git_url") ?? "",
    projectType: text("project.type") ?? "github",
    triggerSource: text("trigger_source") ?? "api",
  };
  const branch = text("git.branch");
  const tag = text("git.tag");
  const base = text("git.base_revision");
  if (branch) out.branch = branch;
  if (tag) out.tag = tag;
  if (base) out.baseRevision = base;
  if (Object.keys(parameters).length > 0) out.parameters = parameters;
  return out;
}

const messages = (list: ConfigDiagnostic[]) => list.map((d) => ({ message: formatDiagnostic(d) }));

export function configRoutes() {
  const app = new Hono<Env>();
  app.post("/compile-config-with-defaults", allow.user(), async (c) => {
    const body = await parseBody(c, CompileConfigBody);
    const source = body.config_yaml;
    const options = { pipeline: pipelineValues(body), orbs: orbResolver(c.get("gyre")) };
    const compiled: CompileResult = await compileConfig(source, options);
    let output = "";
    let errors = compiled.ok ? [] : compiled.errors;
    if (compiled.ok) {
      const processed = await processConfig(source, options);
      if (processed.ok) output = processed.yaml;
      else errors = processed.errors;
    }
    return c.json({
      valid: errors.length === 0,
      errors: messages(errors),
      "source-yaml": source,
      "output-yaml": output,
      warnings: messages(compiled.warnings),
      ...(c.req.query("include") === "plan" && compiled.ok && errors.length === 0
        ? { plan: compiled.config }
        : {}),
    });
  });

  return app;
}
