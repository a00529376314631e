/**
 * The fleet's figures from records (pure), the event recorder, and the Prometheus text they
 * make, read back by a strict parser (test/support/prometheus.ts) that is itself shown to refuse
 * malformed text.
 */
import { describe, expect, it } from "vitest";
import { parsePrometheus, sampleValue } from "../../../../test/support/prometheus.ts";
import type { Job } from "../job/index.ts";
import type { Node } from "../node/index.ts";
import { EventMetrics, fleetFigures, METRICS } from "./index.ts";
import { renderPrometheus } from "./prometheus.ts";

const job = (status: string, resourceClass: string | undefined, allocations: string[]) =>
  ({
    status,
    ...(resourceClass ? { plan: { resourceClass } } : {}),
    allocations: Object.fromEntries(allocations.map((s, i) => [String(i), { status: s }])),
  }) as unknown as Job;

const node = (id: string, fields: Partial<Node> = {}) =>
  ({ id, status: "ready", heartbeatAt: 0, updatedAt: 0, ...fields }) as Node;

const ref = { workflowId: "w", jobName: "j", jobId: "x", attempt: 1, index: 0 };

describe("the fleet's figures", () => {
  const figures = fleetFigures(
    1000,
    [
      job("blocked", "medium", ["queued"]), // not placed yet: not pending
      job("queued", "medium", ["queued", "queued"]),
      job("running", "medium", ["running", "queued", "success"]),
      job("running", "large", ["running"]),
      job("queued", undefined, ["queued"]), // no plan: the default class
      job("on_hold", "small", ["queued"]),
    ],
    [
      node("a", { running: [ref, ref] }),
      node("b", { drainedAt: 5, ineligibleAt: 5, running: [ref] }),
      node("c", { ineligibleAt: 5, pollFailures: 3 }),
      node("d", { status: "down", running: [ref], pollFailures: 7 }),
      node("e", { revokedAt: 9 }),
    ],
    {
      medium: { visible: 4, deadLetter: { visible: 2 } },
      small: { visible: 0 },
      xlarge: { visible: 0, error: "AccessDenied: no" },
    },
  );

  it("counts queued and running allocations of queued and running jobs by class, beside the queues' depth", () => {
    expect(figures.classes).toEqual({
      medium: { pending: 4, running: 1, queueDepth: 4, deadLetters: 2 },
      small: { pending: 0, running: 0, queueDepth: 0 },
      xlarge: { pending: 0, running: 0, queueError: "AccessDenied: no" },
      large: { pending: 0, running: 1 },
    });
  });

  it("counts nodes by status (a revoked one is down, a drain wins over ineligible) and what live ones run", () => {
    expect(figures.nodes).toEqual({ ready: 1, draining: 1, ineligible: 1, down: 2 });
    expect(figures.allocations).toEqual([
      { node: "a", count: 2 },
      { node: "b", count: 1 },
      { node: "c", count: 0 },
    ]);
    expect(figures.pollFailures).toEqual([
      { node: "c", count: 3 },
      { node: "d", count: 7 },
    ]);
  });

  it("renders as Prometheus text that a strict parser reads back, with every metric's HELP and TYPE", () => {
    const events = new EventMetrics();
    events.observe("queueTime", { resource_class: "medium" }, 0.3);
    events.observe("queueTime", { resource_class: "medium" }, 4);
    events.observe("queueTime", { resource_class: "medium" }, 7000);
    events.observe("jobDuration", { resource_class: "large", status: "success" }, 12);
    events.count("dispatchErrors", { stage: 'we"ird\\\nstage' }, 2);
    events.count("intakeErrors", { kind: "dropped" });
    const families = parsePrometheus(renderPrometheus(figures, events));
    expect([...families.keys()].sort()).toEqual(
      Object.values(METRICS)
        .map((m) => m.prometheus)
        .sort(),
    );
    for (const m of Object.values(METRICS)) {
      expect(families.get(m.prometheus)).toMatchObject({ help: m.help, type: m.kind });
    }
    expect(
      sampleValue(families, "circle_nomad_client_agent_jobs_pending", { resource_class: "medium" }),
    ).toBe(4);
    expect(sampleValue(families, "circle_nomad_client_agent_jobs_running", { resource_class: "large" })).toBe(
      1,
    );
    // A class whose queue could not be read has no depth sample (not a made-up zero).
    expect(() => sampleValue(families, "gyre_job_queue_messages", { resource_class: "xlarge" })).toThrow();
    expect(sampleValue(families, "gyre_job_queue_dead_letter_messages", { resource_class: "medium" })).toBe(
      2,
    );
    expect(sampleValue(families, "gyre_nodes", { status: "down" })).toBe(2);
    expect(sampleValue(families, "gyre_node_allocations", { node: "a" })).toBe(2);
    expect(sampleValue(families, "circle_nomad_server_agent_poll_failure_total", { node: "d" })).toBe(7);
    const medium = { resource_class: "medium" };
    expect(sampleValue(families, "gyre_queue_time_seconds_bucket", { ...medium, le: "0.25" })).toBe(0);
    expect(sampleValue(families, "gyre_queue_time_seconds_bucket", { ...medium, le: "0.5" })).toBe(1);
    expect(sampleValue(families, "gyre_queue_time_seconds_bucket", { ...medium, le: "5" })).toBe(2);
    expect(sampleValue(families, "gyre_queue_time_seconds_bucket", { ...medium, le: "3600" })).toBe(2);
    expect(sampleValue(families, "gyre_queue_time_seconds_bucket", { ...medium, le: "+Inf" })).toBe(3);
    expect(sampleValue(families, "gyre_queue_time_seconds_sum", medium)).toBeCloseTo(7004.3);
    expect(sampleValue(families, "gyre_job_duration_seconds_count", { status: "success" })).toBe(1);
    // Label values come back as they were given, escapes and all.
    expect(sampleValue(families, "gyre_dispatch_errors_total", { stage: 'we"ird\\\nstage' })).toBe(2);
    expect(sampleValue(families, "gyre_intake_errors_total", { kind: "dropped" })).toBe(1);
  });
});

