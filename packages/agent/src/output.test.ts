import type { OutputChunk } from "@gyre/core/output/index";
import type { AllocationRef } from "@gyre/core/protocol/agent";
import { describe, expect, it } from "vitest";
import { CredentialRefused, type GyreApi } from "./api.ts";
import { OutputStream } from "./output.ts";

const allocation: AllocationRef = { workflowId: "w", jobName: "j", jobId: "id", attempt: 1, index: 0 };

/** Records what the agent would send to /output; `failNext` makes the next calls throw. */
class Recorder {
  requests: { chunks: OutputChunk[] }[] = [];
  failNext = 0;
  refuse = false;
  calls = 0;
  async post<T>(_path: string, body: { chunks: OutputChunk[] }): Promise<T> {
    this.calls++;
    if (this.refuse) throw new CredentialRefused("POST /output: 401 The credential of node n was revoked.");
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("network down");
    }
    this.requests.push(JSON.parse(JSON.stringify(body)));
    return {} as T;
  }
}

const textOf = (chunks: OutputChunk[]) => chunks.map((c) => c.data).join("");
const stream = (api: Recorder) =>
  new OutputStream(api as unknown as GyreApi, allocation, "node-1", [], { flushMs: 10_000 });

describe("OutputStream", () => {
  it("uploads a large backlog in requests of at most 1 Mi characters, every chunk once and in order", async () => {
    const api = new Recorder();
    const out = stream(api);
    const step = out.startStep({ index: 0, name: "big", type: "run" });
    const line = `${"x".repeat(99)}\n`;
    for (let i = 0; i < 50_000; i++) out.write(step.index, line); // 5 MB
    out.endStep(step, "success", 0);
    const rest = await out.drain();
    const sent = [...api.requests.flatMap((r) => r.chunks), ...rest.chunks];
    for (const r of [...api.requests.map((q) => q.chunks), rest.chunks]) {
      expect(textOf(r).length).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(sent.map((c) => c.seq)).toEqual(sent.map((_, i) => i));
    expect(textOf(sent)).toBe(line.repeat(50_000));
    expect(api.requests.length).toBeGreaterThanOrEqual(4);
  });

  it("drops a batch the server refused for a revoked credential, tells the agent once per refusal, and never retries it", async () => {
    const api = new Recorder();
    const refused: string[] = [];
    const out = new OutputStream(api as unknown as GyreApi, allocation, "node-1", [], {
      flushMs: 10_000,
      onRefused: (e) => refused.push(e.message),
    });
    const step = out.startStep({ index: 0, name: "s", type: "run" });
    out.write(step.index, "lost\n");
    api.refuse = true;
    await out.flush();
    await out.flush();
    expect(api.calls).toBe(1);
    expect(refused).toEqual(["POST /output: 401 The credential of node n was revoked."]);
    expect((await out.drain()).chunks).toEqual([]);
  });

  it("puts a failed upload back and sends it with the next flush, without doubling or dropping", async () => {
    const api = new Recorder();
    const out = stream(api);
    const step = out.startStep({ index: 0, name: "s", type: "run" });
    out.write(step.index, "first\n");
    api.failNext = 1;
    await out.flush();
    expect(api.requests).toHaveLength(0);
    out.write(step.index, "second\n");
    await out.flush();
    const sent = api.requests.flatMap((r) => r.chunks);
    expect(sent.map((c) => [c.seq, c.data])).toEqual([
      [0, "first\n"],
      [1, "second\n"],
    ]);
  });

  it("hands a small remainder to the finish call instead of another request", async () => {
    const api = new Recorder();
    const out = stream(api);
    const step = out.startStep({ index: 0, name: "s", type: "run" });
    out.write(step.index, "hi\n");
    out.endStep(step, "success", 0);
    const rest = await out.drain();
    expect(api.requests).toHaveLength(0);
    expect(rest.chunks).toEqual([{ step: 0, seq: 0, data: "hi\n" }]);
    expect(rest.steps.map((s) => [s.name, s.status])).toEqual([["s", "success"]]);
  });
});
