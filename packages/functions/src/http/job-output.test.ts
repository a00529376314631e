/** How much of a step one JSON read answers: within Lambda's 6 MB once encoded, never nothing. */
import { describe, expect, it } from "vitest";
import { ENCODED_PER_READ, withinAnswer } from "./job-output.ts";

const chunk = (seq: number, data: string) => ({ seq, at: "2026-12-03T10:00:00.000Z", data });

describe("a read's chunks", () => {
  it("keeps plain chunks whole up to the budget", () => {
    const chunks = Array.from({ length: 16 }, (_, i) => chunk(i, "x".repeat(256 * 1024)));
    expect(withinAnswer(chunks)).toHaveLength(16);
  });

  it("cuts where JSON's escapes would take the answer past the budget: a control character encodes as six bytes", () => {
    const escapes = Array.from({ length: 8 }, (_, i) => chunk(i, "\x1b".repeat(256 * 1024)));
    const kept = withinAnswer(escapes);
    expect(kept).toHaveLength(3);
    const encoded = kept.reduce((n, c) => n + Buffer.byteLength(JSON.stringify(c.data)), 0);
    expect(encoded).toBeLessThanOrEqual(ENCODED_PER_READ);
    expect(encoded + Buffer.byteLength(JSON.stringify(escapes[3]!.data))).toBeGreaterThan(ENCODED_PER_READ);
  });

  it("always answers the first chunk, whatever its size", () => {
    const huge = [chunk(0, "\x1b".repeat(1024 * 1024)), chunk(1, "x")];
    expect(withinAnswer(huge).map((c) => c.seq)).toEqual([0]);
  });
});
