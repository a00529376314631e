/**
 * Step output: numbered chunks in S3 (a retried upload rewrites the same key, so a line is
 * never doubled or dropped) and a steps document per allocation, readable while the job runs.
 *
 *   output/<job id>/<attempt>/<allocation index>/steps.json
 *   output/<job id>/<attempt>/<allocation index>/<step>/<chunk seq>
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { listKeys, listObjects, readText } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { type OutputChunk, type StepRecord, StepRecordSchema } from "../protocol/agent.ts";
import { parseStored, z } from "../protocol/schema.ts";

export type { OutputChunk, StepRecord, StepStatus } from "../protocol/agent.ts";

export interface AllocationKey {
  jobId: string;
  attempt: number;
  index: number;
}

const prefix = (a: AllocationKey) => `output/${a.jobId}/${a.attempt}/${a.index}/`;
const pad = (n: number, w: number) => String(n).padStart(w, "0");

export async function writeOutput(
  gyre: Gyre,
  alloc: AllocationKey,
  update: { steps?: StepRecord[]; chunks?: OutputChunk[] },
  /**
   * `final`: the allocation's last report, after which its status is written. Then chunks and
   * steps go together (one round trip less on every job's critical path): the terminal status,
   * written only once both are stored, is what tells readers the output is complete.
   */
  options: { final?: boolean } = {},
) {
  const s3 = gyre.aws.s3;
  const Bucket = gyre.resources.bucketName;
  const chunks = (update.chunks ?? []).map((c) =>
    s3.send(
      new PutObjectCommand({
        Bucket,
        Key: `${prefix(alloc)}${pad(c.step, 4)}/${pad(c.seq, 8)}`,
        Body: c.data,
        ContentType: "text/plain; charset=utf-8",
      }),
    ),
  );
  const steps = () =>
    update.steps
      ? s3.send(
          new PutObjectCommand({
            Bucket,
            Key: `${prefix(alloc)}steps.json`,
            Body: JSON.stringify(update.steps),
            ContentType: "application/json",
          }),
        )
      : undefined;
  if (options.final) {
    await Promise.all([...chunks, steps()]);
    return;
  }
  // While the job runs, steps last: a reader who sees a step finished also sees all its output.
  await Promise.all(chunks);
  await steps();
}

export async function readSteps(gyre: Gyre, alloc: AllocationKey): Promise<StepRecord[]> {
  const text = await readText(gyre, `${prefix(alloc)}steps.json`);
  return text ? parseStored(z.array(StepRecordSchema), JSON.parse(text), "steps document") : [];
}

/** A step's whole output so far, chunks in order. */
export async function readStepOutput(gyre: Gyre, alloc: AllocationKey, step: number): Promise<string> {
  const keys = await listKeys(gyre, `${prefix(alloc)}${pad(step, 4)}/`);
  keys.sort();
  const parts = await Promise.all(keys.map((k) => readText(gyre, k)));
  return parts.join("");
}

/** One stored chunk of a step's output, with the time it was stored (its lines' timestamp). */
export interface StoredChunk {
  seq: number;
  at: string;
  data: string;
}

/**
 * A step's chunks from chunk `fromSeq` on, as far as they run without a gap (a chunk still being
 * uploaded while a later one is stored already waits for the next read), and the next chunk's
 * number: a follower (Nomad's log stream, the web app's live output) reads each chunk once, in
 * order. One read takes at most `maxChunks` chunks and `maxBytes` of them (at least one chunk,
 * chosen by their stored sizes before any is read); `more` says the next is stored already.
 */
export async function readStepChunks(
  gyre: Gyre,
  alloc: AllocationKey,
  step: number,
  fromSeq: number,
  { maxChunks = Number.POSITIVE_INFINITY, maxBytes = Number.POSITIVE_INFINITY } = {},
): Promise<{ chunks: StoredChunk[]; next: number; more: boolean }> {
  const stepPrefix = `${prefix(alloc)}${pad(step, 4)}/`;
  // Listed from chunk `fromSeq` on (keys sort by their padded number), and only as far as this
  // read goes: a read near the end of a long step does not list the whole step again.
  const wanted: { seq: number; at: string }[] = [];
  let next = fromSeq;
  let bytes = 0;
  let more = false;
  const start = fromSeq > 0 ? `${stepPrefix}${pad(fromSeq - 1, 8)}` : undefined;
  for await (const object of listObjects(gyre, stepPrefix, start)) {
    const seq = Number(object.key.slice(stepPrefix.length));
    if (!Number.isInteger(seq) || seq < next) continue;
    // A gap: the chunks after it are not the next ones (the one missing is still on its way).
    if (seq !== next) break;
    if (wanted.length >= maxChunks || (wanted.length > 0 && bytes + object.size > maxBytes)) {
      more = true;
      break;
    }
    wanted.push({ seq, at: object.lastModified });
    bytes += object.size;
    next++;
  }
  const chunks = await Promise.all(
    wanted.map(async (c) => ({ ...c, data: (await readText(gyre, `${stepPrefix}${pad(c.seq, 8)}`)) ?? "" })),
  );
  return { chunks, next, more };
}

/** A step's output from chunk `fromSeq` on, as one text (readStepChunks). */
export async function readStepOutputFrom(
  gyre: Gyre,
  alloc: AllocationKey,
  step: number,
  fromSeq: number,
): Promise<{ text: string; nextSeq: number }> {
  const { chunks, next } = await readStepChunks(gyre, alloc, step, fromSeq);
  return { text: chunks.map((c) => c.data).join(""), nextSeq: next };
}
