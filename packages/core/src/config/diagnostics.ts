/**
 * Collects every error and warning of one compile, each located in the YAML source.
 * Nothing in the engine throws for a bad config; it reports here and carries on, so a
 * user sees all problems at once.
 */
import type { ConfigDiagnostic } from "./plan.ts";
import { positionOf } from "./yaml.ts";

export class Diagnostics {
  readonly errors: ConfigDiagnostic[] = [];
  readonly warnings: ConfigDiagnostic[] = [];
  private readonly seen = new Set<string>();

  /** An error at `container[key]` (or the container itself). */
  error(
    container: unknown,
    key: string | number | undefined,
    message: string,
    at: "key" | "value" = "key",
  ): void {
    this.push(this.errors, container, key, message, at);
  }

  /**
   * An unknown key: the path names the map that holds it, the line and column the key
   * itself (`jobs.build.steps[2].run: unknown key "comand" (line 14, column 9)`).
   */
  unknownKey(container: unknown, key: string, severity: "error" | "warning", hint = ""): void {
    const pos = positionOf(container, key, "key");
    const path = positionOf(container).path;
    const list = severity === "error" ? this.errors : this.warnings;
    const message = `unknown key "${key}"${hint}${pos.label ? ` (in orb ${pos.label})` : ""}`;
    const id = `${severity}\0${path}\0${message}\0${pos.line}\0${pos.column}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const d: ConfigDiagnostic = { path, message };
    if (pos.line !== undefined) d.line = pos.line;
    if (pos.column !== undefined) d.column = pos.column;
    list.push(d);
  }

  warn(
    container: unknown,
    key: string | number | undefined,
    message: string,
    at: "key" | "value" = "key",
  ): void {
    this.push(this.warnings, container, key, message, at);
  }

  /** An error already located (YAML syntax errors, orb resolution). */
  add(d: ConfigDiagnostic): void {
    const id = `${d.path}\0${d.message}\0${d.line}\0${d.column}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.errors.push(d);
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  private push(
    list: ConfigDiagnostic[],
    container: unknown,
    key: string | number | undefined,
    message: string,
    at: "key" | "value",
  ) {
    const pos = positionOf(container, key, at);
    const text = pos.label ? `${message} (in orb ${pos.label})` : message;
    const id = `${list === this.errors ? "e" : "w"}\0${pos.path}\0${text}\0${pos.line}\0${pos.column}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const d: ConfigDiagnostic = { path: pos.path, message: text };
    if (pos.line !== undefined) d.line = pos.line;
    if (pos.column !== undefined) d.column = pos.column;
    list.push(d);
  }
}

/** `jobs.build.steps[2].run: unknown key "comand" (line 14, column 9)` */
export function formatDiagnostic(d: ConfigDiagnostic): string {
  const where = d.line !== undefined ? ` (line ${d.line}, column ${d.column ?? 1})` : "";
  return `${d.path ? `${d.path}: ` : ""}${d.message}${where}`;
}

export function describeType(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

/** The known word a misspelt key most likely meant (edit distance at most 2), if any. */
export function nearMiss(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(word.toLowerCase(), k.toLowerCase(), bestD);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) >= max) return max;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= max) return max;
    prev = cur;
  }
  return prev[b.length]!;
}
