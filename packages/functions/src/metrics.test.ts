/**
 * The EMF the functions write, as the aws-embedded-metrics library prints it: its `Local`
 * environment (AWS_EMF_ENVIRONMENT, read when the library is first loaded, here) sends each
 * document to stdout through console.log, which the tests capture and parse.
 */
import type { Gyre } from "@gyre/core/context";
import { eventsOf, type FleetFigures } from "@gyre/core/metrics/index";
import { registerNode } from "@gyre/core/node/index";
import { memoryTable } from "@gyre/core/store/test-table";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { emitFleetFigures, withEventMetrics } from "./metrics.ts";
import { reconcileAndMeasure } from "./reconcile.ts";

interface Document {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

let lines: string[] = [];
let spy: ReturnType<typeof vi.spyOn>;

beforeAll(() => {
  vi.stubEnv("AWS_EMF_ENVIRONMENT", "Local");
  spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    lines.push(String(line));
  });
});

afterAll(() => {
  spy.mockRestore();
  vi.unstubAllEnvs();
});

/** The EMF documents printed since the last call. */
function documents(): Document[] {
  const out = lines.map((l) => JSON.parse(l) as Document);
  lines = [];
  for (const d of out) expect(d._aws.CloudWatchMetrics).toHaveLength(1);
  return out;
}

/** The document whose dimensions' values are exactly `dims` (besides Env). */
const find = (docs: Document[], dims: Record<string, string>) => {
  const found = docs.filter((d) => {
    const keys = d._aws.CloudWatchMetrics[0]!.Dimensions.flat().filter((k) => k !== "Env");
    return keys.length === Object.keys(dims).length && Object.entries(dims).every(([k, v]) => d[k] === v);
  });
  expect(found).toHaveLength(1);
  return found[0]!;
};

const figures: FleetFigures = {
  // The library refuses timestamps more than two weeks old: the reading is of now.
  at: Date.now() - 1000,
  classes: {
    medium: { pending: 3, running: 2, queueDepth: 3, deadLetters: 1 },
    large: { pending: 1, running: 0, queueError: "AccessDenied: no" },
  },
  nodes: { ready: 2, draining: 1, ineligible: 0, down: 4 },
  allocations: [
    { node: "a", count: 2 },
    { node: "b", count: 0 },
  ],
  pollFailures: [
    { node: "a", count: 3 },
    { node: "c", count: 5 },
  ],
};

describe("the fleet's figures as EMF", () => {
  it("writes namespace Gyre, Env on every dimension set, per class, totals and nodes by status", async () => {
    await emitFleetFigures(figures, "prod");
    const docs = documents();
    expect(docs).toHaveLength(2 + 1 + 4);
    for (const d of docs) {
      expect(d.Env).toBe("prod");
      expect(d._aws.Timestamp).toBe(figures.at);
      const [directive] = d._aws.CloudWatchMetrics;
      expect(directive!.Namespace).toBe("Gyre");
      for (const set of directive!.Dimensions) expect(set[0]).toBe("Env");
    }
    const medium = find(docs, { ResourceClass: "medium" });
    expect(medium._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Env", "ResourceClass"]]);
    expect(medium).toMatchObject({ JobsPending: 3, JobsRunning: 2, QueueDepth: 3, DeadLetterMessages: 1 });
    expect(medium._aws.CloudWatchMetrics[0]!.Metrics).toContainEqual({ Name: "JobsPending", Unit: "Count" });
    // A queue that could not be read has no depth (not a zero that would hide the failure).
    const large = find(docs, { ResourceClass: "large" });
    expect(large).not.toHaveProperty("QueueDepth");
    expect(large.JobsPending).toBe(1);
    const total = find(docs, {});
    expect(total._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Env"]]);
    expect(total).toMatchObject({
      JobsPending: 4,
      JobsRunning: 2,
      QueueDepth: 3,
      DeadLetterMessages: 1,
      PollFailures: 8,
      AllocationsPerNode: [2, 0],
    });
    expect(find(docs, { Status: "ready" }).Nodes).toBe(2);
    expect(find(docs, { Status: "down" }).Nodes).toBe(4);
    expect(find(docs, { Status: "ineligible" }).Nodes).toBe(0);
  });

  it("after a reconciler pass, from the records it left (a registered node, the stage from Settings)", async () => {
    const world = await memoryTable({ stage: "staging", jobQueueUrls: {} });
    world.setNow(Date.now());
    try {
      await registerNode(world.gyre, { name: "builder-1" });
      const errors: string[] = [];
      const report = await reconcileAndMeasure(world.gyre, undefined, (l) => errors.push(l));
      expect(report.failures).toEqual([]);
      expect(errors).toEqual([]);
      const docs = documents();
      expect(find(docs, { Status: "ready" })).toMatchObject({ Env: "staging", Nodes: 1 });
      expect(find(docs, {})).toMatchObject({ JobsPending: 0, AllocationsPerNode: 0, PollFailures: 0 });
    } finally {
      await world.close();
    }
  });
});

describe("event figures as EMF", () => {
  const gyre = { resources: { stage: "prod" } } as unknown as Gyre;

  it("emits what an invocation recorded once it returns: by Env, and by Env with the labels", async () => {
    const handler = withEventMetrics(
      async (n: number) => {
        const events = eventsOf(gyre);
        events.observe("queueTime", { resource_class: "medium" }, 1.5);
        events.observe("queueTime", { resource_class: "medium" }, 4);
        events.observe("jobDuration", { resource_class: "medium", status: "failed" }, 30);
        events.count("intakeErrors", { kind: "failed" });
        return n * 2;
      },
      { gyre: () => gyre },
    );
    expect(await handler(21)).toBe(42);
    const docs = documents();
    expect(docs).toHaveLength(3);
    const queue = find(docs, { ResourceClass: "medium" });
    expect(queue._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: "Gyre",
      Dimensions: [["Env"], ["Env", "ResourceClass"]],
      Metrics: [{ Name: "QueueTime", Unit: "Seconds" }],
    });
    expect(queue.QueueTime).toEqual([1.5, 4]);
    expect(find(docs, { ResourceClass: "medium", Status: "failed" }).JobDuration).toBe(30);
    expect(find(docs, { Kind: "failed" }).IntakeErrors).toBe(1);
    // Drained: the next invocation, recording nothing, writes nothing.
    expect(await withEventMetrics(async () => "quiet", { gyre: () => gyre })()).toBe("quiet");
    expect(documents()).toEqual([]);
  });

  it("emits when the invocation throws, and rethrows; a failure to emit is logged, never thrown", async () => {
    const failing = withEventMetrics(
      async () => {
        eventsOf(gyre).count("dispatchErrors", { stage: "finalize" });
        throw new Error("boom");
      },
      { gyre: () => gyre },
    );
    await expect(failing()).rejects.toThrow("boom");
    expect(find(documents(), { Stage: "finalize" }).DispatchErrors).toBe(1);
    const logged: string[] = [];
    const unlucky = withEventMetrics(
      async () => {
        eventsOf(gyre).count("dispatchErrors", { stage: "start" });
        return "done";
      },
      {
        gyre: () => gyre,
        create: async () => {
          throw new TypeError("no sink");
        },
        log: (l) => logged.push(l),
      },
    );
    expect(await unlucky()).toBe("done");
    expect(logged).toEqual(["metrics: not emitted: TypeError: no sink"]);
  });
});
