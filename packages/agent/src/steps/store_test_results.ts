/**
 * `store_test_results`: every `*.xml` file under `path` (or `path` itself when it is a file)
 * is read as JUnit XML and the test cases are uploaded as one JSON document per allocation
 * (what `GET /project/{slug}/{job}/tests` answers). As in CircleCI, a file that cannot be
 * parsed is reported and skipped; it does not fail the step. Several `store_test_results`
 * steps in one job add up: the document holds every step's results. A test's output (its
 * failure message) is kept up to the installation's `max_test_output_bytes` (the claim says it),
 * cut at a character boundary with a note of how long it was.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { parseJUnit, type TestCaseResult } from "@gyre/core/test-result/junit";
import type { StepRunner } from "./context.ts";
import { filesUnder } from "./files.ts";
import { assertInside, hostPath } from "./paths.ts";
import { messageOf, putObject, requestUpload } from "./storage.ts";

/** A test whose output is over `limit` bytes, cut there (on a character) with a note. */
export function capped(test: TestCaseResult, limit: number | undefined): TestCaseResult {
  if (!limit || test.message === null) return test;
  const bytes = Buffer.byteLength(test.message);
  if (bytes <= limit) return test;
  const kept = new TextDecoder().decode(Buffer.from(test.message).subarray(0, limit)).replace(/\uFFFD$/, "");
  return {
    ...test,
    message: `${kept}\n[Gyre: output cut at ${limit} of ${bytes} bytes (max_test_output_bytes)]`,
  };
}

export const store_test_results: StepRunner<"store_test_results"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  const source = await hostPath(step.path, ctx);
  const info = await stat(source).catch(() => undefined);
  const files = !info
    ? []
    : info.isDirectory()
      ? (await filesUnder(source)).filter((f) => f.toLowerCase().endsWith(".xml")).map((f) => join(source, f))
      : [source];
  if (files.length === 0) {
    say(`No test results found at ${source}\n`);
    return { status: "success", exitCode: 0 };
  }
  say(`Archiving the following test results\n${files.map((f) => `  * ${f}\n`).join("")}\n`);
  const found: TestCaseResult[] = [];
  let skipped = 0;
  for (const file of files) {
    // CircleCI names the source after the directory the report is in (test-results/jest → jest).
    const dir = info!.isDirectory() ? dirname(file) : dirname(source);
    const name = dir === source ? basename(source) : basename(dir);
    try {
      if (ctx.confinement) await assertInside(file, ctx.confinement.root);
      const limit = ctx.job.limits?.max_test_output_bytes;
      found.push(...parseJUnit(await readFile(file, "utf8"), { source: name }).map((t) => capped(t, limit)));
    } catch (error) {
      skipped++;
      say(`Error parsing test results in ${file}: ${messageOf(error)} Skipping this file.\n`);
    }
  }
  const accumulated = join(ctx.root, "test-results.json");
  const earlier = await readFile(accumulated, "utf8")
    .then((text) => JSON.parse(text) as TestCaseResult[])
    .catch(() => []);
  const all = [...earlier, ...found];
  try {
    const grant = await requestUpload(ctx, "test_results");
    if (grant.exists) throw new Error("the API refused the upload");
    await putObject(grant, { data: Buffer.from(JSON.stringify(all)) });
    await writeFile(accumulated, JSON.stringify(all));
  } catch (error) {
    say(`Error uploading test results: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  }
  const counts = { success: 0, failure: 0, skipped: 0 };
  for (const test of found) counts[test.result]++;
  say(
    `Uploaded ${found.length} test result${found.length === 1 ? "" : "s"} (${counts.success} passed, ${counts.failure} failed, ${counts.skipped} skipped)` +
      `${skipped ? `; ${skipped} file${skipped === 1 ? "" : "s"} could not be parsed` : ""}.\n`,
  );
  return { status: "success", exitCode: 0 };
};
