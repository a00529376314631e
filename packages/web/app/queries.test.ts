import { describe, expect, it } from "vitest";
import { jobsRefetch } from "./format.ts";
import { jobOfPath } from "./queries.ts";

describe("the job a path names", () => {
  it("reads the project and job number of a job page's path, and nothing else", () => {
    expect(jobOfPath("/pipelines/gh/acme/api/3/workflows/5f0c/jobs/12")).toEqual({
      slug: "gh/acme/api",
      number: 12,
    });
    expect(jobOfPath("/pipelines/gh/acme/api/3/workflows/5f0c")).toBeUndefined();
    expect(jobOfPath("/pipelines/gh/acme/api/3/workflows/5f0c/jobs/abc")).toBeUndefined();
    expect(jobOfPath("/pipelines/gh/acme/api/3/workflows/5f0c/jobs/0")).toBeUndefined();
  });

  it("names no job for a path a project cannot have: a malformed escape, an escaped slash, a dot part", () => {
    expect(jobOfPath("/pipelines/gh/ac%E0me/api/3/workflows/5f0c/jobs/12")).toBeUndefined();
    expect(jobOfPath("/pipelines/gh/acme%2F..%2F..%2Fgyre/api/3/workflows/5f0c/jobs/12")).toBeUndefined();
    expect(jobOfPath("/pipelines/gh/../api/3/workflows/5f0c/jobs/12")).toBeUndefined();
    expect(jobOfPath("/pipelines/xx/acme/api/3/workflows/5f0c/jobs/12")).toBeUndefined();
  });
});

describe("reading a workflow's jobs again", () => {
  it("goes on until the workflow and every job listed have settled", () => {
    expect(jobsRefetch("running", [{ status: "running" }], 2000)).toBe(2000);
    // The workflow read says failed, the list still has a job queued: read the list again.
    expect(jobsRefetch("failed", [{ status: "success" }, { status: "queued" }], 2000)).toBe(2000);
    expect(jobsRefetch("failed", undefined, 2000)).toBe(2000);
    expect(jobsRefetch(undefined, [{ status: "success" }], 2000)).toBe(2000);
    expect(jobsRefetch("failed", [{ status: "success" }, { status: "failed" }], 2000)).toBe(false);
  });
});
