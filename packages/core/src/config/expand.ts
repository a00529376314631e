/**
 * 2.1 reuse: namespaces of commands, executors and jobs (the config's own and each orb's),
 * and expansion of a job invocation into a plain 2.0-style job: parameters bound and
 * substituted, the executor merged in, commands and `when`/`unless` steps unrolled,
 * pre-steps and post-steps added. The result holds only built-in steps.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { bindArguments, readDeclarations, substitute } from "./parameters.ts";
import { BUILTIN_STEPS } from "./steps.ts";
import { evaluate } from "./when.ts";
import { derive, isMapping, type Mapping } from "./yaml.ts";

export interface Namespace {
  /** `""` for the config; the orb alias path (`node`, `node/sub`) for an orb. */
  name: string;
  commands: Map<string, Mapping>;
  executors: Map<string, Mapping>;
  jobs: Map<string, Mapping>;
  orbs: Map<string, Namespace>;
  /** An orb that could not be loaded (already reported): references into it stay quiet. */
  broken?: boolean;
}

export function brokenNamespace(name: string): Namespace {
  return { name, commands: new Map(), executors: new Map(), jobs: new Map(), orbs: new Map(), broken: true };
}

export type Kind = "commands" | "executors" | "jobs";

export interface Found {
  def: Mapping;
  ns: Namespace;
}

/** The definition, or "broken" when the name points into an orb that failed to load. */
export type LookupResult = Found | "broken" | undefined;

export const EXECUTOR_KEYS = ["docker", "machine", "macos", "windows"] as const;

const JOB_KEYS = new Set([
  "description",
  "parameters",
  "executor",
  "docker",
  "machine",
  "macos",
  "windows",
  "resource_class",
  "parallelism",
  "environment",
  "working_directory",
  "shell",
  "steps",
  "circleci_ip_ranges",
  "retention",
  "branches",
  "type",
]);
const EXECUTOR_DEF_KEYS = new Set([
  "description",
  "parameters",
  "docker",
  "machine",
  "macos",
  "windows",
  "resource_class",
  "shell",
  "working_directory",
  "environment",
]);
/** Job names the official schema accepts; CircleCI itself also runs names with `.` and `+`. */
const SCHEMA_JOB_NAME = /^[A-Za-z][A-Za-z\s\d_-]*$/;
const COMMAND_KEYS = new Set(["description", "parameters", "steps"]);

/** Read `commands`, `executors`, `jobs` of a config or orb into a namespace. */
export function readNamespace(
  name: string,
  root: Mapping,
  orbs: Map<string, Namespace>,
  diags: Diagnostics,
): Namespace {
  const ns: Namespace = { name, commands: new Map(), executors: new Map(), jobs: new Map(), orbs };
  for (const kind of ["commands", "executors", "jobs"] as const) {
    const block = root[kind];
    if (block === undefined || block === null) continue;
    if (!isMapping(block)) {
      diags.error(
        root,
        kind,
        `"${kind}" must be a map of names to definitions, not ${describeType(block)}`,
        "value",
      );
      continue;
    }
    for (const [k, def] of Object.entries(block)) {
      if (!isMapping(def)) {
        diags.error(block, k, `${kind.slice(0, -1)} "${k}" must be a map, not ${describeType(def)}`, "value");
        continue;
      }
      const allowed =
        kind === "commands" ? COMMAND_KEYS : kind === "executors" ? EXECUTOR_DEF_KEYS : JOB_KEYS;
      for (const key of Object.keys(def)) {
        if (!allowed.has(key)) diags.error(def, key, `unknown key "${key}" in ${kind.slice(0, -1)} "${k}"`);
      }
      if (k.includes("/")) diags.error(block, k, `a ${kind.slice(0, -1)} name cannot contain "/"`);
      if (kind === "jobs" && !SCHEMA_JOB_NAME.test(k))
        diags.warn(
          block,
          k,
          `job name "${k}" has characters the schema rejects (such as "." or "+"); CircleCI accepts it`,
        );
      ns[kind].set(k, def);
    }
  }
  return ns;
}

export function lookup(ns: Namespace, kind: Kind, name: string): LookupResult {
  if (ns.broken) return "broken";
  const own = ns[kind].get(name);
  if (own) return { def: own, ns };
  const slash = name.indexOf("/");
  if (slash <= 0) return undefined;
  const orb = ns.orbs.get(name.slice(0, slash));
  return orb ? lookup(orb, kind, name.slice(slash + 1)) : undefined;
}

export interface Site {
  container: unknown;
  key: string | number;
}

const stepSites = new WeakMap<unknown[], Site[]>();

