/**
 * Flaky tests, as CircleCI defines them: a test that passed and failed on the same commit
 * (branch agnostic). Every run of a job that stored test results leaves a test run in its
 * commit's partition: its failed tests in full, its passed tests as digests. Recording one reads
 * the other runs of the same job on that commit (a rerun, a second pipeline on the same commit:
 * a handful of items) and, for each test that failed in one and passed in another, writes a
 * flaky test run for the failure, keyed by the failing job, the test and its start: recording
 * twice, or the other run finding the same pair, writes the same item. The runs of a commit
 * that finish together each write before they read (strongly consistent), so the later reader
 * sees the other's results.
 *
 * A test is its job's name, classname, name and file. A test run keeps at most `MAX_FAILED`
 * failures and `MAX_PASSED` passes (an item stays under DynamoDB's 400 KB); tests past those
 * are not seen by the flaky search.
 */
import { createHash } from "node:crypto";
import type { Gyre } from "../context.ts";
import { parseStored } from "../protocol/schema.ts";
import { type Item, putItems, queryRaw } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import { type FlakyTestRun, type JobRun, TEST_RETENTION_DAYS, type TestRun, TestRunSchema } from "./model.ts";

export const MAX_FAILED = 100;
export const MAX_PASSED = 8000;
/** What a test run keeps of a name, a class name, a file or a source. */
const FIELD = 256;

/** A test's identity within its project: its job, class name, name and file. */
export function testDigest(
  jobName: string,
  test: Pick<TestCaseResult, "classname" | "name" | "file">,
): string {
  return createHash("sha256")
    .update([jobName, test.classname, test.name, test.file].join("\u0000"))
    .digest("base64url")
    .slice(0, 16);
}

const cut = (s: string) => (s.length > FIELD ? s.slice(0, FIELD) : s);

/** The test run of one job run's results. */
export function testRunOf(
  run: JobRun & { workflowCreatedAt: string },
  results: readonly TestCaseResult[],
): TestRun {
  const failed = new Map<string, TestRun["failed"][number]>();
  const passed = new Set<string>();
  for (const test of results) {
    const digest = testDigest(run.name, test);
    if (test.result === "failure" && failed.size < MAX_FAILED)
      failed.set(digest, {
        digest,
        name: cut(test.name),
        classname: cut(test.classname),
        file: cut(test.file),
        source: cut(test.source),
      });
    else if (test.result === "success" && passed.size < MAX_PASSED) passed.add(digest);
  }
  return {
    jobId: run.id,
    jobName: run.name,
    jobNumber: run.number,
    workflowId: run.workflowId,
    workflowName: run.workflowName,
    workflowCreatedAt: run.workflowCreatedAt,
    pipelineNumber: run.pipelineNumber,
    startedAt: run.startedAt,
    durationMs: run.durationMs,
    failed: [...failed.values()],
    // A test that both passed and failed in one run (two allocations) counts as failed there.
    passed: [...passed].filter((d) => !failed.has(d)),
  };
}

/** The flaky test runs two runs of one job on one commit show: each failure the other passed. */
export function flakesBetween(a: TestRun, b: TestRun): FlakyTestRun[] {
  const flakes: FlakyTestRun[] = [];
  for (const [failing, passing] of [
    [a, b],
    [b, a],
  ] as const) {
    const passed = new Set(passing.passed);
    for (const test of failing.failed)
      if (passed.has(test.digest))
        flakes.push({
          ...test,
          jobName: failing.jobName,
          jobNumber: failing.jobNumber,
          jobId: failing.jobId,
          workflowId: failing.workflowId,
          workflowName: failing.workflowName,
          workflowCreatedAt: failing.workflowCreatedAt,
          pipelineNumber: failing.pipelineNumber,
          startedAt: failing.startedAt,
          durationMs: failing.durationMs,
        });
  }
  return flakes;
}

async function putAll(gyre: Gyre, items: readonly Item[]) {
  const failed = (await putItems(gyre, items)).find((e) => e !== undefined);
  if (failed) throw failed;
}

/** Records a job run's test run on its commit and the flaky test runs it reveals. */
export async function recordTests(
  gyre: Gyre,
  run: JobRun & { workflowCreatedAt: string },
  results: readonly TestCaseResult[],
): Promise<void> {
  const expiresAt = Math.floor(gyre.now() / 1000) + TEST_RETENTION_DAYS * 86_400;
  const mine = testRunOf(run, results);
  await putAll(gyre, [
    { ...Keys.testRun(run.projectSlug, run.revision, run.name, run.id), ...mine, expiresAt },
  ]);
  const flakes = new Map<string, Item>();
  for await (const raw of queryRaw(gyre, {
    partition: Partitions.commitTests(run.projectSlug, run.revision),
    sort: { beginsWith: Prefixes.testRun(run.name) },
    consistent: true,
  })) {
    const other = parseStored(TestRunSchema, raw, "test run");
    if (other.jobId === mine.jobId) continue;
    for (const flake of flakesBetween(mine, other)) {
      const key = Keys.flakyTest(run.projectSlug, flake.startedAt, flake.digest, flake.jobId);
      flakes.set(key.sk, { ...key, ...flake, expiresAt });
    }
  }
  if (flakes.size > 0) await putAll(gyre, [...flakes.values()]);
}