describe("the event recorder", () => {
  it("keeps records for a drain only when asked to, and drains each once", () => {
    const events = new EventMetrics();
    events.count("intakeErrors", { kind: "failed" });
    expect(events.drain()).toEqual([]);
    events.keepRecords = true;
    events.observe("queueTime", { resource_class: "small" }, 1.5);
    events.count("intakeErrors", { kind: "failed" }, 0); // nothing happened: nothing kept
    events.count("intakeErrors", { kind: "failed" });
    expect(events.drain()).toEqual([
      { metric: "queueTime", labels: { resource_class: "small" }, value: 1.5 },
      { metric: "intakeErrors", labels: { kind: "failed" }, value: 1 },
    ]);
    expect(events.drain()).toEqual([]);
    expect(events.counter("intakeErrors")).toEqual([{ labels: { kind: "failed" }, value: 2 }]);
  });
});

describe("the strict Prometheus parser", () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  it.each([
    ["a sample with no TYPE before it", "b 1\n"],
    ["no final newline", ok.slice(0, -1)],
    ["a duplicate series", `${ok}a_total{x="1"} 3\n`],
    ["a family split by another", `${ok}# TYPE g gauge\ng 1\na_total{x="2"} 1\n`],
    ["a second TYPE", `${ok}# TYPE a_total counter\n`],
    ["an unquoted label", "# TYPE g gauge\ng{x=1} 1\n"],
    ["a bad escape", '# TYPE g gauge\ng{x="\\t"} 1\n'],
    ["a bad value", "# TYPE g gauge\ng one\n"],
    ["a negative counter", "# TYPE a_total counter\na_total -1\n"],
    ["a histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    [
      "decreasing buckets",
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
    ],
  ])("refuses %s", (_, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });

  it("reads well-formed text", () => {
    expect(sampleValue(parsePrometheus(ok), "a_total", { x: "1" })).toBe(2);
  });
});