/** Where step `index` of an expanded steps list was written (it may come from a command). */
export function stepSite(steps: unknown[], index: number): Site {
  return stepSites.get(steps)?.[index] ?? { container: steps, key: index };
}

const NO_RESERVED = new Set<string>();
const EXECUTOR_RESERVED = new Set(["name"]);
const MAX_DEPTH = 40;

export class Expander {
  /** Built-in step budget: stops exponential command recursion from hanging the compile. */
  private budget = 200_000;
  /** Set when an expansion referred to an orb that failed to load. */
  touchedBroken = false;

  constructor(
    readonly root: Namespace,
    readonly diags: Diagnostics,
  ) {}

  /**
   * Expand one job invocation. `args` holds the invocation's map (workflow keys such as
   * `requires` are skipped). Returns a 2.0-style job map, or undefined when the job is unknown.
   */
  expandJob(
    found: Found,
    jobName: string,
    args: Mapping | undefined,
    reserved: ReadonlySet<string>,
    site: { container: unknown; key: string | number | undefined },
    preSteps?: unknown,
    postSteps?: unknown,
  ): Mapping {
    const { def, ns } = found;
    const decls = readDeclarations(def.parameters, this.diags, def, "parameters");
    const values = bindArguments(decls, args, reserved, `job "${jobName}"`, this.diags, site);
    const body = substitute(def, { parameters: values }, this.diags, "parameters") as Mapping;
    const out: Mapping = derive(body, {});
    let env: Mapping | undefined;
    const inline = EXECUTOR_KEYS.filter((k) => body[k] !== undefined);
    if (body.executor !== undefined && body.executor !== null) {
      if (inline.length > 0)
        this.diags.error(body, inline[0], `job "${jobName}" has both "executor" and "${inline[0]}"; use one`);
      const exec = this.expandExecutor(body.executor, ns, body, "executor");
      if (exec) {
        for (const [k, v] of Object.entries(exec)) {
          if (k === "description" || k === "parameters") continue;
          if (k === "environment") env = mergeEnvironment(undefined, v, this.diags, exec);
          else out[k] = v;
        }
      }
    }
    for (const [k, v] of Object.entries(body)) {
      if (k === "parameters" || k === "description" || k === "executor" || k === "steps") continue;
      if (k === "environment") {
        env = mergeEnvironment(env, v, this.diags, body);
        continue;
      }
      out[k] = v;
    }
    if (env) out.environment = env;
    const steps: unknown[] = [];
    const sites: Site[] = [];
    if (preSteps !== undefined) this.expandSteps(preSteps, this.root, steps, 0, args, "pre-steps", sites);
    this.expandSteps(body.steps, ns, steps, 0, body, "steps", sites);
    if (postSteps !== undefined) this.expandSteps(postSteps, this.root, steps, 0, args, "post-steps", sites);
    if (body.steps !== undefined) {
      out.steps = derive(body.steps, steps);
      stepSites.set(steps, sites);
    }
    return out;
  }

  /** `executor: name` or `executor: {name, ...args}` to the executor's substituted body. */
  expandExecutor(ref: unknown, ns: Namespace, container: unknown, key: string): Mapping | undefined {
    let name: string;
    let args: Mapping | undefined;
    if (typeof ref === "string") name = ref;
    else if (isMapping(ref)) {
      if (typeof ref.name !== "string") {
        // An inline executor body passed as a parameter value.
        if (EXECUTOR_KEYS.some((k) => ref[k] !== undefined)) return ref;
        this.diags.error(container, key, `executor needs a "name"`, "value");
        return undefined;
      }
      name = ref.name;
      args = ref;
    } else {
      this.diags.error(
        container,
        key,
        `"executor" must be a name or a map with "name", not ${describeType(ref)}`,
        "value",
      );
      return undefined;
    }
    const found =
      lookup(ns, "executors", name) ?? (ns === this.root ? undefined : lookup(this.root, "executors", name));
    if (found === "broken") {
      this.touchedBroken = true;
      return undefined;
    }
    if (!found) {
      this.diags.error(container, key, `unknown executor "${name}"`, "value");
      return undefined;
    }
    const decls = readDeclarations(found.def.parameters, this.diags, found.def, "parameters");
    const values = bindArguments(decls, args, EXECUTOR_RESERVED, `executor "${name}"`, this.diags, {
      container,
      key,
    });
    return substitute(found.def, { parameters: values }, this.diags, "parameters") as Mapping;
  }

