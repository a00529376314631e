/**
 * 2.1 parameters: declarations (`parameters:` on pipelines, jobs, commands, executors),
 * binding invocation arguments to them (types, defaults, enums), and the `<< x.y >>`
 * substitution that puts values into a definition.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { derive, isMapping, type Mapping } from "./yaml.ts";

export type ParamType = "string" | "boolean" | "integer" | "enum" | "executor" | "steps" | "env_var_name";

const TYPES = new Set<string>(["string", "boolean", "integer", "enum", "executor", "steps", "env_var_name"]);
const DECL_KEYS = new Set(["type", "default", "description", "enum"]);

export interface ParamDecl {
  name: string;
  type: ParamType;
  hasDefault: boolean;
  default?: unknown;
  enum?: string[];
}

/** Read a `parameters:` block; reports malformed declarations. */
export function readDeclarations(
  block: unknown,
  diags: Diagnostics,
  owner: unknown,
  ownerKey: string,
): Map<string, ParamDecl> {
  const out = new Map<string, ParamDecl>();
  if (block === undefined || block === null) return out;
  if (!isMapping(block)) {
    diags.error(
      owner,
      ownerKey,
      `"parameters" must be a map of parameter declarations, not ${describeType(block)}`,
    );
    return out;
  }
  for (const [name, raw] of Object.entries(block)) {
    if (!isMapping(raw)) {
      diags.error(block, name, `parameter "${name}" must be a map with a "type"`);
      continue;
    }
    for (const k of Object.keys(raw)) {
      if (!DECL_KEYS.has(k)) diags.error(raw, k, `unknown key "${k}" in parameter declaration`);
    }
    const type = raw.type;
    if (typeof type !== "string" || !TYPES.has(type)) {
      diags.error(
        raw,
        "type",
        `parameter "${name}" needs a type: one of string, boolean, integer, enum, executor, steps, env_var_name`,
      );
      continue;
    }
    const decl: ParamDecl = { name, type: type as ParamType, hasDefault: Object.hasOwn(raw, "default") };
    if (type === "enum") {
      if (!Array.isArray(raw.enum) || raw.enum.length === 0) {
        diags.error(raw, "enum", `enum parameter "${name}" needs a non-empty "enum" list`);
        decl.enum = [];
      } else decl.enum = raw.enum.map((v) => String(v));
    }
    if (decl.hasDefault) {
      const v = coerce(decl, raw.default);
      if (v.ok) decl.default = v.value;
      else diags.error(raw, "default", `default of parameter "${name}": ${v.message}`);
    }
    out.set(name, decl);
  }
  return out;
}

type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Check a value against a declaration, converting where CircleCI does (e.g. `"5"` for an integer). */
export function coerce(decl: ParamDecl, value: unknown): Coerced {
  switch (decl.type) {
    case "string":
      if (typeof value === "string") return { ok: true, value };
      if (typeof value === "number" || typeof value === "boolean") return { ok: true, value: String(value) };
      if (value === null) return { ok: true, value: "" };
      return { ok: false, message: `expected a string, got ${describeType(value)}` };
    case "boolean":
      if (typeof value === "boolean") return { ok: true, value };
      if (value === "true" || value === "false") return { ok: true, value: value === "true" };
      return { ok: false, message: `expected a boolean, got ${describeType(value)}` };
    case "integer":
      if (typeof value === "number" && Number.isInteger(value)) return { ok: true, value };
      if (typeof value === "string" && /^-?\d+$/.test(value.trim()))
        return { ok: true, value: Number(value) };
      return {
        ok: false,
        message: `expected an integer, got ${describeType(value)} ${JSON.stringify(value)}`,
      };
    case "enum": {
      const s =
        typeof value === "string" || typeof value === "number" || typeof value === "boolean"
          ? String(value)
          : undefined;
      if (s !== undefined && decl.enum?.includes(s)) return { ok: true, value: s };
      return {
        ok: false,
        message: `expected one of ${(decl.enum ?? []).join(", ")}, got ${JSON.stringify(value)}`,
      };
    }
    case "env_var_name":
      if (typeof value === "string" && ENV_VAR_NAME.test(value)) return { ok: true, value };
      return { ok: false, message: `expected an environment variable name, got ${JSON.stringify(value)}` };
    case "steps":
      if (value === null) return { ok: true, value: [] };
      if (Array.isArray(value)) return { ok: true, value };
      return { ok: false, message: `expected a list of steps, got ${describeType(value)}` };
    case "executor":
      if (typeof value === "string" || isMapping(value)) return { ok: true, value };
      return { ok: false, message: `expected an executor name or map, got ${describeType(value)}` };
  }
}

/**
 * Bind the arguments of an invocation to the declarations: every declared parameter gets
 * its argument or default; missing required ones and unknown arguments are errors.
 */
export function bindArguments(
  decls: Map<string, ParamDecl>,
  args: Mapping | undefined,
  reserved: ReadonlySet<string>,
  what: string,
  diags: Diagnostics,
  site: { container: unknown; key: string | number | undefined },
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  if (args) {
    for (const [k, v] of Object.entries(args)) {
      if (reserved.has(k)) continue;
      const decl = decls.get(k);
      if (!decl) {
        diags.error(args, k, `${what} has no parameter "${k}"`);
        continue;
      }
      const c = coerce(decl, v);
      if (c.ok) values[k] = c.value;
      else diags.error(args, k, `parameter "${k}" of ${what}: ${c.message}`, "value");
    }
  }
  for (const decl of decls.values()) {
    if (Object.hasOwn(values, decl.name)) continue;
    if (args && Object.hasOwn(args, decl.name)) continue; // bad value, already reported
    if (decl.hasDefault) values[decl.name] = decl.default;
    else diags.error(site.container, site.key, `${what} needs parameter "${decl.name}" (it has no default)`);
  }
  return values;
}

