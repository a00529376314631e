/**
 * YAML to plain values, remembering where every mapping and sequence (and each of their
 * entries) was written, so a diagnostic anywhere in the engine can name the config path and
 * the line and column. Anchors, aliases and merge keys (`<<: *defaults`) are resolved here;
 * a redefined anchor overrides the earlier one for the aliases after it (YAML 1.2).
 *
 * Values are plain JS (objects, arrays, strings, numbers, booleans, null) and are never
 * mutated after parsing: an alias yields the very object its anchor produced, so code that
 * derives new values must copy (see `derive`).
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  parseDocument,
  type Scalar,
} from "yaml";
import type { ConfigDiagnostic } from "./plan.ts";

/** One YAML text: the config itself or an orb's source. */
export interface Source {
  /** Path prefix for diagnostics in this text: `""` for the config, `orbs.node` for an orb. */
  prefix: string;
  /** Where the text comes from, for messages (`circleci/node@5.1.0`); absent for the config. */
  label?: string;
  counter: LineCounter;
}

/** Where a mapping or sequence was written, and where each of its entries was. */
export interface Loc {
  src: Source;
  off: number;
  parent?: Loc;
  key?: string | number;
  /** Entry key (or index) to [offset of the key, offset of the value]. */
  entries: Map<string | number, [number, number]>;
}

const locs = new WeakMap<object, Loc>();

export type Mapping = Record<string, unknown>;

export function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function locOf(value: unknown): Loc | undefined {
  return typeof value === "object" && value !== null ? locs.get(value) : undefined;
}

/** A new object takes the location of the one it was derived from. */
export function derive<T extends object>(from: unknown, to: T): T {
  const loc = locOf(from);
  if (loc) locs.set(to, loc);
  return to;
}

/** Record an explicit location (used for values built from another value's entry). */
export function setLoc(obj: object, loc: Loc): void {
  locs.set(obj, loc);
}

