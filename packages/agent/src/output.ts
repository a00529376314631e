/**
 * A running allocation's output: the step list and each step's text, masked, cut into
 * numbered chunks and sent every `flushMs` (and when a buffer fills), so the API can show it
 * live. A chunk keeps its number when its upload is retried, so nothing doubles or drops.
 */

import type { OutputChunk, StepRecord } from "@gyre/core/output/index";
import type { AllocationRef } from "@gyre/core/protocol/agent";
import { createMasker, type Masker } from "@gyre/core/secret/masker";
import { CredentialRefused, type GyreApi } from "./api.ts";

const MAX_CHUNK = 256 * 1024;
/**
 * Output per request: well under the API's 8 MiB body limit even if JSON escaping doubles
 * it. Characters, not bytes: a chunk of multi-byte text is at most 4x its length in UTF-8.
 */
const MAX_REQUEST_CHARS = 1024 * 1024;
/** A step that prints faster than its output uploads is paused above this backlog. */
export const MAX_BACKLOG_CHARS = 16 * 1024 * 1024;

export class OutputStream {
  readonly steps: StepRecord[] = [];
  private pending: OutputChunk[] = [];
  private readonly buffers = new Map<number, string>();
  private readonly seq = new Map<number, number>();
  private readonly maskers = new Map<number, Masker>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;
  private readonly secrets: string[];

  constructor(
    private readonly api: GyreApi,
    private readonly allocation: AllocationRef,
    /** This builder's node id: the API stores output only for the node running the allocation. */
    private readonly nodeId: string,
    secrets: readonly string[],
    private readonly options: {
      flushMs?: number;
      /** Told when the server refuses this node's credential: the batch is dropped, not retried. */
      onRefused?: (error: CredentialRefused) => void;
    } = {},
  ) {
    this.secrets = [...secrets];
  }

  /** Masks `values` too, in every step that starts from now on (keys a step has just installed). */
  addSecrets(values: readonly string[]): void {
    for (const value of values) if (!this.secrets.includes(value)) this.secrets.push(value);
  }

  startStep(step: Omit<StepRecord, "status" | "startedAt">): StepRecord {
    const record: StepRecord = { ...step, status: "running", startedAt: new Date().toISOString() };
    this.steps.push(record);
    this.maskers.set(record.index, createMasker(this.secrets));
    this.dirty = true;
    this.schedule();
    return record;
  }

  write(step: number, text: string): void {
    const masked = this.maskers.get(step)?.push(text) ?? text;
    if (!masked) return;
    const buffered = (this.buffers.get(step) ?? "") + masked;
    this.buffers.set(step, buffered);
    if (buffered.length >= MAX_CHUNK) this.cut(step);
    this.schedule();
  }

  endStep(record: StepRecord, status: StepRecord["status"], exitCode: number | null): void {
    const tail = this.maskers.get(record.index)?.flush() ?? "";
    if (tail) this.buffers.set(record.index, (this.buffers.get(record.index) ?? "") + tail);
    record.status = status;
    record.exitCode = exitCode;
    record.endedAt = new Date().toISOString();
    this.dirty = true;
  }

  private cut(step: number): void {
    const data = this.buffers.get(step);
    if (!data) return;
    const seq = this.seq.get(step) ?? 0;
    this.seq.set(step, seq + 1);
    this.pending.push({ step, seq, data });
    this.buffers.delete(step);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.options.flushMs ?? 250);
  }

  /** Characters of output not yet uploaded (buffered or waiting to be sent). */
  get backlog(): number {
    let n = 0;
    for (const b of this.buffers.values()) n += b.length;
    for (const c of this.pending) n += c.data.length;
    return n;
  }

  /**
   * Sends what is buffered now, in requests of at most MAX_REQUEST_CHARS, one at a time and in
   * order. A request that still fails after the client's retries is put back in front, to go
   * with the next flush: nothing is dropped, and one failure never stops later uploads.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      this.cutAll();
      while (this.pending.length > 0 || this.dirty) {
        const chunks = this.nextBatch();
        this.dirty = false;
        try {
          await this.api.post("/output", {
            allocation: this.allocation,
            node_id: this.nodeId,
            steps: this.snapshot(),
            chunks,
          });
        } catch (error) {
          if (error instanceof CredentialRefused) {
            // Revoked: every later write of this node is refused too; the attempt is lost anyway.
            this.options.onRefused?.(error);
            return;
          }
          this.pending.unshift(...chunks);
          this.dirty = true;
          console.error(`agent: output upload failed, will retry: ${(error as Error).message}`);
          return;
        }
      }
    });
    return this.flushing;
  }

  /**
   * For the finish call: everything not yet sent. What does not fit in one request is
   * uploaded first, so the finish request stays within the API's limit.
   */
  async drain(): Promise<{ steps: StepRecord[]; chunks: OutputChunk[] }> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    this.cutAll();
    for (let attempt = 0; this.size(this.pending) > MAX_REQUEST_CHARS && attempt < 5; attempt++) {
      const keep = this.pending.length;
      await this.flush();
      if (this.pending.length >= keep) await new Promise((r) => setTimeout(r, 1000));
    }
    const chunks = this.nextBatch();
    this.dirty = false;
    return { steps: this.snapshot(), chunks };
  }

  private cutAll(): void {
    for (const step of [...this.buffers.keys()]) this.cut(step);
  }

  private size(chunks: OutputChunk[]): number {
    return chunks.reduce((n, c) => n + c.data.length, 0);
  }

  /** The oldest pending chunks that fit in one request (at least one). */
  private nextBatch(): OutputChunk[] {
    let n = 0;
    let size = 0;
    while (n < this.pending.length && (n === 0 || size + this.pending[n]!.data.length <= MAX_REQUEST_CHARS)) {
      size += this.pending[n]!.data.length;
      n++;
    }
    return this.pending.splice(0, n);
  }

  private snapshot(): StepRecord[] {
    return this.steps.map((s) => ({ ...s }));
  }
}
