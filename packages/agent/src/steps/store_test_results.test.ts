/** A test's output past the installation's max_test_output_bytes is cut, on a character, with a note. */
import type { TestCaseResult } from "@gyre/core/test-result/junit";
import { describe, expect, it } from "vitest";
import { capped } from "./store_test_results.ts";

const test = (message: string | null): TestCaseResult => ({
  name: "t",
  classname: "c",
  file: "",
  result: message === null ? "success" : "failure",
  run_time: 0,
  message,
  source: "unit",
});

describe("capped", () => {
  it("keeps a test whose output fits, and one with no output or no limit, as it is", () => {
    expect(capped(test("short"), 5)).toEqual(test("short"));
    expect(capped(test(null), 1)).toEqual(test(null));
    expect(capped(test("x".repeat(100)), undefined)).toEqual(test("x".repeat(100)));
  });

  it("cuts a longer output at the limit in bytes, never inside a character, and says how long it was", () => {
    expect(capped(test("abcdef"), 4).message).toBe(
      "abcd\n[Gyre: output cut at 4 of 6 bytes (max_test_output_bytes)]",
    );
    // "é" is two bytes: a cut in its middle keeps the character before it.
    expect(capped(test("aéé"), 2).message).toBe(
      "a\n[Gyre: output cut at 2 of 5 bytes (max_test_output_bytes)]",
    );
  });
});
