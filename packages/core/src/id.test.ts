import { describe, expect, it } from "vitest";
import { deterministicUuid } from "./id.ts";

describe("deterministicUuid", () => {
  it("is the same for the same parts and a valid version-8 UUID", () => {
    const id = deterministicUuid("pipeline", "workflow", "build");
    expect(id).toBe(deterministicUuid("pipeline", "workflow", "build"));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("differs when the parts differ, including where they are split", () => {
    expect(deterministicUuid("a", "bc")).not.toBe(deterministicUuid("ab", "c"));
    expect(deterministicUuid("p", "build")).not.toBe(deterministicUuid("p", "test"));
  });
});