  /** Unroll a steps list into `out`: built-in steps only. */
  expandSteps(
    steps: unknown,
    ns: Namespace,
    out: unknown[],
    depth: number,
    container: unknown,
    key: string | number,
    sites: Site[],
  ): void {
    if (steps === undefined || steps === null) return;
    if (!Array.isArray(steps)) {
      this.diags.error(container, key, `"steps" must be a list, not ${describeType(steps)}`, "value");
      return;
    }
    if (depth > MAX_DEPTH) {
      this.diags.error(
        container,
        key,
        `commands nest deeper than ${MAX_DEPTH} levels (a command invokes itself?)`,
      );
      return;
    }
    for (let i = 0; i < steps.length; i++) {
      const item = steps[i];
      if (Array.isArray(item)) {
        // A `steps` parameter spliced into a list.
        this.expandSteps(item, ns, out, depth + 1, steps, i, sites);
        continue;
      }
      let name: string;
      let args: unknown;
      if (typeof item === "string") name = item;
      else if (isMapping(item)) {
        const keys = Object.keys(item);
        if (keys.length !== 1) {
          this.diags.error(
            steps,
            i,
            keys.length === 0
              ? "a step cannot be empty"
              : `a step must have exactly one key (the step or command name), found ${keys.join(", ")}; indent the step's keys under its name`,
          );
          continue;
        }
        name = keys[0]!;
        args = item[name];
      } else {
        this.diags.error(steps, i, `a step must be a name or a map, not ${describeType(item)}`);
        continue;
      }
      if (--this.budget < 0) {
        if (this.budget === -1) this.diags.error(steps, i, "the config expands to too many steps");
        return;
      }
      if (name === "when" || name === "unless") {
        this.conditional(name, args, ns, out, depth, steps, i, sites);
        continue;
      }
      if (name === "steps") {
        // `- steps: << parameters.steps >>`: a nested list of steps.
        this.expandSteps(args, ns, out, depth + 1, item, name, sites);
        continue;
      }
      if (BUILTIN_STEPS.has(name)) {
        out.push(item);
        sites.push({ container: steps, key: i });
        continue;
      }
      const found =
        lookup(ns, "commands", name) ?? (ns === this.root ? undefined : lookup(this.root, "commands", name));
      if (found === "broken") {
        this.touchedBroken = true;
        continue;
      }
      if (!found) {
        this.diags.error(steps, i, `unknown step or command "${name}"`);
        continue;
      }
      if (args !== undefined && args !== null && !isMapping(args)) {
        this.diags.error(
          item,
          name,
          `arguments of command "${name}" must be a map, not ${describeType(args)}`,
          "value",
        );
        continue;
      }
      const decls = readDeclarations(found.def.parameters, this.diags, found.def, "parameters");
      const values = bindArguments(decls, args ?? undefined, NO_RESERVED, `command "${name}"`, this.diags, {
        container: steps,
        key: i,
      });
      const body = substitute(found.def, { parameters: values }, this.diags, "parameters") as Mapping;
      this.expandSteps(body.steps, found.ns, out, depth + 1, body, "steps", sites);
    }
  }

  private conditional(
    op: "when" | "unless",
    args: unknown,
    ns: Namespace,
    out: unknown[],
    depth: number,
    steps: unknown[],
    i: number,
    sites: Site[],
  ) {
    if (!isMapping(args) || !Object.hasOwn(args, "condition")) {
      this.diags.error(steps, i, `"${op}" step needs "condition" and "steps"`);
      return;
    }
    for (const k of Object.keys(args)) {
      if (k !== "condition" && k !== "steps") this.diags.error(args, k, `unknown key "${k}" in ${op} step`);
    }
    const yes = evaluate(args.condition, this.diags, args, "condition");
    if (yes === (op === "when")) this.expandSteps(args.steps, ns, out, depth + 1, args, "steps", sites);
  }
}

/** `environment` as a map or a list of maps, merged over `base`. */
export function mergeEnvironment(
  base: Mapping | undefined,
  raw: unknown,
  diags: Diagnostics,
  container: unknown,
): Mapping {
  const out: Mapping = derive(isMapping(raw) ? raw : container, { ...(base ?? {}) });
  if (raw === null || raw === undefined) return out;
  const maps = Array.isArray(raw) ? raw : [raw];
  maps.forEach((m, i) => {
    if (isMapping(m)) Object.assign(out, m);
    else if (typeof m === "string" && m.includes("=")) {
      // `- KEY=value` list form
      const eq = m.indexOf("=");
      out[m.slice(0, eq)] = m.slice(eq + 1);
    } else
      diags.error(
        Array.isArray(raw) ? raw : container,
        Array.isArray(raw) ? i : "environment",
        `"environment" must be a map of names to values (or a list of such maps), not ${describeType(m)}`,
        "value",
      );
  });
  return out;
}
