/**
 * Branch and tag filters on workflow jobs and schedule triggers, and the pruning CircleCI
 * applies after filtering:
 *
 * - A pattern is a branch/tag name or `/regex/`; a regex must match the whole name.
 * - Branch push: `branches.only` (if given) must match, `branches.ignore` must not. Tag
 *   filters do not matter.
 * - Tag push: the job runs only if it has a tags filter: `tags.only` (if given) must match
 *   and `tags.ignore` must not. With neither, tags are not built. Branch filters do not matter.
 * - Requires: on a branch push, a job whose required jobs were all filtered out does not
 *   run; if only some were, they are dropped from its requires. On a tag push every job a
 *   job requires must run too, or it does not run.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import type { BranchTagFilters, PipelineValues } from "./plan.ts";
import { isMapping } from "./yaml.ts";

const regexCache = new Map<string, RegExp | null>();

/** A regex that must match the whole input. Java inline `(?i)` at the start becomes a flag. */
export function compileRegex(pattern: string): RegExp | undefined {
  const cached = regexCache.get(pattern);
  if (cached !== undefined) return cached ?? undefined;
  let body = pattern;
  let flags = "";
  const inline = /^\(\?([imsx]+)\)/.exec(body);
  if (inline) {
    body = body.slice(inline[0].length);
    for (const f of inline[1]!) if ((f === "i" || f === "m" || f === "s") && !flags.includes(f)) flags += f;
  }
  body = body.replace(/\\A/g, "^").replace(/\\[zZ]/g, "$");
  let re: RegExp | null;
  try {
    re = new RegExp(`^(?:${body})$`, flags);
  } catch {
    re = null;
  }
  if (regexCache.size > 10_000) regexCache.clear();
  regexCache.set(pattern, re);
  return re ?? undefined;
}

export function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.length >= 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    const re = compileRegex(pattern.slice(1, -1));
    return re ? re.test(name) : false;
  }
  return pattern === name;
}

function matchesAny(patterns: string[], name: string): boolean {
  return patterns.some((p) => matchesPattern(p, name));
}

/** Read `filters:` (validating shape and regexes) into the plan's form. */
export function readFilters(
  raw: unknown,
  diags: Diagnostics,
  container: unknown,
  key: string,
): BranchTagFilters {
  const out: BranchTagFilters = {};
  if (raw === undefined || raw === null) return out;
  if (!isMapping(raw)) {
    diags.error(
      container,
      key,
      `"filters" must be a map with "branches" and/or "tags", not ${describeType(raw)}`,
      "value",
    );
    return out;
  }
  for (const [k, v] of Object.entries(raw)) {
    if (k !== "branches" && k !== "tags") {
      diags.error(raw, k, `unknown key "${k}" in filters (expected branches or tags)`);
      continue;
    }
    if (v === null) continue;
    if (!isMapping(v)) {
      diags.error(
        raw,
        k,
        `"${k}" must be a map with "only" and/or "ignore", not ${describeType(v)}`,
        "value",
      );
      continue;
    }
    const f: { only?: string[]; ignore?: string[] } = {};
    for (const [fk, fv] of Object.entries(v)) {
      if (fk !== "only" && fk !== "ignore") {
        diags.error(v, fk, `unknown key "${fk}" in ${k} filter (expected only or ignore)`);
        continue;
      }
      const list = patternList(fv, diags, v, fk);
      if (list) f[fk] = list;
    }
    out[k] = f;
  }
  return out;
}

function patternList(
  raw: unknown,
  diags: Diagnostics,
  container: unknown,
  key: string,
): string[] | undefined {
  const items = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item !== "string" && typeof item !== "number") {
      diags.error(
        Array.isArray(raw) ? raw : container,
        Array.isArray(raw) ? i : key,
        "a filter must be a name or /regex/",
        "value",
      );
      continue;
    }
    const s = String(item);
    if (s.length >= 2 && s.startsWith("/") && s.endsWith("/") && !compileRegex(s.slice(1, -1))) {
      diags.error(
        Array.isArray(raw) ? raw : container,
        Array.isArray(raw) ? i : key,
        `invalid regular expression ${s}`,
        "value",
      );
      continue;
    }
    out.push(s);
  }
  return out;
}

/** Whether a job (or schedule) with these filters runs for this pipeline, before requires. */
export function filtersAllow(
  filters: BranchTagFilters,
  pipeline: Pick<PipelineValues, "branch" | "tag">,
): boolean {
  if (pipeline.tag !== undefined) {
    const t = filters.tags;
    if (!t || (!t.only && !t.ignore)) return false;
    if (t.only && !matchesAny(t.only, pipeline.tag)) return false;
    if (t.ignore && matchesAny(t.ignore, pipeline.tag)) return false;
    return true;
  }
  const b = filters.branches;
  const branch = pipeline.branch ?? "";
  if (b?.only && !matchesAny(b.only, branch)) return false;
  if (b?.ignore && matchesAny(b.ignore, branch)) return false;
  return true;
}

export interface FilterableJob {
  name: string;
  requires: string[];
  filters: BranchTagFilters;
}

/**
 * Which jobs of a workflow run, and their pruned requires. Jobs are visited in dependency
 * order (the caller has checked there is no cycle).
 */
export function applyFilters<T extends FilterableJob>(
  jobs: T[],
  pipeline: Pick<PipelineValues, "branch" | "tag">,
): Map<string, string[]> {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const decided = new Map<string, string[] | null>();
  const tagPush = pipeline.tag !== undefined;
  const visit = (job: T, depth: number): string[] | null => {
    const known = decided.get(job.name);
    if (known !== undefined) return known;
    if (depth > jobs.length) return null;
    let result: string[] | null = filtersAllow(job.filters, pipeline) ? [] : null;
    if (result && job.requires.length > 0) {
      const running: string[] = [];
      for (const r of job.requires) {
        const dep = byName.get(r);
        if (dep && visit(dep, depth + 1) !== null) running.push(r);
      }
      if (tagPush ? running.length < job.requires.length : running.length === 0) result = null;
      else result = running;
    }
    decided.set(job.name, result);
    return result;
  };
  const out = new Map<string, string[]>();
  for (const job of jobs) {
    const r = visit(job, 0);
    if (r) out.set(job.name, r);
  }
  return out;
}
