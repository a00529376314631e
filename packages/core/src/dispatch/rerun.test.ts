import { describe, expect, it } from "vitest";
import { rerunSet } from "./rerun.ts";

const job = (name: string, requires: string[] = []) => ({ name, requires });

describe("rerunSet", () => {
  const jobs = [
    job("build"),
    job("lint"),
    job("test", ["build"]),
    job("package", ["test", "lint"]),
    job("deploy", ["package"]),
    job("docs", ["build"]),
  ];

  it("is the chosen jobs and every job that requires one, directly or not", () => {
    expect([...rerunSet(jobs, ["test"])].sort()).toEqual(["deploy", "package", "test"]);
    expect([...rerunSet(jobs, ["lint"])].sort()).toEqual(["deploy", "lint", "package"]);
    expect([...rerunSet(jobs, ["build"])].sort()).toEqual(["build", "deploy", "docs", "package", "test"]);
  });

  it("is just the jobs chosen when nothing requires them, and every job for every root", () => {
    expect([...rerunSet(jobs, ["deploy", "docs"])].sort()).toEqual(["deploy", "docs"]);
    expect(rerunSet(jobs, ["build", "lint"]).size).toBe(jobs.length);
  });
});
