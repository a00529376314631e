import { describe, expect, it } from "vitest";
import { capacityFromEnv, Ledger } from "./capacity.ts";
import { CIRCLECI_RESOURCE_CLASSES } from "./sandbox/resources.ts";

const env = (vars: Record<string, string>) => ({ ...vars }) as NodeJS.ProcessEnv;

describe("a node's capacity", () => {
  it("keeps the reference's 2 vCPU / 4 GB and offers the classes that fit the rest", () => {
    const capacity = capacityFromEnv(
      CIRCLECI_RESOURCE_CLASSES,
      env({ GYRE_NODE_CPUS: "8", GYRE_NODE_MEMORY_MB: "16384" }),
    );
    expect(capacity.total).toEqual({ cpus: 8, memoryMb: 16384 });
    expect(capacity.reserved).toEqual({ cpus: 2, memoryMb: 4096 });
    expect(Object.keys(capacity.offered)).toEqual(["small", "medium", "medium+", "large"]);
    expect(capacity.offered.large).toEqual({ cpus: 4, memoryMb: 8192 });
  });

  it("is limited by memory as well as by CPUs", () => {
    const capacity = capacityFromEnv(
      CIRCLECI_RESOURCE_CLASSES,
      env({ GYRE_NODE_CPUS: "64", GYRE_NODE_MEMORY_MB: "8192", GYRE_NODE_RESERVED_MEMORY_MB: "2048" }),
    );
    expect(Object.keys(capacity.offered)).toEqual(["small", "medium", "medium+"]);
  });

  it("refuses to start a node no class fits, saying what it has and what to change", () => {
    expect(() =>
      capacityFromEnv(CIRCLECI_RESOURCE_CLASSES, env({ GYRE_NODE_CPUS: "2", GYRE_NODE_MEMORY_MB: "8192" })),
    ).toThrow(
      "This node has 0 vCPU and 4096 MB left after its reserve (2 vCPU, 4096 MB of 2 vCPU, 8192 MB): no resource class fits. Lower GYRE_NODE_RESERVED_CPUS / GYRE_NODE_RESERVED_MEMORY_MB or run it on a larger host.",
    );
  });

  it("refuses a setting that is not a number ≥ 0, naming it", () => {
    expect(() => capacityFromEnv(CIRCLECI_RESOURCE_CLASSES, env({ GYRE_NODE_CPUS: "many" }))).toThrow(
      'GYRE_NODE_CPUS must be a number ≥ 0, not "many".',
    );
    expect(() =>
      capacityFromEnv(CIRCLECI_RESOURCE_CLASSES, env({ GYRE_NODE_RESERVED_MEMORY_MB: "1.5" })),
    ).toThrow('GYRE_NODE_RESERVED_MEMORY_MB must be a whole number ≥ 0, not "1.5".');
  });
});

describe("the ledger of free capacity", () => {
  const capacity = capacityFromEnv(
    CIRCLECI_RESOURCE_CLASSES,
    env({
      GYRE_NODE_CPUS: "4",
      GYRE_NODE_MEMORY_MB: "8192",
      GYRE_NODE_RESERVED_CPUS: "0",
      GYRE_NODE_RESERVED_MEMORY_MB: "0",
    }),
  );
  const medium = { cpus: 2, memoryMb: 4096 };

  it("takes what fits and refuses what does not, until something is given back", () => {
    const ledger = new Ledger(capacity);
    expect(ledger.take(medium)).toBe(true);
    expect(ledger.take(medium)).toBe(true);
    expect(ledger.take({ cpus: 1, memoryMb: 1 })).toBe(false);
    expect(ledger.room).toEqual({ cpus: 0, memoryMb: 0 });
    ledger.give(medium);
    expect(ledger.taken).toEqual(medium);
    expect(ledger.take(medium)).toBe(true);
  });

  it("wakes a waiter when capacity is given back or the node's state changes, and one whose signal aborts", async () => {
    const ledger = new Ledger(capacity);
    ledger.take(medium);
    const order: string[] = [];
    const given = ledger.nextChange(AbortSignal.any([])).then(() => order.push("given"));
    ledger.give(medium);
    await given;
    const changed = ledger.nextChange(AbortSignal.any([])).then(() => order.push("changed"));
    ledger.changed();
    await changed;
    const abort = new AbortController();
    const aborted = ledger.nextChange(abort.signal).then(() => order.push("aborted"));
    abort.abort();
    await aborted;
    expect(order).toEqual(["given", "changed", "aborted"]);
  });
});

describe("GYRE_QUEUES", () => {
  it("reads class=URL pairs, and refuses an entry without a class or URL, naming it", async () => {
    const { parseQueues } = await import("./main.ts");
    expect(parseQueues("small=http://q/small, medium+=https://q/medium-plus")).toEqual({
      small: "http://q/small",
      "medium+": "https://q/medium-plus",
    });
    expect(() => parseQueues("http://q/small")).toThrow(
      'GYRE_QUEUES entry "http://q/small" must read <resource class>=<queue URL>.',
    );
    expect(() => parseQueues("small=q")).toThrow(
      'GYRE_QUEUES entry "small=q" must read <resource class>=<queue URL>.',
    );
    expect(() => parseQueues(" , ")).toThrow("GYRE_QUEUES names no queue.");
  });
});
