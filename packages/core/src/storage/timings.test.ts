import { describe, expect, it } from "vitest";
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import { StorageKeys } from "./index.ts";
import { MAX_CANDIDATES, timingsFor, timingsFromResults } from "./timings.ts";

const test = (over: Partial<TestCaseResult>): TestCaseResult => ({
  name: "t",
  classname: "C",
  file: "",
  result: "success",
  run_time: 1,
  message: null,
  source: "unit",
  ...over,
});

function job(number: number, over: Partial<Job> = {}): Job {
  return {
    id: `job-${number}`,
    number,
    name: "test",
    type: "build",
    status: "success",
    projectSlug: "gh/acme/api",
    pipelineId: "p",
    pipelineNumber: number,
    workflowId: `wf-${number}`,
    workflowName: "main",
    requires: [],
    contexts: [],
    checkout: { repoUrl: "/r", revision: "a".repeat(40), branch: "main" },
    pipeline: {} as Job["pipeline"],
    attempt: 1,
    retries: 0,
    allocations: { "0": { status: "success" } },
    createdAt: "2024-01-01T00:00:00Z",
    updatedAt: 0,
    ...over,
  };
}

/**
 * The value each attribute is compared with in a query's key condition and filter
 * (`#n1 < :v1 AND #n2 = :v2` → `{gsi1sk: "<", value}`), whatever its placeholders.
 */
function comparisons(input: Record<string, unknown>): Record<string, { op: string; value: unknown }> {
  const names = input.ExpressionAttributeNames as Record<string, string>;
  const values = input.ExpressionAttributeValues as Record<string, unknown>;
  const text = `${input.KeyConditionExpression} AND ${input.FilterExpression ?? ""}`;
  return Object.fromEntries(
    [...text.matchAll(/(#\w+) (=|<) (:\w+)/g)].map(([, name, op, value]) => [
      names[name!]!,
      { op: op!, value: values[value!] },
    ]),
  );
}

/**
 * A Gyre whose DynamoDB answers the project's jobs (applying the query's key condition, filter
 * and order, 2 per page) and whose S3 holds `results` by object key.
 */
function fakeGyre(jobs: Job[], results: Record<string, TestCaseResult[]>) {
  const calls: string[] = [];
  const send = async (command: { constructor: { name: string }; input: Record<string, never> }) => {
    const name = command.constructor.name;
    const input = command.input as Record<string, unknown>;
    calls.push(name);
    if (name === "QueryCommand") {
      const where = comparisons(input);
      expect(where.gsi1sk?.op).toBe("<");
      const below = Number(where.gsi1sk?.value);
      const start = (input.ExclusiveStartKey as { offset?: number } | undefined)?.offset ?? 0;
      const ordered = [...jobs].filter((j) => j.number < below).sort((a, b) => b.number - a.number);
      const page = ordered.slice(start, start + 2);
      return {
        Items: page.filter((j) => j.name === where.name?.value && j.status === where.status?.value),
        ScannedCount: page.length,
        LastEvaluatedKey: start + 2 < ordered.length ? { offset: start + 2 } : undefined,
      };
    }
    if (name === "ListObjectsCommand") {
      const prefix = input.Prefix as string;
      const keys = Object.keys(results).filter((k) => k.startsWith(prefix));
      return { Contents: keys.map((Key) => ({ Key, LastModified: new Date(0) })), IsTruncated: false };
    }
    if (name === "GetObjectCommand") {
      const body = results[input.Key as string];
      if (!body) throw Object.assign(new Error("NoSuchKey"), { name: "NoSuchKey" });
      return { Body: { transformToString: async () => JSON.stringify(body) } };
    }
    throw new Error(`unexpected ${name}`);
  };
  const gyre = {
    resources: { tableName: "gyre", bucketName: "gyre" },
    aws: { dynamo: { send }, s3: { send } },
  } as unknown as Gyre;
  return { gyre, calls };
}

describe("timingsFromResults", () => {
  it("sums run times by file (without ./), class and test name, skipping empty keys", () => {
    const timings = timingsFromResults([
      test({ file: "./spec/a_spec.rb", classname: "A", name: "one", run_time: 1.5 }),
      test({ file: "spec/a_spec.rb", classname: "A", name: "two", run_time: 0.5 }),
      test({ file: "", classname: "B", name: "one", run_time: 2 }),
      test({ file: "spec/c.rb", classname: "__proto__", name: "neg", run_time: -3 }),
    ]);
    expect(timings.filename).toEqual({ "spec/a_spec.rb": 2, "spec/c.rb": 0 });
    expect(timings.classname.A).toBe(2);
    expect(timings.classname.B).toBe(2);
    expect(Object.hasOwn(timings.classname, "__proto__")).toBe(true);
    expect(timings.testname).toEqual({ one: 3.5, two: 0.5, neg: 0 });
  });
});

describe("timingsFor", () => {
  const results = (j: Job, tests: TestCaseResult[]) => ({ [StorageKeys.tests(j.id, j.attempt, 0)]: tests });

  it("uses the most recent successful earlier run of the same job, on the same branch first", async () => {
    const current = job(10, { status: "running" });
    const otherBranch = job(9, { checkout: { repoUrl: "/r", revision: "b", branch: "feature" } });
    const failed = job(8, { status: "failed" });
    const otherJob = job(7, { name: "build" });
    const sameBranch = job(6);
    const { gyre } = fakeGyre([current, otherBranch, failed, otherJob, sameBranch, job(5)], {
      ...results(otherBranch, [test({ file: "feature.rb", run_time: 1 })]),
      ...results(failed, [test({ file: "failed.rb", run_time: 1 })]),
      ...results(otherJob, [test({ file: "build.rb", run_time: 1 })]),
      ...results(sameBranch, [test({ file: "main.rb", run_time: 4 })]),
    });
    const answer = await timingsFor(gyre, current);
    expect(answer.filename).toEqual({ "main.rb": 4 });
    expect(answer.source).toEqual({ jobId: "job-6", jobNumber: 6, branch: "main" });
  });

  it("falls back to another branch's run, and to nothing when no run stored results", async () => {
    const current = job(4, { status: "running" });
    const other = job(3, { checkout: { repoUrl: "/r", revision: "b", branch: "feature" } });
    const { gyre } = fakeGyre(
      [current, other, job(2)],
      results(other, [test({ classname: "K", run_time: 2 })]),
    );
    expect((await timingsFor(gyre, current)).classname).toEqual({ K: 2 });
    const none = fakeGyre([current, job(2)], {});
    expect(await timingsFor(none.gyre, current)).toEqual({ filename: {}, classname: {}, testname: {} });
  });

  it("opens the results of a bounded number of earlier runs", async () => {
    const current = job(100, { status: "running" });
    const earlier = Array.from({ length: 40 }, (_, i) => job(60 + i));
    const { gyre, calls } = fakeGyre([current, ...earlier], {});
    await timingsFor(gyre, current);
    expect(calls.filter((c) => c === "ListObjectsCommand")).toHaveLength(MAX_CANDIDATES);
  });
});
