import { describe, expect, it } from "vitest";
import { type AllocationStatus, freshAllocations, statusFromAllocations } from "./index.ts";

const allocs = (...statuses: AllocationStatus[]) =>
  Object.fromEntries(statuses.map((status, i) => [String(i), { status }]));

describe("statusFromAllocations", () => {
  it.each([
    [["queued"], "queued"],
    [["queued", "queued"], "queued"],
    [["running", "queued"], "running"],
    [["success", "queued"], "running"],
    [["success", "success"], "success"],
    [["success", "failed"], "failed"],
    [["failed", "infrastructure_fail"], "infrastructure_fail"],
    [["timedout", "failed"], "timedout"],
    [["canceled", "success"], "canceled"],
  ] as const)("%j → %s", (statuses, expected) => {
    expect(statusFromAllocations(allocs(...statuses))).toBe(expected);
  });

  it("gives each parallel run its own queued allocation, indexed from 0", () => {
    expect(freshAllocations(3)).toEqual({
      "0": { status: "queued" },
      "1": { status: "queued" },
      "2": { status: "queued" },
    });
  });
});
