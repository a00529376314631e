import { describe, expect, it } from "vitest";
import { CIRCLECI_RESOURCE_CLASSES, formatMemory, limitsFor, resourceClassesFromEnv } from "./resources.ts";

describe("resource classes", () => {
  it("are CircleCI's sizes by default", () => {
    const classes = resourceClassesFromEnv({});
    expect(
      Object.fromEntries(Object.entries(classes).map(([k, v]) => [k, [v.cpus, v.memoryMb / 1024]])),
    ).toEqual({
      small: [1, 2],
      medium: [2, 4],
      "medium+": [3, 6],
      large: [4, 8],
      xlarge: [8, 16],
      "2xlarge": [16, 32],
    });
    expect(classes.medium!.pids).toBe(1000);
  });

  it("take overrides and new classes from GYRE_RESOURCE_CLASSES", () => {
    const classes = resourceClassesFromEnv({
      GYRE_RESOURCE_CLASSES: JSON.stringify({
        small: { memoryMb: 64 },
        "acme/tiny": { cpus: 0.5, memoryMb: 32, pids: 50 },
      }),
    });
    expect(classes.small).toEqual({ cpus: 1, memoryMb: 64, pids: 1000 });
    expect(classes["acme/tiny"]).toEqual({ cpus: 0.5, memoryMb: 32, pids: 50 });
    expect(classes.large).toEqual(CIRCLECI_RESOURCE_CLASSES.large);
  });

  it("refuse a malformed GYRE_RESOURCE_CLASSES with a message naming the problem", () => {
    const parse = (raw: string) => () => resourceClassesFromEnv({ GYRE_RESOURCE_CLASSES: raw });
    expect(parse("{nope")).toThrow(/not valid JSON/);
    expect(parse("[]")).toThrow(/JSON object/);
    expect(parse('{"small": {"memory": 64}}')).toThrow(/small\.memory is unknown/);
    expect(parse('{"small": {"memoryMb": -1}}')).toThrow(/small\.memoryMb must be a positive number/);
    expect(parse('{"small": {"pids": 1.5}}')).toThrow(/small\.pids must be a positive number/);
    expect(parse('{"new": {"cpus": 1}}')).toThrow(/new needs "memoryMb"/);
  });

  it("fall back to medium for a class this builder has no size for", () => {
    const classes = resourceClassesFromEnv({});
    expect(limitsFor(classes, "large")).toMatchObject({ name: "large", fallback: false });
    expect(limitsFor(classes, "arm.medium")).toMatchObject({ name: "medium", fallback: true });
    expect(limitsFor(classes, "constructor")).toMatchObject({ name: "medium", fallback: true });
  });

  it("print memory the way people say it", () => {
    expect(formatMemory(64)).toBe("64 MB");
    expect(formatMemory(4096)).toBe("4 GB");
    expect(formatMemory(1536)).toBe("1.5 GB");
  });
});
