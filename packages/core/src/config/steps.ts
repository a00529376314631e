/**
 * Built-in steps to the typed plan: checkout, run (and the deprecated deploy), save_cache,
 * restore_cache, store_artifacts, store_test_results, persist_to_workspace,
 * attach_workspace, add_ssh_keys, setup_remote_docker. Every key is checked; unknown keys
 * are errors, things CircleCI runs but the schema rejects are warnings.
 */
import { type Diagnostics, describeType, nearMiss } from "./diagnostics.ts";
import type { Step, StepWhen } from "./plan.ts";
import { isMapping, type Mapping } from "./yaml.ts";

export const BUILTIN_STEPS = new Set([
  "checkout",
  "run",
  "deploy",
  "save_cache",
  "restore_cache",
  "store_artifacts",
  "store_test_results",
  "persist_to_workspace",
  "attach_workspace",
  "add_ssh_keys",
  "setup_remote_docker",
]);

/** Steps that may be written as a bare name. */
const BARE = new Set(["checkout", "add_ssh_keys", "setup_remote_docker"]);

const KEYS: Record<string, readonly string[]> = {
  checkout: ["name", "path", "method"],
  run: [
    "name",
    "command",
    "shell",
    "background",
    "working_directory",
    "environment",
    "no_output_timeout",
    "when",
    "max_auto_reruns",
    "auto_rerun_delay",
  ],
  save_cache: ["name", "key", "paths", "when"],
  restore_cache: ["name", "key", "keys"],
  store_artifacts: ["name", "path", "destination"],
  store_test_results: ["name", "path"],
  persist_to_workspace: ["name", "root", "paths"],
  attach_workspace: ["name", "at"],
  add_ssh_keys: ["name", "fingerprints"],
  setup_remote_docker: ["name", "version", "docker_layer_caching"],
};
KEYS.deploy = KEYS.run!;

const KEY_SETS: Record<string, Set<string>> = Object.fromEntries(
  Object.entries(KEYS).map(([k, v]) => [k, new Set(v)]),
);

/** Seconds in a CircleCI duration: `20m`, `1h`, `30s`, `1h30m`, `1.5h`; a bare number is seconds. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null = re.exec(s);
  while (m) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === "h" ? n * 3600 : unit === "m" ? n * 60 : unit === "s" ? n : n / 1000;
    pos = re.lastIndex;
    m = re.exec(s);
  }
  if (pos === 0 || pos !== s.length) return undefined;
  return total;
}

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

export function stringMap(
  raw: unknown,
  diags: Diagnostics,
  container: unknown,
  key: string | number,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined || raw === null) return out;
  const maps = Array.isArray(raw) ? raw : [raw];
  maps.forEach((m, i) => {
    const c = Array.isArray(raw) ? raw : container;
    const k = Array.isArray(raw) ? i : key;
    if (typeof m === "string" && m.includes("=")) {
      const eq = m.indexOf("=");
      out[m.slice(0, eq)] = m.slice(eq + 1);
      return;
    }
    if (!isMapping(m)) {
      diags.error(c, k, `must be a map of names to values, not ${describeType(m)}`, "value");
      return;
    }
    for (const [name, v] of Object.entries(m)) {
      if (v === null) out[name] = "";
      else {
        const s = str(v);
        if (s === undefined)
          diags.error(m, name, `value of "${name}" must be a string, not ${describeType(v)}`, "value");
        else out[name] = s;
      }
    }
  });
  return out;
}

function stringList(raw: unknown, diags: Diagnostics, container: Mapping, key: string): string[] | undefined {
  if (!Array.isArray(raw)) {
    diags.error(container, key, `"${key}" must be a list of strings, not ${describeType(raw)}`, "value");
    return undefined;
  }
  const out: string[] = [];
  raw.forEach((v, i) => {
    const s = str(v);
    if (s === undefined) diags.error(raw, i, `must be a string, not ${describeType(v)}`, "value");
    else out.push(s);
  });
  return out;
}

function whenValue(raw: unknown, diags: Diagnostics, container: Mapping): StepWhen {
  if (raw === undefined || raw === null) return "on_success";
  if (raw === "always" || raw === "on_success" || raw === "on_fail") return raw;
  diags.error(
    container,
    "when",
    `"when" must be always, on_success or on_fail, not ${JSON.stringify(raw)}`,
    "value",
  );
  return "on_success";
}

function bool(raw: unknown, diags: Diagnostics, container: Mapping, key: string): boolean | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "boolean") return raw;
  if (raw === "true" || raw === "false") return raw === "true";
  diags.error(container, key, `"${key}" must be true or false, not ${JSON.stringify(raw)}`, "value");
  return undefined;
}

function required(body: Mapping, key: string, step: string, diags: Diagnostics): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    diags.error(body, undefined, `${step} needs "${key}"`);
    return undefined;
  }
  const s = str(v);
  if (s === undefined) diags.error(body, key, `"${key}" must be a string, not ${describeType(v)}`, "value");
  return s;
}

/**
 * One built-in step (already expanded: no commands, no when/unless) to the plan.
 * `steps[index]` is where it was written.
 */
