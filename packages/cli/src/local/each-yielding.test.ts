import { describe, expect, it } from "vitest";
import { eachYielding } from "./runtime.ts";

describe("eachYielding (the local intake's share of the event loop)", () => {
  const track = () => {
    let running = 0;
    let most = 0;
    const f = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    };
    return { f, most: () => most };
  };

  it("runs every item at once while the API is idle", async () => {
    const t = track();
    await eachYielding([1, 2, 3, 4, 5], () => false, t.f);
    expect(t.most()).toBe(5);
  });

  it("runs items one at a time while the API is answering requests, and still runs them all", async () => {
    const t = track();
    const done: number[] = [];
    await eachYielding(
      [1, 2, 3, 4],
      () => true,
      async (n) => {
        await t.f();
        done.push(n);
      },
    );
    expect(t.most()).toBe(1);
    expect(done).toEqual([1, 2, 3, 4]);
  });

  it("runs the rest when one item fails, and then reports the failure", async () => {
    const done: number[] = [];
    const all = eachYielding(
      [1, 2, 3],
      () => true,
      async (n) => {
        if (n === 1) throw new Error("one failed");
        done.push(n);
      },
    );
    await expect(all).rejects.toThrow("one failed");
    expect(done).toEqual([2, 3]);
  });
});
