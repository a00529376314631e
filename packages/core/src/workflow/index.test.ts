import { describe, expect, it } from "vitest";
import type { JobStatus } from "../job/index.ts";
import { readiness, workflowStatus } from "./index.ts";

const job = (name: string, status: JobStatus, requires: string[] = []) => ({ name, status, requires });

describe("workflowStatus", () => {
  it.each([
    ["every job succeeded", [job("a", "success"), job("b", "success", ["a"])], "success"],
    ["a job is queued", [job("a", "queued")], "running"],
    ["a job runs and one waits on it", [job("a", "running"), job("b", "blocked", ["a"])], "running"],
    ["a job failed while a sibling runs", [job("a", "failed"), job("b", "running")], "failing"],
    [
      "a job failed and its dependant can never run",
      [job("a", "failed"), job("b", "blocked", ["a"])],
      "failed",
    ],
    ["a lost builder gave up", [job("a", "infrastructure_fail")], "failed"],
    ["a job timed out", [job("a", "timedout"), job("b", "success")], "failed"],
    [
      "only an approval waits",
      [job("a", "success"), job("hold", "on_hold", ["a"]), job("b", "blocked", ["hold"])],
      "on_hold",
    ],
    ["a job was canceled", [job("a", "canceled"), job("b", "success")], "canceled"],
    [
      "a chain behind a failure two levels deep",
      [job("a", "failed"), job("b", "blocked", ["a"]), job("c", "blocked", ["b"])],
      "failed",
    ],
    [
      "a chain behind a running job two levels deep",
      [job("a", "running"), job("b", "blocked", ["a"]), job("c", "blocked", ["b"])],
      "running",
    ],
    ["a job was refused its context", [job("a", "unauthorized"), job("b", "blocked", ["a"])], "unauthorized"],
    [
      "a job was refused while an approval waits",
      [job("a", "unauthorized"), job("hold", "on_hold")],
      "unauthorized",
    ],
    [
      "a job succeeded and one whose flexible requires were not met was not run",
      [job("release", "success"), job("rollback", "not_run", ["release"])],
      "success",
    ],
    [
      "a job failed and the jobs behind it were not run",
      [job("a", "failed"), job("b", "not_run", ["a"]), job("c", "not_run", ["b"])],
      "failed",
    ],
    ["every job was not run", [job("a", "not_run")], "not_run"],
    ["no jobs", [], "not_run"],
  ] as const)("is %s → %s", (_, jobs, expected) => {
    expect(workflowStatus([...jobs])).toBe(expected);
  });
});

describe("status-form requires", () => {
  const notify = (statuses?: string[]) => ({
    name: "notify",
    status: "blocked" as const,
    requires: ["build"],
    ...(statuses ? { requiredStatuses: { build: statuses } } : {}),
  });
  const statusOf = (status: JobStatus) => (name: string) => (name === "build" ? status : undefined);

  it.each([
    [undefined, "success", "ready"],
    [undefined, "failed", "stranded"],
    [["failed"], "failed", "ready"],
    [["failed"], "infrastructure_fail", "ready"],
    [["failed"], "timedout", "ready"],
    [["failed"], "success", "stranded"],
    [["success", "failed"], "success", "ready"],
    [["success", "failed"], "failed", "ready"],
    [["canceled"], "failed", "stranded"],
    [["failed"], "running", "waiting"],
  ] as const)("requiring %j, a build that ended %s leaves the job %s", (statuses, build, expected) => {
    expect(readiness(notify(statuses ? [...statuses] : undefined), statusOf(build))).toBe(expected);
  });

  it("keeps the workflow failing while a job that runs on failure is about to start, and failed once it is done", () => {
    const build = { name: "build", status: "failed" as const, requires: [] };
    expect(workflowStatus([build, notify(["failed"])])).toBe("failing");
    expect(workflowStatus([build, { ...notify(["failed"]), status: "success" }])).toBe("failed");
  });
});

describe("workflowStatus of a workflow a user canceled", () => {
  it("is canceled once nothing runs, even with a failed job, and running while a job still does", () => {
    expect(workflowStatus([job("a", "failed"), job("b", "canceled")], true)).toBe("canceled");
    expect(workflowStatus([job("a", "success"), job("b", "canceled", ["a"])], true)).toBe("canceled");
    expect(workflowStatus([job("a", "running"), job("b", "canceled")], true)).toBe("running");
  });
});
