import { describe, expect, it } from "vitest";
import { maskValue } from "./mask-value.ts";

describe("maskValue", () => {
  it.each([
    ["abcdefgh", "xxxxefgh"],
    ["12345", "xxxx2345"],
    ["AKIAIOSFODNN7EXAMPLE", "xxxxMPLE"],
    ["pass😀word😀", "xxxxord😀"],
  ])("shows %j as %j (xxxx + last 4 characters)", (value, shown) => {
    expect(maskValue(value)).toBe(shown);
  });

  it.each(["", "a", "bar", "abcd", "😀😀😀😀"])("shows %j, 4 characters or fewer, as plain xxxx", (value) => {
    expect(maskValue(value)).toBe("xxxx");
  });
});
