import { describe, expect, it } from "vitest";
import { inLane, sharedFreshRun } from "./lane.ts";

const scope = {};

describe("sharedFreshRun", () => {
  it("starts one run for callers that arrive while one runs, and never answers a caller from a run that started before it", async () => {
    const started: number[] = [];
    let clock = 0;
    const release: (() => void)[] = [];
    const fn = () => {
      const at = ++clock;
      started.push(at);
      return new Promise<number>((ok) => release.push(() => ok(at)));
    };
    const first = sharedFreshRun(scope, "k", fn);
    const calledAt = ++clock;
    const later = Array.from({ length: 10 }, () => sharedFreshRun(scope, "k", fn));
    expect(started).toEqual([1]);
    release.shift()!();
    expect(await first).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 3]);
    release.shift()!();
    const answers = await Promise.all(later);
    expect(new Set(answers)).toEqual(new Set([3]));
    expect(answers.every((a) => a > calledAt)).toBe(true);
    // Idle again: the next caller starts a run of its own at once.
    const alone = sharedFreshRun(scope, "k", fn);
    expect(started).toEqual([1, 3, 4]);
    release.shift()!();
    expect(await alone).toBe(4);
  });

  it("gives the callers of a failed run its error, and the next caller a new run", async () => {
    await expect(
      sharedFreshRun(scope, "e", () => Promise.reject(new Error("remote hung up"))),
    ).rejects.toThrow("remote hung up");
    await expect(sharedFreshRun(scope, "e", async () => "ok")).resolves.toBe("ok");
  });
});

describe("inLane", () => {
  it("runs a lone request at once, then everything that arrived meanwhile as one batch in arrival order", async () => {
    const batches: number[][] = [];
    const release: (() => void)[] = [];
    const flush = (inputs: number[]) => {
      batches.push([...inputs]);
      return new Promise<number[]>((ok) => release.push(() => ok(inputs.map((n) => n * 10))));
    };
    const lane = {};
    const first = inLane(lane, "counter", 1, flush);
    expect(batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((n) => inLane(lane, "counter", n, flush));
    // Another key is another lane: it does not wait.
    const other = inLane(lane, "other", 9, flush);
    expect(batches).toEqual([[1], [9]]);
    release.shift()!();
    release.shift()!();
    expect(await first).toBe(10);
    expect(await other).toBe(90);
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1], [9], [2, 3, 4]]);
    release.shift()!();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  });

  it("keeps scopes apart: the same key in two scopes is two lanes", async () => {
    const seen: string[][] = [];
    const flush = async (inputs: string[]) => {
      seen.push(inputs);
      return inputs;
    };
    const [a, b] = await Promise.all([inLane({}, "k", "a", flush), inLane({}, "k", "b", flush)]);
    expect([a, b]).toEqual(["a", "b"]);
    expect(seen).toEqual([["a"], ["b"]]);
  });

  it("fails every request of a batch whose flush throws, synchronously or not, or answers the wrong count", async () => {
    const lane = {};
    await expect(
      inLane(lane, "k", 1, () => {
        throw new Error("broken");
      }),
    ).rejects.toThrow("broken");
    await expect(inLane(lane, "k", 1, async () => [1, 2])).rejects.toThrow("answered 2 outputs for 1 inputs");
    await expect(inLane(lane, "k", 5, async (inputs) => inputs)).resolves.toBe(5);
  });

  it("starts the batch that waited behind a failed run, and answers it", async () => {
    const lane = {};
    let fail: (e: Error) => void = () => undefined;
    const first = inLane(lane, "k", 1, () => new Promise<number[]>((_, no) => (fail = no)));
    const queued = [2, 3].map((n) =>
      inLane(lane, "k", n, async (inputs: number[]) => inputs.map((i) => i * 2)),
    );
    fail(new Error("throttled"));
    await expect(first).rejects.toThrow("throttled");
    expect(await Promise.all(queued)).toEqual([4, 6]);
  });
});
