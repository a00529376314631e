/**
 * A running allocation's output: the step list and each step's text, masked, cut into
 * numbered chunks and sent every `flushMs` (and when a buffer fills), so the API can show it
 * live. A chunk keeps its number when its upload is retried, so nothing doubles or drops.
 */

import type { AllocationRef } from "@gyre/core/dispatch/index";
import type { OutputChunk, StepRecord } from "@gyre/core/output/index";
import { createMasker, type Masker } from "@gyre/core/secret/masker";
import type { GyreApi } from "./api.ts";

const MAX_CHUNK = 256 * 1024;

export class OutputStream {
  readonly steps: StepRecord[] = [];
  private pending: OutputChunk[] = [];
  private readonly buffers = new Map<number, string>();
  private readonly seq = new Map<number, number>();
  private readonly maskers = new Map<number, Masker>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly api: GyreApi,
    private readonly allocation: AllocationRef,
    private readonly secrets: string[],
    private readonly flushMs = 250,
  ) {}

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
    }, this.flushMs);
  }

  /** Sends what is buffered now; uploads run one at a time, in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const body = this.take();
      if (!body) return;
      await this.api.post("/output", { allocation: this.allocation, ...body });
    });
    return this.flushing;
  }

  /** Everything not yet sent, for the finish call (which carries it in the same request). */
  async drain(): Promise<{ steps: StepRecord[]; chunks: OutputChunk[] }> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing.catch(() => undefined);
    return this.take() ?? { steps: this.steps, chunks: [] };
  }

  private take(): { steps: StepRecord[]; chunks: OutputChunk[] } | undefined {
    for (const step of [...this.buffers.keys()]) this.cut(step);
    if (!this.pending.length && !this.dirty) return undefined;
    const chunks = this.pending;
    this.pending = [];
    this.dirty = false;
    return { steps: this.steps.map((s) => ({ ...s })), chunks };
  }
}
