import type { Context } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { reconcileHandler } from "./reconcile.ts";

const context = {} as Context;

describe("reconcile handler", () => {
  it("answers and logs the report", async () => {
    const report = {
      checked: 3,
      redriven: 1,
      restarted: 0,
      expired: 0,
      nodesDown: 1,
      nodesRemoved: 0,
      workflowsAdvanced: 0,
      pipelinesRequeued: 0,
      terminationsCompleted: 0,
      failures: [],
    };
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      expect(await reconcileHandler(async () => report)({}, context)).toEqual(report);
      expect(logged).toHaveBeenCalledWith(JSON.stringify({ reconcile: report }));
    } finally {
      logged.mockRestore();
    }
  });

  it("logs a failure's name and message and rethrows it, so the scheduler sees it fail", async () => {
    const lines: string[] = [];
    const failure = new RangeError("shard out of range");
    const handler = reconcileHandler(
      async () => {
        throw failure;
      },
      (line) => lines.push(line),
    );
    await expect(handler({}, context)).rejects.toBe(failure);
    expect(lines).toEqual(["reconcile: failed: RangeError: shard out of range"]);
  });
});
