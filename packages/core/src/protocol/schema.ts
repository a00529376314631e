/**
 * Schemas at the edges: every body, query, path parameter, queue message and agent request is
 * parsed by a zod schema declared once in core, and both sides import it. `parseInput` turns a
 * failure into a 400 that names the field's path and what was expected; `parseStored` is for
 * what Gyre itself wrote (a table item, an execution's input): a mismatch there is a bug or a
 * corrupt record, reported as an internal error, never shown to the caller.
 */
import { z } from "zod";
import { badRequest, GyreError } from "../error.ts";

export { z };

/** One line per problem: `path: what was expected`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)";
    return `${path}: ${issue.message}`;
  });
}

/** Parses outside input; a failure is a 400 naming each field and what it must be. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = describeIssues(result.error);
  throw badRequest(`Invalid ${what}: ${problems.join("; ")}`, { problems });
}

/** Parses what Gyre wrote itself; a mismatch is an internal error (a bug or a corrupt record). */
export function parseStored<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new GyreError(
    "internal",
    `Stored ${what} does not match its schema: ${describeIssues(result.error).join("; ")}`,
  );
}

/**
 * Identifiers, bounded so that nothing over DynamoDB's key limits (2,048 bytes for a partition
 * key, 1,024 for a sort key) or absurdly long ever reaches the table.
 */
export const Ids = {
  uuid: z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "expected a UUID"),
  /** A project slug `<vcs>/<org>/<repo>`. */
  slug: z.string().min(1).max(300, "at most 300 characters"),
  /** A job or workflow name from a config. */
  name: z.string().min(1).max(200, "at most 200 characters"),
  /** A builder node's id. */
  node: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "1-128 characters of A-Z a-z 0-9 _ . : -"),
  /** Positive integers that count something (attempts, numbers, indexes are bounded by their schema). */
  count: z.number().int().min(0).max(1_000_000_000),
} as const;