/** Values available to `<< ... >>` in one substitution pass, by namespace. */
export interface Scope {
  parameters?: Record<string, unknown>;
  pipeline?: Record<string, unknown>;
  matrix?: Record<string, unknown>;
}

const PLACEHOLDER = /(\\)?<<(\s*)((?:parameters|pipeline|matrix)\.[^\s<>]+)(\s*)>>/g;
const SECTION_START = /<<\s*[#^]/;
const SECTION = /<<\s*([#^])\s*((?:parameters|pipeline|matrix)\.[^\s<>]+)\s*>>([\s\S]*?)<<\s*\/\s*\2\s*>>/g;
const WHOLE = /^\s*<<\s*((?:parameters|pipeline|matrix)\.[^\s<>]+)\s*>>\s*$/;

/**
 * Replace `<< parameters.x >>`, `<< pipeline.x >>` and `<< matrix.x >>` in a value, for the
 * namespaces present in `scope`. A string that is exactly one placeholder takes the value
 * with its type (a boolean, a list of steps); inside a longer string the value is printed.
 * Unchanged sub-trees are returned as they were (same objects, same locations).
 */
export function substitute(value: unknown, scope: Scope, diags: Diagnostics, skipKey?: string): unknown {
  return new Substituter(scope, diags).walk(value, undefined, undefined, skipKey);
}

class Substituter {
  constructor(
    readonly scope: Scope,
    readonly diags: Diagnostics,
  ) {}

  walk(value: unknown, container: unknown, key: string | number | undefined, skipKey?: string): unknown {
    if (typeof value === "string") return value.includes("<<") ? this.string(value, container, key) : value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        const n = this.walk(v, value, i);
        if (n !== v && !out) out = value.slice(0, i);
        if (out) out.push(n);
      }
      return out ? derive(value, out) : value;
    }
    if (isMapping(value)) {
      let out: Mapping | undefined;
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = value[k];
        const n = k === skipKey ? v : this.walk(v, value, k);
        // Keys can carry placeholders too (`<< parameters.name >>: value`).
        const nk = k.includes("<<") ? String(this.string(k, value, k)) : k;
        if ((n !== v || nk !== k) && !out) {
          out = {};
          for (let j = 0; j < i; j++) out[keys[j]!] = value[keys[j]!];
        }
        if (out) out[nk] = n;
      }
      return out ? derive(value, out) : value;
    }
    return value;
  }

  private lookup(
    expr: string,
    container: unknown,
    key: string | number | undefined,
  ): { found: boolean; value?: unknown } {
    const dot = expr.indexOf(".");
    const ns = expr.slice(0, dot) as keyof Scope;
    const table = this.scope[ns];
    if (!table) return { found: false };
    const name = expr.slice(dot + 1);
    if (Object.hasOwn(table, name)) return { found: true, value: table[name] };
    const hint =
      ns === "parameters"
        ? `parameter "${name}" is not declared here`
        : ns === "matrix"
          ? `matrix parameter "${name}" is not defined`
          : `unknown pipeline value "${expr}"`;
    this.diags.error(container, key, `<< ${expr} >>: ${hint}`, "value");
    return { found: true, value: "" };
  }

  private string(input: string, container: unknown, key: string | number | undefined): unknown {
    let s = input;
    if (SECTION_START.test(s)) s = this.sections(s, container, key);
    const whole = WHOLE.exec(s);
    if (whole && !s.includes("\\<<")) {
      const r = this.lookup(whole[1]!, container, key);
      if (r.found) {
        this.checkSpacing(s, container, key);
        return r.value === undefined ? "" : r.value;
      }
      return s;
    }
    let changed = false;
    const out = s.replace(
      PLACEHOLDER,
      (all, esc: string | undefined, sp1: string, expr: string, sp2: string) => {
        if (esc) {
          changed = true;
          return all.slice(1);
        }
        const r = this.lookup(expr, container, key);
        if (!r.found) return all;
        changed = true;
        if (!sp1 || !sp2) this.warnSpacing(expr, container, key);
        return printInline(r.value, expr, this.diags, container, key);
      },
    );
    return changed || s !== input ? out : input;
  }

  /** Mustache-style sections: `<<# matrix.x >>shown if truthy<</ matrix.x >>`, `<<^ ... >>` if falsy. */
  private sections(s: string, container: unknown, key: string | number | undefined): string {
    return s.replace(SECTION, (all, kind: string, expr: string, body: string) => {
      const r = this.lookup(expr, container, key);
      if (!r.found) return all;
      const v = r.value;
      const on = !(
        v === false ||
        v === null ||
        v === undefined ||
        v === "" ||
        v === 0 ||
        (Array.isArray(v) && v.length === 0)
      );
      return (kind === "#") === on ? body : "";
    });
  }

  private checkSpacing(s: string, container: unknown, key: string | number | undefined) {
    const m = /<<(\s*)([^\s<>]+)(\s*)>>/.exec(s);
    if (m && (!m[1] || !m[3])) this.warnSpacing(m[2]!, container, key);
  }

  private warnSpacing(expr: string, container: unknown, key: string | number | undefined) {
    this.diags.warn(
      container,
      key,
      `<<${expr}>> written without spaces; CircleCI accepts it but the schema wants << ${expr} >>`,
      "value",
    );
  }
}

function printInline(
  value: unknown,
  expr: string,
  diags: Diagnostics,
  container: unknown,
  key: string | number | undefined,
): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  diags.error(
    container,
    key,
    `<< ${expr} >> is ${describeType(value)} and cannot be used inside a string`,
    "value",
  );
  return "";
}
