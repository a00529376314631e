/** What a badge shows for one pipeline, from its state and its workflows. */
import { describe, expect, it } from "vitest";
import type { Workflow, WorkflowStatus } from "../workflow/index.ts";
import type { Pipeline } from "./model.ts";
import { pipelineStatus } from "./status.ts";

const pipeline = (state: Pipeline["state"]) => ({ state }) as Pipeline;
const workflow = (name: string, status: WorkflowStatus, createdAt = "2026-01-01T00:00:00.000Z") =>
  ({ name, status, createdAt }) as Workflow;

describe("pipelineStatus", () => {
  it("is failed for an errored pipeline, running for one not yet compiled or in setup", () => {
    expect(pipelineStatus(pipeline("errored"), [])).toBe("failed");
    expect(pipelineStatus(pipeline("pending"), [])).toBe("running");
    expect(pipelineStatus(pipeline("setup-pending"), [])).toBe("running");
    expect(pipelineStatus(pipeline("setup"), [workflow("setup", "success")])).toBe("running");
  });

  it("is failed once a workflow failed, even while another runs", () => {
    for (const failed of ["failed", "error", "failing", "canceled", "unauthorized"] as const)
      expect(pipelineStatus(pipeline("created"), [workflow("a", failed), workflow("b", "running")])).toBe(
        "failed",
      );
  });

  it("is running while a workflow runs or waits for an approval, passed when all succeeded", () => {
    expect(pipelineStatus(pipeline("created"), [workflow("a", "success"), workflow("b", "on_hold")])).toBe(
      "running",
    );
    expect(pipelineStatus(pipeline("created"), [workflow("a", "success"), workflow("b", "running")])).toBe(
      "running",
    );
    expect(pipelineStatus(pipeline("created"), [workflow("a", "success"), workflow("b", "not_run")])).toBe(
      "passed",
    );
  });

  it("reads a rerun workflow's latest run only", () => {
    const rerun = [workflow("a", "failed"), workflow("a", "success", "2026-01-01T00:05:00.000Z")];
    expect(pipelineStatus(pipeline("created"), rerun)).toBe("passed");
  });

  it("has no status for a pipeline that ran nothing", () => {
    expect(pipelineStatus(pipeline("created"), [])).toBeUndefined();
    expect(pipelineStatus(pipeline("created"), [workflow("a", "not_run")])).toBeUndefined();
  });
});
