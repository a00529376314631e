/**
 * Test timings for `circleci tests split --split-by=timings`: how long each test file, class
 * and test took in the most recent successful run of the same job of the same project.
 *
 * CircleCI picks the latest job's test results on the same branch, and when that branch has
 * none, the latest in the project. Here: the most recent `success` job with the same name and
 * a lower number (project jobs by number, index `gsi1`), preferring the running job's branch,
 * that stored test results (`tests/<job id>/<attempt>/<index>.json`, every allocation).
 *
 * The search is bounded: at most `MAX_SCANNED` earlier jobs of the project are read and the
 * stored results of at most `MAX_CANDIDATES` successful ones are opened.
 */
import type { Gyre } from "../context.ts";
import { type Job, JobSchema } from "../job/index.ts";
import { parseStored, type z } from "../protocol/schema.ts";
import { type Item, queryPage } from "../store/index.ts";
import { Index, padNumber } from "../table.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import { listTestResults } from "./test-results.ts";

export const MAX_SCANNED = 2000;
export const MAX_CANDIDATES = 10;

/** Seconds by test file, by class name and by test name: each the sum over its test cases. */
export interface Timings {
  filename: Record<string, number>;
  classname: Record<string, number>;
  testname: Record<string, number>;
}

export interface TimingsAnswer extends Timings {
  /** The job whose results these are, when one was found. */
  source?: { jobId: string; jobNumber: number; branch?: string };
}

/** A file path as the split tool compares it: no leading `./`. */
export const normalizeFile = (file: string) => file.replace(/^(\.\/)+/, "");

/** Sums each test case's run time by file, class and name. Cases without a key are left out. */
export function timingsFromResults(tests: TestCaseResult[]): Timings {
  const sums = {
    filename: new Map<string, number>(),
    classname: new Map<string, number>(),
    testname: new Map<string, number>(),
  };
  const add = (map: Map<string, number>, key: string, seconds: number) => {
    if (key) map.set(key, (map.get(key) ?? 0) + seconds);
  };
  for (const test of tests) {
    const seconds = Number.isFinite(test.run_time) && test.run_time > 0 ? test.run_time : 0;
    add(sums.filename, normalizeFile(test.file ?? ""), seconds);
    add(sums.classname, test.classname ?? "", seconds);
    add(sums.testname, test.name ?? "", seconds);
  }
  // fromEntries defines own properties, so a test named `__proto__` stays a plain key.
  return {
    filename: Object.fromEntries(sums.filename),
    classname: Object.fromEntries(sums.classname),
    testname: Object.fromEntries(sums.testname),
  };
}

/** What the search reads of an earlier job. */
const EarlierJobSchema = JobSchema.pick({ id: true, number: true, attempt: true, checkout: true });
type EarlierJob = z.infer<typeof EarlierJobSchema>;

/** Earlier successful jobs named like `job` in its project, most recent first. */
async function* earlierSuccesses(gyre: Gyre, job: Job): AsyncGenerator<EarlierJob> {
  const spec = {
    index: "gsi1",
    partition: Index.jobsOf(job.projectSlug),
    sort: { lt: padNumber(job.number) },
    filter: [
      { path: "name", eq: job.name },
      { path: "status", eq: "success" },
    ],
    descending: true,
    limit: 200,
  } as const;
  let start: Item | undefined;
  let scanned = 0;
  do {
    const page = await queryPage(gyre, spec, start);
    scanned += page.scanned;
    for (const item of page.items) yield parseStored(EarlierJobSchema, item, "job");
    start = page.lastKey;
  } while (start && scanned < MAX_SCANNED);
}

/** The timings a split in `job` should use; empty maps when no earlier run stored results. */
export async function timingsFor(gyre: Gyre, job: Job): Promise<TimingsAnswer> {
  let fallback: { job: EarlierJob; tests: TestCaseResult[] } | undefined;
  let opened = 0;
  for await (const earlier of earlierSuccesses(gyre, job)) {
    if (earlier.id === job.id) continue;
    const sameBranch = earlier.checkout.branch === job.checkout.branch;
    if (!sameBranch && fallback) continue;
    if (opened++ >= MAX_CANDIDATES) break;
    const tests = await listTestResults(gyre, earlier);
    if (!tests.length) continue;
    if (sameBranch) return answer(earlier, tests);
    fallback = { job: earlier, tests };
  }
  return fallback ? answer(fallback.job, fallback.tests) : { filename: {}, classname: {}, testname: {} };
}

function answer(job: EarlierJob, tests: TestCaseResult[]): TimingsAnswer {
  return {
    ...timingsFromResults(tests),
    source: { jobId: job.id, jobNumber: job.number, branch: job.checkout.branch },
  };
}
