import type { FinalizeInput } from "@gyre/core/dispatch/index";
import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { finalizeHandler } from "./finalize.ts";

const input: FinalizeInput = {
  allocation: { workflowId: "w-1", jobName: "build", jobId: "j-1", attempt: 1, index: 0 },
  error: { Error: "States.HeartbeatTimeout", Cause: "task token private-task-token" },
} as FinalizeInput;
const context = {} as Context;

describe("finalize handler", () => {
  it("answers what finalizeAllocation answers", async () => {
    const seen: FinalizeInput[] = [];
    const handler = finalizeHandler(async (given) => {
      seen.push(given);
      return { workflowStatus: "running" };
    });
    expect(await handler(input, context)).toEqual({ workflowStatus: "running" });
    expect(seen).toEqual([input]);
  });

  it("logs the error's name and message, not the input, and rethrows it as it was", async () => {
    const lines: string[] = [];
    const failure = Object.assign(new Error("Throughput exceeds the current capacity"), {
      name: "ProvisionedThroughputExceededException",
    });
    const handler = finalizeHandler(
      async () => {
        throw failure;
      },
      (line) => lines.push(line),
    );
    const thrown = await handler(input, context).catch((error: unknown) => error);
    // The same error, so Step Functions matches its name against the task's Retry and Catch.
    expect(thrown).toBe(failure);
    expect(lines).toEqual([
      "finalize: failed: ProvisionedThroughputExceededException: Throughput exceeds the current capacity",
    ]);
    expect(lines.join("\n")).not.toMatch(/private|w-1|j-1/);
  });
});
