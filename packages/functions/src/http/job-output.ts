/**
 * A job's output as the web app reads it, under `/api/gyre/projects/{vcs}/{org}/{repo}/jobs/{number}`:
 *
 *   GET /output/{node}/{step}?from=SEQ[&limit=N]  the step's stored chunks from chunk SEQ on
 *                                        (at most N, default and most CHUNKS_PER_READ), each
 *                                        with the time it was stored:
 *                                        {"chunks": [{"seq", "at", "data"}], "next", "more",
 *                                        "complete"}. A follower asks again from `next`, so
 *                                        nothing it has is sent twice; `more`: further chunks are
 *                                        stored already (ask at once); `complete`: the step has
 *                                        ended and everything it wrote was sent.
 *   GET /output/{node}/{step}?format=raw the step's whole output as text/plain, a download
 *   GET /output/{node}?format=raw        every step of the node, one after the other under a
 *                                        `==> name` line each, a download
 *
 * Expired output answers 410 Gone (a follower stops asking). A JSON answer carries at most
 * BYTES_PER_READ of output (and at least one chunk). The raw downloads are read whole: on AWS
 * an answer is capped at 6 MB by Lambda, so a larger step's raw download fails there (the JSON
 * reads, which the page uses, do not).
 *
 * The steps themselves (names, statuses, times) come from the v1.1 build details
 * (`GET /api/v1.1/project/{slug}/{number}`), as CircleCI's own web app reads them. View
 * permission on the project.
 */

import { gone, notFound } from "@gyre/core/error";
import { getJobByNumber, TERMINAL_ALLOCATION } from "@gyre/core/job/index";
import type { AllocationKey, StepRecord } from "@gyre/core/output/index";
import { readStepChunks, readStepOutput, readSteps } from "@gyre/core/output/index";
import { JobOutputPath, JobOutputQuery } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { expiredMessage, jobExpiry } from "@gyre/core/retention/index";
import { type Context, Hono } from "hono";
import { allow, projectFor } from "./access.ts";
import { type Env, parseQuery } from "./context.ts";

/** Chunks in one JSON answer at most. */
export const CHUNKS_PER_READ = 64;
/** Output bytes read for one answer at most (always at least one chunk). */
export const BYTES_PER_READ = 4 * 1024 * 1024;
/**
 * The answer's chunk data once JSON-encoded, at most (always at least one chunk, and a chunk is
 * at most 256 KB, which JSON makes 1.5 MB at worst): Lambda refuses answers over 6 MB, and JSON
 * can make a byte of output six (a control character as `\u001b`). Few reads for a long step.
 */
export const ENCODED_PER_READ = 5 * 1024 * 1024;

/** The chunks that fit in ENCODED_PER_READ once encoded (at least the first). */
export function withinAnswer<C extends { data: string }>(chunks: C[]): C[] {
  let encoded = 0;
  let keep = 0;
  for (const chunk of chunks) {
    const size = Buffer.byteLength(JSON.stringify(chunk.data));
    if (keep > 0 && encoded + size > ENCODED_PER_READ) break;
    encoded += size;
    keep++;
  }
  return keep === chunks.length ? chunks : chunks.slice(0, keep);
}

const JOB = "/projects/:vcs/:org/:repo/jobs/:number";

const rawAnswer = (c: Context<Env>, name: string, text: string) =>
  c.body(text, 200, {
    "content-type": "text/plain; charset=utf-8",
    "content-disposition": `attachment; filename="${name}"`,
    "cache-control": "no-store",
  });

/** The job, the allocation the path names and its steps; 404 for anything not there. */
async function allocationOf(c: Context<Env>) {
  const gyre = c.get("gyre");
  const project = await projectFor(c);
  const { number, node, step } = parseInput(JobOutputPath, c.req.param(), "path");
  const job = await getJobByNumber(gyre, project.slug, number);
  if (!Object.hasOwn(job.allocations, String(node)))
    throw notFound(`Job ${number} has no parallel run ${node}.`);
  const expiry = await jobExpiry(gyre, job, "output");
  // Gone for good, not "not there yet": a follower stops asking.
  if (expiry.expired) throw gone(expiredMessage("output", job, "output", expiry.days));
  const alloc: AllocationKey = { jobId: job.id, attempt: job.attempt, index: node };
  const steps = await readSteps(gyre, alloc);
  const record = step === undefined ? undefined : steps.find((s) => s.index === step);
  if (step !== undefined && !record)
    throw notFound(`Job ${number} has no step ${step}${node > 0 ? ` on parallel run ${node}` : ""}.`);
  const file = `${project.slug.replaceAll("/", "-")}-${number}${node > 0 ? `-node${node}` : ""}`;
  const finished = TERMINAL_ALLOCATION.has(job.allocations[String(node)]!.status);
  return { alloc, steps, record, file, finished };
}

const stepHeader = (s: StepRecord) =>
  `==> ${s.name} (${s.status}${s.exitCode === undefined || s.exitCode === null ? "" : `, exit ${s.exitCode}`})\n`;

export function jobOutputRoutes() {
  const app = new Hono<Env>();

  app.get(`${JOB}/output/:node/:step`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, JobOutputQuery);
    const { alloc, steps, record, file, finished } = await allocationOf(c);
    const step = record!;
    if (query.format === "raw")
      return rawAnswer(c, `${file}-step${step.index}.txt`, await readStepOutput(gyre, alloc, step.index));
    const read = await readStepChunks(gyre, alloc, step.index, query.from, {
      maxChunks: query.limit ?? CHUNKS_PER_READ,
      maxBytes: BYTES_PER_READ,
    });
    const chunks = withinAnswer(read.chunks);
    const cut = chunks.length < read.chunks.length;
    const next = cut ? chunks.at(-1)!.seq + 1 : read.next;
    const more = cut || read.more;
    // All of an ended step's chunks are stored once its allocation has finished, or once a later
    // step runs (a report that is not the last stores its chunks before the steps document).
    const settled = finished || steps.some((s) => s.index > step.index && s.status === "running");
    // A finished allocation's steps are all ended, whatever its last report said (a lost node's
    // step stays `running` in it).
    const complete = (finished || step.status !== "running") && settled && !more;
    return c.json({ chunks, next, more, complete }, 200, { "cache-control": "no-store" });
  });

  app.get(`${JOB}/output/:node`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, JobOutputQuery.pick({ format: true }).strict());
    if (query.format !== "raw")
      return c.json(
        {
          message:
            "A node's whole output is a download: add ?format=raw. Steps come from GET /api/v1.1/project/{slug}/{number}.",
        },
        400,
      );
    const { alloc, steps, file } = await allocationOf(c);
    // One step at a time: a node's whole output is not read into memory at once twice over.
    let text = "";
    for (const s of steps) {
      const out = await readStepOutput(gyre, alloc, s.index);
      text += `${stepHeader(s)}${out}${out === "" || out.endsWith("\n") ? "" : "\n"}`;
    }
    return rawAnswer(c, `${file}.txt`, text);
  });

  return app;
}
