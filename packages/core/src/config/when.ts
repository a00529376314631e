/**
 * Logic statements for `when`/`unless` on workflows and steps: a literal value (truthy or
 * not), or one of `and`, `or`, `not`, `equal`, `matches`. Evaluated at compile time, after
 * parameters and pipeline values have been substituted.
 *
 * Falsy, as CircleCI documents: false, null, 0, NaN, empty string, empty list, empty map.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { compileRegex } from "./filters.ts";
import { isMapping } from "./yaml.ts";

const OPERATORS = new Set(["and", "or", "not", "equal", "matches"]);

export function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === "") return false;
  if (typeof value === "number") return value !== 0 && !Number.isNaN(value);
  if (Array.isArray(value)) return value.length > 0;
  if (isMapping(value)) return Object.keys(value).length > 0;
  return true;
}

/** Evaluate a logic statement; malformed statements are reported and count as false. */
export function evaluate(
  stmt: unknown,
  diags: Diagnostics,
  container: unknown,
  key: string | number,
): boolean {
  if (!isMapping(stmt)) return truthy(stmt);
  const keys = Object.keys(stmt);
  if (keys.length !== 1 || !OPERATORS.has(keys[0]!)) {
    diags.error(
      container,
      key,
      `a logic statement must have exactly one of the keys and, or, not, equal, matches (found ${keys.join(", ") || "none"})`,
      "value",
    );
    return false;
  }
  const op = keys[0]!;
  const arg = stmt[op];
  switch (op) {
    case "and":
    case "or": {
      if (!Array.isArray(arg)) {
        diags.error(stmt, op, `"${op}" needs a list of logic statements, not ${describeType(arg)}`, "value");
        return false;
      }
      const results = arg.map((a, i) => evaluate(a, diags, arg, i));
      return op === "and" ? results.every(Boolean) : results.some(Boolean);
    }
    case "not":
      return !evaluate(arg, diags, stmt, "not");
    case "equal": {
      if (!Array.isArray(arg) || arg.length === 0) {
        diags.error(stmt, op, `"equal" needs a list of values to compare, not ${describeType(arg)}`, "value");
        return false;
      }
      return arg.every((v) => deepEqual(v, arg[0]));
    }
    default: {
      // matches
      if (!isMapping(arg) || typeof arg.pattern !== "string" || arg.value === undefined) {
        diags.error(stmt, op, `"matches" needs "pattern" (a regular expression) and "value"`, "value");
        return false;
      }
      const re = compileRegex(arg.pattern);
      if (!re) {
        diags.error(arg, "pattern", `invalid regular expression ${JSON.stringify(arg.pattern)}`, "value");
        return false;
      }
      const value = arg.value === null ? "" : String(arg.value);
      return re.test(value);
    }
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isMapping(a) && isMapping(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}
