/**
 * Test results (`store_test_results`): each allocation of a job uploads the test cases it
 * parsed, as one JSON array, per job attempt.
 *
 *   tests/<job id>/<attempt>/<index>.json           the allocation's test results
 */
import { listObjects, readJson } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import { z } from "../protocol/schema.ts";
import type { TestCaseResult } from "../test-result/junit.ts";

/** Test results as the commit stored them (parsed JUnit, CircleCI's shape). */
const TestCasesSchema = z.array(
  z.object({
    name: z.string(),
    classname: z.string(),
    file: z.string(),
    result: z.enum(["success", "failure", "skipped"]),
    run_time: z.number(),
    message: z.string().nullable(),
    source: z.string(),
  }),
) satisfies z.ZodType<TestCaseResult[]>;

export const TestResultKeys = {
  prefix: (jobId: string, attempt: number) => `tests/${jobId}/${attempt}/`,
  object: (jobId: string, attempt: number, index: number) => `tests/${jobId}/${attempt}/${index}.json`,
} as const;

/** The test results every allocation of the job's current attempt uploaded, by node index. */
export async function listTestResults(
  gyre: Gyre,
  job: Pick<Job, "id" | "attempt">,
): Promise<TestCaseResult[]> {
  const prefix = TestResultKeys.prefix(job.id, job.attempt);
  const indices: number[] = [];
  for await (const object of listObjects(gyre, prefix)) {
    const match = /^(\d+)\.json$/.exec(object.key.slice(prefix.length));
    if (match) indices.push(Number(match[1]));
  }
  const results: TestCaseResult[] = [];
  for (const index of indices.sort((a, b) => a - b)) {
    const tests = await readJson(
      gyre,
      TestResultKeys.object(job.id, job.attempt, index),
      TestCasesSchema,
      "test results",
    );
    if (tests) results.push(...tests);
  }
  return results;
}
