/**
 * Step output: numbered chunks in S3 (a retried upload rewrites the same key, so a line is
 * never doubled or dropped) and a steps document per allocation, readable while the job runs.
 *
 *   output/<job id>/<attempt>/<allocation index>/steps.json
 *   output/<job id>/<attempt>/<allocation index>/<step>/<chunk seq>
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { listKeys, readText } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { badRequest } from "../error.ts";

export type StepStatus = "running" | "success" | "failed" | "canceled" | "timedout";

export interface StepRecord {
  /** Position in the job's step list, from 0. */
  index: number;
  name: string;
  type: string;
  status: StepStatus;
  startedAt: string;
  endedAt?: string;
  exitCode?: number | null;
  background?: boolean;
}

export interface OutputChunk {
  step: number;
  seq: number;
  data: string;
}

export interface AllocationKey {
  jobId: string;
  attempt: number;
  index: number;
}

/** Largest chunk accepted from a builder (it flushes far smaller ones). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

const prefix = (a: AllocationKey) => `output/${a.jobId}/${a.attempt}/${a.index}/`;
const pad = (n: number, w: number) => String(n).padStart(w, "0");

export function validateChunks(chunks: unknown): OutputChunk[] {
  if (!Array.isArray(chunks)) throw badRequest("chunks must be an array.");
  return chunks.map((c, i) => {
    const chunk = c as Partial<OutputChunk>;
    if (!Number.isInteger(chunk.step) || chunk.step! < 0 || !Number.isInteger(chunk.seq) || chunk.seq! < 0) {
      throw badRequest(`chunks[${i}]: step and seq must be non-negative integers.`);
    }
    if (typeof chunk.data !== "string") throw badRequest(`chunks[${i}].data must be a string.`);
    if (Buffer.byteLength(chunk.data) > MAX_CHUNK_BYTES)
      throw badRequest(`chunks[${i}] is larger than ${MAX_CHUNK_BYTES} bytes.`);
    return chunk as OutputChunk;
  });
}

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
  return text ? (JSON.parse(text) as StepRecord[]) : [];
}

/** A step's whole output so far, chunks in order. */
export async function readStepOutput(gyre: Gyre, alloc: AllocationKey, step: number): Promise<string> {
  const keys = await listKeys(gyre, `${prefix(alloc)}${pad(step, 4)}/`);
  keys.sort();
  const parts = await Promise.all(keys.map((k) => readText(gyre, k)));
  return parts.join("");
}
