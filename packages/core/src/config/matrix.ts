/**
 * `matrix:` on a workflow job: one job per combination of the matrix parameters, minus
 * `exclude`d ones. Generated names follow CircleCI: the job name, then each value in the
 * order of the parameter names sorted alphabetically, joined by `-` (`build-macos-0.1` for
 * `platform: macos, version: "0.1"`), unless `name:` gives a pattern with
 * `<< matrix.x >>`. `alias` (default: the job name) lets `requires` name them all at once.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { substitute } from "./parameters.ts";
import { derive, isMapping, type Mapping } from "./yaml.ts";

export interface MatrixInstance {
  /** The invocation arguments for this combination, `<< matrix.x >>` substituted, without `matrix`. */
  args: Mapping;
  /** Generated name (before any `name:` override in `args`). */
  name: string;
  values: Record<string, unknown>;
}

export interface MatrixExpansion {
  alias: string;
  instances: MatrixInstance[];
}

const MAX_COMBINATIONS = 1000;

export function matrixValueName(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
    return String(value);
  if (isMapping(value) && typeof value.name === "string") return value.name;
  return JSON.stringify(value);
}

export function expandMatrix(
  jobName: string,
  args: Mapping,
  diags: Diagnostics,
): MatrixExpansion | undefined {
  const matrix = args.matrix;
  if (!isMapping(matrix)) {
    diags.error(
      args,
      "matrix",
      `"matrix" must be a map with "parameters", not ${describeType(matrix)}`,
      "value",
    );
    return undefined;
  }
  for (const k of Object.keys(matrix)) {
    if (k !== "parameters" && k !== "exclude" && k !== "alias")
      diags.error(matrix, k, `unknown key "${k}" in matrix`);
  }
  const params = matrix.parameters;
  if (!isMapping(params) || Object.keys(params).length === 0) {
    diags.error(
      matrix,
      "parameters",
      `matrix needs "parameters": a map of parameter names to lists of values`,
    );
    return undefined;
  }
  const names = Object.keys(params).sort();
  const lists: unknown[][] = [];
  for (const n of names) {
    const v = params[n];
    if (!Array.isArray(v) || v.length === 0) {
      diags.error(
        params,
        n,
        `matrix parameter "${n}" needs a non-empty list of values, not ${describeType(v)}`,
        "value",
      );
      return undefined;
    }
    lists.push(v);
  }
  let total = 1;
  for (const l of lists) total *= l.length;
  if (total > MAX_COMBINATIONS) {
    diags.error(args, "matrix", `matrix has ${total} combinations; at most ${MAX_COMBINATIONS} are allowed`);
    return undefined;
  }
  let alias = jobName;
  if (matrix.alias !== undefined) {
    if (typeof matrix.alias === "string" && matrix.alias) alias = matrix.alias;
    else diags.error(matrix, "alias", `matrix "alias" must be a name`, "value");
  }
  const excludes: { at: number; values: Mapping }[] = [];
  if (matrix.exclude !== undefined && matrix.exclude !== null) {
    if (!Array.isArray(matrix.exclude))
      diags.error(matrix, "exclude", `matrix "exclude" must be a list of maps`, "value");
    else
      matrix.exclude.forEach((e, i) => {
        if (isMapping(e)) excludes.push({ at: i, values: e });
        else
          diags.error(matrix.exclude, i, `each matrix exclusion must be a map of parameter values`, "value");
      });
  }
  const rest: Mapping = derive(args, {});
  for (const [k, v] of Object.entries(args)) if (k !== "matrix") rest[k] = v;

  const combos: Record<string, unknown>[] = [];
  const build = (i: number, acc: Record<string, unknown>) => {
    if (i === names.length) {
      combos.push({ ...acc });
      return;
    }
    for (const v of lists[i]!) {
      acc[names[i]!] = v;
      build(i + 1, acc);
    }
  };
  build(0, {});
  const used = new Set<number>();
  const instances: MatrixInstance[] = [];
  for (const values of combos) {
    const hit = excludes.findIndex((e) =>
      Object.entries(e.values).every(
        ([k, v]) => Object.hasOwn(values, k) && matrixValueName(values[k]) === matrixValueName(v),
      ),
    );
    if (hit >= 0) {
      used.add(excludes[hit]!.at);
      continue;
    }
    const substituted = substitute(rest, { matrix: values }, diags) as Mapping;
    const out: Mapping = derive(args, { ...substituted });
    for (const [k, v] of Object.entries(values)) out[k] = v;
    instances.push({
      args: out,
      values,
      name: [jobName, ...names.map((n) => matrixValueName(values[n]))].join("-"),
    });
  }
  for (const e of excludes) {
    if (!used.has(e.at))
      diags.warn(matrix.exclude, e.at, "this exclusion matches no combination of the matrix");
  }
  return { alias, instances };
}
