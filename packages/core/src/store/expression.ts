/**
 * DynamoDB expressions from data. A write says which paths it sets, removes or adds to and
 * what must hold for it to apply; this module turns that into an UpdateExpression /
 * ConditionExpression with placeholders for every name and value, so no module writes
 * expression text by hand and no value or name is ever spliced into one.
 *
 * Paths are arrays of segments (`["allocations", "0", "status"]`) or dotted strings for plain
 * names (`"allocations.0.status"`); every segment becomes a `#n` placeholder.
 */
export type Path = string | readonly string[];

export type Condition =
  | { path: Path; eq: unknown }
  | { path: Path; ne: unknown }
  | { path: Path; in: readonly unknown[] }
  | { path: Path; lt: unknown }
  | { path: Path; exists: boolean }
  | { path: Path; size: number }
  | { or: readonly Condition[] }
  | { not: Condition };

export interface UpdateSpec {
  set?: Record<string, unknown> | readonly (readonly [Path, unknown])[];
  /** Set only where the attribute does not exist yet (`if_not_exists`). */
  setIfMissing?: Record<string, unknown>;
  remove?: readonly Path[];
  add?: Record<string, number>;
  when?: readonly Condition[];
}

export interface Compiled {
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

const segments = (path: Path): readonly string[] => (typeof path === "string" ? path.split(".") : path);

/** Accumulates placeholders; the same name or value is given one placeholder. */
export class ExpressionBuilder {
  private readonly names = new Map<string, string>();
  private readonly values: unknown[] = [];

  name(path: Path): string {
    return segments(path)
      .map((segment) => {
        let placeholder = this.names.get(segment);
        if (!placeholder) {
          placeholder = `#n${this.names.size}`;
          this.names.set(segment, placeholder);
        }
        return placeholder;
      })
      .join(".");
  }

  value(value: unknown): string {
    this.values.push(value);
    return `:v${this.values.length - 1}`;
  }

  condition(c: Condition): string {
    if ("or" in c) return `(${c.or.map((x) => this.condition(x)).join(" OR ")})`;
    if ("not" in c) return `(NOT ${this.condition(c.not)})`;
    const name = this.name(c.path);
    if ("eq" in c) return `${name} = ${this.value(c.eq)}`;
    if ("ne" in c) return `${name} <> ${this.value(c.ne)}`;
    if ("lt" in c) return `${name} < ${this.value(c.lt)}`;
    if ("in" in c) return `${name} IN (${c.in.map((v) => this.value(v)).join(", ")})`;
    if ("size" in c) return `size(${name}) = ${this.value(c.size)}`;
    return c.exists ? `attribute_exists(${name})` : `attribute_not_exists(${name})`;
  }

  conditions(all: readonly Condition[] | undefined): string | undefined {
    if (!all || all.length === 0) return undefined;
    return all.map((c) => this.condition(c)).join(" AND ");
  }

  attributes(): Pick<Compiled, "ExpressionAttributeNames" | "ExpressionAttributeValues"> {
    return {
      ...(this.names.size > 0
        ? { ExpressionAttributeNames: Object.fromEntries([...this.names].map(([k, v]) => [v, k])) }
        : {}),
      ...(this.values.length > 0
        ? { ExpressionAttributeValues: Object.fromEntries(this.values.map((v, i) => [`:v${i}`, v])) }
        : {}),
    };
  }
}

const entries = (set: UpdateSpec["set"]): (readonly [Path, unknown])[] =>
  !set ? [] : Array.isArray(set) ? [...(set as (readonly [Path, unknown])[])] : Object.entries(set);

export function compileUpdate(spec: UpdateSpec): Compiled {
  const b = new ExpressionBuilder();
  const sets = [
    ...entries(spec.set)
      .filter(([, v]) => v !== undefined)
      .map(([path, v]) => `${b.name(path)} = ${b.value(v)}`),
    ...Object.entries(spec.setIfMissing ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([path, v]) => {
        const name = b.name(path);
        return `${name} = if_not_exists(${name}, ${b.value(v)})`;
      }),
  ];
  const removes = [
    ...(spec.remove ?? []),
    // An undefined value in `set` means "this attribute goes".
    ...entries(spec.set)
      .filter(([, v]) => v === undefined)
      .map(([p]) => p),
  ].map((p) => b.name(p));
  const adds = Object.entries(spec.add ?? {}).map(([path, n]) => `${b.name(path)} ${b.value(n)}`);
  const clauses = [
    sets.length ? `SET ${sets.join(", ")}` : "",
    removes.length ? `REMOVE ${removes.join(", ")}` : "",
    adds.length ? `ADD ${adds.join(", ")}` : "",
  ].filter(Boolean);
  const condition = b.conditions(spec.when);
  return {
    ...(clauses.length ? { UpdateExpression: clauses.join(" ") } : {}),
    ...(condition ? { ConditionExpression: condition } : {}),
    ...b.attributes(),
  };
}

/** A condition alone (for a put or a delete). */
export function compileCondition(when: readonly Condition[] | undefined): Compiled {
  const b = new ExpressionBuilder();
  const condition = b.conditions(when);
  return condition ? { ConditionExpression: condition, ...b.attributes() } : {};
}