export function pathOfLoc(loc: Loc | undefined): string {
  if (!loc) return "";
  const parts: (string | number)[] = [];
  let cur: Loc | undefined = loc;
  let prefix = "";
  while (cur) {
    if (cur.key === undefined) {
      prefix = cur.src.prefix;
      break;
    }
    parts.push(cur.key);
    cur = cur.parent;
  }
  let out = prefix;
  for (let i = parts.length - 1; i >= 0; i--) out = joinPath(out, parts[i]!);
  return out;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

export interface Position {
  path: string;
  line?: number;
  column?: number;
  label?: string;
}

/** Where `container[key]` (or the container itself) was written. */
export function positionOf(container: unknown, key?: string | number, at: "key" | "value" = "key"): Position {
  const loc = locOf(container);
  if (!loc) return { path: key === undefined ? "" : String(key) };
  const path = key === undefined ? pathOfLoc(loc) : joinPath(pathOfLoc(loc), key);
  let off = loc.off;
  if (key !== undefined) {
    const entry = loc.entries.get(key);
    if (entry) off = at === "key" ? entry[0] : entry[1];
  }
  const { line, col } = loc.src.counter.linePos(off);
  const pos: Position = { path, line, column: col };
  if (loc.src.label) pos.label = loc.src.label;
  return pos;
}

export interface ParseResult {
  value: unknown;
  errors: ConfigDiagnostic[];
}

const PLAIN_INT = /^[-+]?(0|[1-9][0-9]*)$/;

/**
 * Parse one YAML document. Syntax errors come back as diagnostics (never thrown); the
 * value is then `undefined`.
 */
export function parseYaml(text: string, src: Source): ParseResult {
  const doc = parseDocument(text, { lineCounter: src.counter, merge: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => {
      const { line, col } = src.counter.linePos(e.pos[0]);
      const message = e.message.replace(/\s+at line \d+, column \d+.*$/s, "").split("\n")[0]!;
      const d: ConfigDiagnostic = {
        path: src.prefix,
        message: `${src.label ? `${src.label}: ` : ""}invalid YAML: ${message}`,
        line,
        column: col,
      };
      return d;
    });
    return { value: undefined, errors };
  }
  const conv = new Converter(src);
  const value = doc.contents ? conv.node(doc.contents as Node, undefined, undefined) : null;
  return { value, errors: conv.errors };
}

class Converter {
  readonly anchors = new Map<string, unknown>();
  readonly errors: ConfigDiagnostic[] = [];
  constructor(readonly src: Source) {}

  private fail(off: number, message: string, parent: Loc | undefined, key: string | number | undefined) {
    const { line, col } = this.src.counter.linePos(off);
    const base = pathOfLoc(parent);
    this.errors.push({
      path: key === undefined ? base : joinPath(base, key),
      message,
      line,
      column: col,
    });
  }

  node(node: Node, parent: Loc | undefined, key: string | number | undefined): unknown {
    const off = node.range?.[0] ?? 0;
    let out: unknown;
    if (isAlias(node)) {
      if (!this.anchors.has(node.source)) {
        this.fail(off, `unknown alias *${node.source} (the anchor must be defined before it)`, parent, key);
        return null;
      }
      return this.anchors.get(node.source);
    }
    if (isScalar(node)) out = scalar(node);
    else if (isMap(node)) {
      const obj: Mapping = {};
      const loc: Loc = { src: this.src, off, parent, key, entries: new Map() };
      locs.set(obj, loc);
      const merged = new Set<string>();
      for (const pair of node.items) {
        const k = pair.key as Node | null;
        const v = pair.value as Node | null;
        const keyOff = k?.range?.[0] ?? off;
        const valOff = v?.range?.[0] ?? keyOff;
        if (k && isScalar(k) && typeof k.value === "symbol") {
          this.merge(obj, loc, merged, v, keyOff);
          continue;
        }
        let name: string;
        if (k === null) name = "";
        else if (isScalar(k)) name = k.value === null ? "" : String(scalar(k));
        else {
          this.fail(keyOff, "mapping keys must be plain values", loc, undefined);
          continue;
        }
        if (name === "__proto__") {
          this.fail(keyOff, 'the key "__proto__" is not allowed', loc, undefined);
          continue;
        }
        obj[name] = v ? this.node(v, loc, name) : null;
        merged.delete(name);
        loc.entries.set(name, [keyOff, valOff]);
      }
      out = obj;
    } else if (isSeq(node)) {
      const arr: unknown[] = [];
      const loc: Loc = { src: this.src, off, parent, key, entries: new Map() };
      locs.set(arr, loc);
      node.items.forEach((item, i) => {
        const n = item as Node | null;
        arr.push(n ? this.node(n, loc, i) : null);
        const o = n?.range?.[0] ?? off;
        loc.entries.set(i, [o, o]);
      });
      out = arr;
    } else {
      out = null;
    }
    if (node.anchor) this.anchors.set(node.anchor, out);
    return out;
  }

  /** `<<: *a` or `<<: [*a, *b]`: add the keys not written explicitly (earlier sources win). */
  private merge(obj: Mapping, loc: Loc, merged: Set<string>, v: Node | null, off: number) {
    if (!v) return;
    const sources: unknown[] = [];
    if (isSeq(v)) {
      for (const item of v.items) sources.push(this.node(item as Node, loc, "<<"));
    } else sources.push(this.node(v, loc, "<<"));
    for (const s of sources) {
      if (!isMapping(s)) {
        this.fail(off, "a merge key (<<) needs a mapping or a list of mappings", loc, "<<");
        continue;
      }
      const sloc = locOf(s);
      for (const [k, val] of Object.entries(s)) {
        if (Object.hasOwn(obj, k)) continue;
        obj[k] = val;
        merged.add(k);
        const e = sloc?.entries.get(k);
        if (e && sloc?.src === this.src) loc.entries.set(k, e);
        else loc.entries.set(k, [off, off]);
      }
    }
  }
}

function scalar(node: Scalar): unknown {
  const v = node.value;
  if (typeof v === "number") {
    // Keep what was written for anything but a plain integer: `16.0` stays "16.0",
    // `2.1` stays "2.1" (CircleCI prints floats as written; JS would drop the zero).
    const src = node.source;
    if (typeof src === "string" && !PLAIN_INT.test(src)) return src;
    return v;
  }
  if (typeof v === "string" || typeof v === "boolean" || v === null) return v;
  if (typeof v === "bigint") return node.source ?? String(v);
  return node.source ?? String(v);
}