export function compileStep(
  raw: unknown,
  diags: Diagnostics,
  steps: unknown,
  index: string | number,
): Step | undefined {
  let type: string;
  let body: unknown;
  if (typeof raw === "string") {
    type = raw;
    body = undefined;
  } else if (isMapping(raw)) {
    const keys = Object.keys(raw);
    if (keys.length !== 1) {
      diags.error(
        steps,
        index,
        `a step must have exactly one key (the step name), found ${keys.join(", ") || "none"}`,
      );
      return undefined;
    }
    type = keys[0]!;
    body = raw[type];
  } else {
    diags.error(steps, index, `a step must be a name or a map, not ${describeType(raw)}`);
    return undefined;
  }
  if (!BUILTIN_STEPS.has(type)) {
    diags.error(steps, index, `unknown step "${type}"`);
    return undefined;
  }
  if (type === "run" || type === "deploy") {
    if (type === "deploy") diags.warn(steps, index, `"deploy" is deprecated; use "run"`);
    if (typeof body === "string") return runStep(body);
  }
  if (body === undefined || body === null) {
    if (BARE.has(type)) body = {};
    else {
      diags.error(steps, index, `step "${type}" needs its settings`);
      return undefined;
    }
  }
  if (!isMapping(body)) {
    diags.error(raw, type, `step "${type}" must be a map of settings, not ${describeType(body)}`, "value");
    return undefined;
  }
  const allowed = KEY_SETS[type]!;
  for (const k of Object.keys(body)) {
    if (allowed.has(k)) continue;
    if (type === "restore_cache" && k === "paths") {
      diags.warn(
        body,
        k,
        `"paths" has no effect in restore_cache (CircleCI ignores it; the schema rejects it)`,
      );
      continue;
    }
    if (type === "setup_remote_docker" && (k === "reusable" || k === "exclusive")) {
      diags.warn(body, k, `"${k}" is deprecated in setup_remote_docker and ignored`);
      continue;
    }
    // CircleCI ignores stray keys in a step (real configs carry some), so a stray key is a
    // warning; a near miss of a real key (`comand`) is an error, since the setting it meant
    // is silently lost.
    const meant = nearMiss(k, allowed);
    if (meant) diags.unknownKey(body, k, "error", ` (did you mean "${meant}"?)`);
    else diags.unknownKey(body, k, "warning", "; CircleCI ignores it");
  }
  const name = body.name === undefined || body.name === null ? undefined : str(body.name);
  const named = (s: Step): Step => (name !== undefined ? { ...s, name } : s);
  switch (type) {
    case "checkout": {
      const s: Step = { type: "checkout" };
      const path = str(body.path);
      if (path !== undefined) s.path = path;
      if (body.method !== undefined) {
        if (body.method === "full" || body.method === "blobless") s.method = body.method;
        else diags.error(body, "method", `checkout "method" must be full or blobless`, "value");
      }
      return named(s);
    }
    case "run":
    case "deploy": {
      const command = required(body, "command", "run", diags) ?? "";
      const s = runStep(command);
      if (name !== undefined) s.name = name;
      const shell = str(body.shell);
      if (shell !== undefined) s.shell = shell;
      s.background = bool(body.background, diags, body, "background") ?? false;
      const wd = str(body.working_directory);
      if (wd !== undefined) s.workingDirectory = wd;
      s.environment = stringMap(body.environment, diags, body, "environment");
      if (body.no_output_timeout !== undefined && body.no_output_timeout !== null) {
        const t = parseDuration(body.no_output_timeout);
        if (t === undefined)
          diags.error(
            body,
            "no_output_timeout",
            `"no_output_timeout" must be a duration such as 20m, 1h or 30s, not ${JSON.stringify(body.no_output_timeout)}`,
            "value",
          );
        else s.noOutputTimeout = t;
      }
      s.when = whenValue(body.when, diags, body);
      if (body.max_auto_reruns !== undefined) {
        const n = Number(body.max_auto_reruns);
        if (!Number.isInteger(n) || n < 1 || n > 5)
          diags.error(body, "max_auto_reruns", `"max_auto_reruns" must be an integer from 1 to 5`, "value");
        else s.maxAutoReruns = n;
      }
      const delay = str(body.auto_rerun_delay);
      if (delay !== undefined) {
        if (parseDuration(delay) === undefined)
          diags.error(
            body,
            "auto_rerun_delay",
            `"auto_rerun_delay" must be a duration such as 30s or 5m`,
            "value",
          );
        s.autoRerunDelay = delay;
      }
      return s;
    }
    case "save_cache": {
      const key = required(body, "key", "save_cache", diags) ?? "";
      const paths = body.paths === undefined ? undefined : stringList(body.paths, diags, body, "paths");
      if (body.paths === undefined) diags.error(body, undefined, `save_cache needs "paths"`);
      return named({ type: "save_cache", key, paths: paths ?? [], when: whenValue(body.when, diags, body) });
    }
    case "restore_cache": {
      const keys: string[] = [];
      if (body.keys !== undefined && body.keys !== null)
        keys.push(...(stringList(body.keys, diags, body, "keys") ?? []));
      if (body.key !== undefined && body.key !== null) {
        const k = str(body.key);
        if (k === undefined) diags.error(body, "key", `"key" must be a string`, "value");
        else keys.unshift(k);
      }
      if (body.key === undefined && body.keys === undefined)
        diags.error(body, undefined, `restore_cache needs "key" or "keys"`);
      return named({ type: "restore_cache", keys });
    }
    case "store_artifacts": {
      const s: Step = {
        type: "store_artifacts",
        path: required(body, "path", "store_artifacts", diags) ?? "",
      };
      const dest = str(body.destination);
      if (dest !== undefined) s.destination = dest;
      return named(s);
    }
    case "store_test_results":
      return named({
        type: "store_test_results",
        path: required(body, "path", "store_test_results", diags) ?? "",
      });
    case "persist_to_workspace": {
      const root = required(body, "root", "persist_to_workspace", diags) ?? "";
      let paths: string[] = [];
      if (typeof body.paths === "string") {
        diags.warn(
          body,
          "paths",
          `"paths" should be a list; CircleCI accepts a single string but the schema rejects it`,
        );
        paths = [body.paths];
      } else if (body.paths === undefined) diags.error(body, undefined, `persist_to_workspace needs "paths"`);
      else paths = stringList(body.paths, diags, body, "paths") ?? [];
      return named({ type: "persist_to_workspace", root, paths });
    }
    case "attach_workspace":
      return named({ type: "attach_workspace", at: required(body, "at", "attach_workspace", diags) ?? "" });
    case "add_ssh_keys": {
      const fps =
        body.fingerprints === undefined
          ? []
          : (stringList(body.fingerprints, diags, body, "fingerprints") ?? []);
      return named({ type: "add_ssh_keys", fingerprints: fps });
    }
    default: {
      // setup_remote_docker
      const s: Step = { type: "setup_remote_docker" };
      const version = str(body.version);
      if (version !== undefined) s.version = version;
      const dlc = bool(body.docker_layer_caching, diags, body, "docker_layer_caching");
      if (dlc !== undefined) s.dockerLayerCaching = dlc;
      return named(s);
    }
  }
}

function runStep(command: string): Extract<Step, { type: "run" }> {
  return { type: "run", command, background: false, environment: {}, when: "on_success" };
}
