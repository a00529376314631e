import type { AssignedJob as Job } from "@gyre/core/protocol/agent";
import { describe, expect, it } from "vitest";
import { usesTimings } from "./index.ts";

const job = (...commands: string[]) =>
  ({
    plan: {
      steps: commands.map((command) => ({
        type: "run",
        command,
        background: false,
        environment: {},
        when: "on_success",
      })),
    },
  }) as unknown as Job;

describe("usesTimings", () => {
  it.each([
    ["circleci tests glob 'test/**/*.js' | circleci tests split --split-by=timings", true],
    ["circleci tests split --split-by timings --timings-type=classname < tests.txt", true],
    ['TESTS=$(circleci tests split --split-by="timings" files.txt)', true],
    ["circleci tests split files.txt", false],
    ["circleci tests split --split-by=filesize files.txt", false],
    ["echo timings", false],
  ])("%s → %s", (command, expected) => {
    expect(usesTimings(job("echo start", command))).toBe(expected);
  });

  it("is false for a job without a plan (approvals, no-ops)", () => {
    expect(usesTimings({} as Job)).toBe(false);
  });
});
