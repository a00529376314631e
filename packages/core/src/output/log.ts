/**
 * An allocation's output as Nomad's task logs (`/v1/client/fs/logs`): one byte stream per log
 * type, which only grows, so an offset read once holds at every later read.
 *
 * - `stdout`: the allocation's step output, step after step. While the allocation runs, it stops
 *   after the first step still running (output of a later step, beside a background step, shows
 *   once that step ends), so no byte is ever inserted before one already read.
 * - `stderr`: Gyre's own messages for the job (why it waited, was retried, was stopped), one a
 *   line as `<type>: <message>`; empty for a job that ran without one.
 *
 * A follower keeps one AllocationLog and calls `stdout` again: it reads each chunk once.
 */
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import { type AllocationKey, readStepOutputFrom, readSteps } from "./index.ts";

export const LOG_TYPES = ["stdout", "stderr"] as const;
export type LogType = (typeof LOG_TYPES)[number];

export function stderrOf(job: Pick<Job, "messages">): Buffer {
  return Buffer.from((job.messages ?? []).map((m) => `${m.type}: ${m.message}\n`).join(""), "utf8");
}

export class AllocationLog {
  /** Step index → what was read of it, the next chunk to read, and whether it has all of it. */
  private readonly steps = new Map<number, { parts: Buffer[]; nextSeq: number; complete: boolean }>();

  constructor(
    private readonly gyre: Gyre,
    private readonly key: AllocationKey,
  ) {}

  /** The stdout stream as it stands; `ended`: the allocation is over (every step's output is stored). */
  async stdout(ended: boolean): Promise<Buffer> {
    const records = (await readSteps(this.gyre, this.key)).sort((a, b) => a.index - b.index);
    const out: Buffer[] = [];
    for (const record of records) {
      const state = this.steps.get(record.index) ?? { parts: [], nextSeq: 0, complete: false };
      this.steps.set(record.index, state);
      // A step's record says it finished only once all its chunks are stored (output/index.ts).
      const finished = ended || record.status !== "running";
      if (!state.complete) {
        const read = await readStepOutputFrom(this.gyre, this.key, record.index, state.nextSeq);
        if (read.text) state.parts.push(Buffer.from(read.text, "utf8"));
        state.nextSeq = read.nextSeq;
        state.complete = finished;
      }
      out.push(...state.parts);
      if (!finished) break;
    }
    return Buffer.concat(out);
  }
}
