/**
 * StatsD forwarding against a real UDP listener on 127.0.0.1: the lines' format (reference
 * names, DogStatsD tags, timings in ms), events forwarded as they are recorded, the fleet's
 * gauges on demand, and many lines split into datagrams that each fit.
 */
import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventMetrics, type FleetFigures } from "./index.ts";
import { eventLine, fleetLines, forwardToStatsd, packets, statsdName } from "./statsd.ts";

let listener: Socket;
let port: number;
const datagrams: string[] = [];

beforeAll(async () => {
  listener = createSocket("udp4");
  listener.on("message", (m) => datagrams.push(m.toString("utf8")));
  await new Promise<void>((ok) => listener.bind(0, "127.0.0.1", ok));
  port = (listener.address() as AddressInfo).port;
});

afterAll(() => {
  listener.close();
});

/** Waits until the listener got `n` lines in all, and returns them (clearing the list). */
async function received(n: number): Promise<string[]> {
  for (let i = 0; i < 400; i++) {
    const lines = datagrams.flatMap((d) => d.split("\n"));
    if (lines.length >= n) {
      datagrams.length = 0;
      return lines;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`got ${datagrams.length} datagrams, fewer than ${n} lines`);
}

const figures: FleetFigures = {
  at: 0,
  classes: { medium: { pending: 2, running: 1, queueDepth: 2 }, large: { pending: 0, running: 0 } },
  nodes: { ready: 1, draining: 0, ineligible: 0, down: 1 },
  allocations: [{ node: "n1", count: 1 }],
  pollFailures: [{ node: "n1", count: 3 }],
};

describe("StatsD lines", () => {
  const settings = { host: "127.0.0.1", port: 1, prefix: "ci.", tags: { env: "prod" } };

  it("use the reference's names where there is one, else gyre.<name>", () => {
    expect(statsdName("jobsPending")).toBe("circle.nomad.client_agent.jobs.pending");
    expect(statsdName("pollFailures")).toBe("circle.nomad.server_agent.poll_failure");
    expect(statsdName("queueTime")).toBe("gyre.queue_time");
    expect(statsdName("dispatchErrors")).toBe("gyre.dispatch_errors");
  });

  it("tag each line with the settings' tags and its labels, and time in milliseconds", () => {
    expect(fleetLines(settings, figures)).toEqual([
      "ci.circle.nomad.client_agent.jobs.pending:2|g|#env:prod,resource_class:medium",
      "ci.circle.nomad.client_agent.jobs.running:1|g|#env:prod,resource_class:medium",
      "ci.gyre.job_queue_messages:2|g|#env:prod,resource_class:medium",
      "ci.circle.nomad.client_agent.jobs.pending:0|g|#env:prod,resource_class:large",
      "ci.circle.nomad.client_agent.jobs.running:0|g|#env:prod,resource_class:large",
      "ci.gyre.nodes:1|g|#env:prod,status:ready",
      "ci.gyre.nodes:0|g|#env:prod,status:draining",
      "ci.gyre.nodes:0|g|#env:prod,status:ineligible",
      "ci.gyre.nodes:1|g|#env:prod,status:down",
      "ci.gyre.node_allocations:1|g|#env:prod,node:n1",
      "ci.circle.nomad.server_agent.poll_failure:3|g|#env:prod,node:n1",
    ]);
    expect(
      eventLine(settings, { metric: "queueTime", labels: { resource_class: "small" }, value: 1.2345 }),
    ).toBe("ci.gyre.queue_time:1235|ms|#env:prod,resource_class:small");
    expect(
      eventLine({ host: "h", port: 1 }, { metric: "intakeErrors", labels: { kind: "a|b:c" }, value: 2 }),
    ).toBe("gyre.intake_errors:2|c|#kind:a_b_c");
  });

  it("pack many lines into datagrams that each fit, losing none", () => {
    const lines = Array.from(
      { length: 300 },
      (_, i) => `gyre.node_allocations:${i}|g|#node:${"x".repeat(30)}${i}`,
    );
    const out = packets(lines);
    expect(out.length).toBeGreaterThan(1);
    for (const p of out) expect(p.length).toBeLessThanOrEqual(1400);
    expect(out.flatMap((p) => p.toString().split("\n"))).toEqual(lines);
  });
});

describe("forwarding over UDP", () => {
  it("sends events as they are recorded and the fleet's gauges when given, until closed", async () => {
    const events = new EventMetrics();
    const forwarder = forwardToStatsd({ host: "127.0.0.1", port }, events);
    events.observe("queueTime", { resource_class: "medium" }, 0.5);
    events.count("dispatchErrors", { stage: "start" });
    expect((await received(2)).sort()).toEqual([
      "gyre.dispatch_errors:1|c|#stage:start",
      "gyre.queue_time:500|ms|#resource_class:medium",
    ]);
    await forwarder.fleet(figures);
    expect(await received(11)).toContain("circle.nomad.client_agent.jobs.pending:2|g|#resource_class:medium");
    await forwarder.events([{ metric: "jobDuration", labels: { status: "success" }, value: 3 }]);
    expect(await received(1)).toEqual(["gyre.job_duration:3000|ms|#status:success"]);
    forwarder.close();
    events.count("dispatchErrors", { stage: "start" }); // no longer forwarded (nor a throw)
    const other = forwardToStatsd({ host: "127.0.0.1", port });
    await other.events([{ metric: "intakeErrors", labels: { kind: "failed" }, value: 1 }]);
    // Only the second forwarder's line arrives: the closed one sent nothing more.
    expect(await received(1)).toEqual(["gyre.intake_errors:1|c|#kind:failed"]);
    other.close();
  });
});
