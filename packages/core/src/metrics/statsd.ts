/**
 * Optional forwarding of the figures to a StatsD / Telegraf endpoint over UDP, when the settings
 * name one (`Resources.statsd`: the Settings link on AWS, the local runtime's `statsd` option).
 * Names are the reference's where CircleCI Server has one (`circle.nomad.client_agent.jobs.pending`),
 * else `gyre.<name>`; labels go as DogStatsD tags (`|#resource_class:medium`, read by Telegraf's
 * statsd input with `datadog_extensions = true`). Gauges for the fleet's figures (sent after each
 * reconciler pass), timings in milliseconds for queue time and job duration, counts for errors
 * (sent as they are recorded). UDP: a lost packet is a lost sample, never an error.
 */
import { createSocket, type Socket } from "node:dgram";
import type { StatsdSettings } from "../resources.ts";
import { METRICS, type MetricKey } from "./catalog.ts";
import type { EventMetrics, EventRecord, Labels } from "./events.ts";
import { type FleetFigures, NODE_STATUSES } from "./index.ts";

/** Largest datagram sent (fits a 1500-byte MTU with headers to spare). */
const MAX_PACKET_BYTES = 1400;

/** The StatsD name of a metric: the reference's, else `gyre.` and its Prometheus name's stem. */
export function statsdName(key: MetricKey): string {
  const m = METRICS[key];
  if ("reference" in m) return m.reference;
  return `gyre.${m.prometheus.replace(/^gyre_/, "").replace(/_(total|seconds)$/, "")}`;
}

/** Tag values may not hold the separators of the line format. */
const tagValue = (v: string) => v.replace(/[|,#:\n]/g, "_");

function line(
  settings: StatsdSettings,
  key: MetricKey,
  value: number,
  type: "g" | "c" | "ms",
  labels: Labels = {},
): string {
  const tags = Object.entries({ ...settings.tags, ...labels }).map(([k, v]) => `${k}:${tagValue(v)}`);
  return `${settings.prefix ?? ""}${statsdName(key)}:${value}|${type}${tags.length ? `|#${tags.join(",")}` : ""}`;
}

/** The fleet's figures as gauges. */
export function fleetLines(settings: StatsdSettings, fleet: FleetFigures): string[] {
  const lines: string[] = [];
  for (const [resourceClass, c] of Object.entries(fleet.classes)) {
    const tags = { resource_class: resourceClass };
    lines.push(line(settings, "jobsPending", c.pending, "g", tags));
    lines.push(line(settings, "jobsRunning", c.running, "g", tags));
    if (c.queueDepth !== undefined) lines.push(line(settings, "queueDepth", c.queueDepth, "g", tags));
    if (c.deadLetters !== undefined) lines.push(line(settings, "deadLetters", c.deadLetters, "g", tags));
  }
  for (const status of NODE_STATUSES)
    lines.push(line(settings, "nodes", fleet.nodes[status], "g", { status }));
  for (const { node, count } of fleet.allocations)
    lines.push(line(settings, "nodeAllocations", count, "g", { node }));
  // A running total per node: a gauge, as the node reports it.
  for (const { node, count } of fleet.pollFailures)
    lines.push(line(settings, "pollFailures", count, "g", { node }));
  return lines;
}

/** One event record: a timing (ms) or a count. */
export function eventLine(settings: StatsdSettings, record: EventRecord): string {
  return record.metric === "queueTime" || record.metric === "jobDuration"
    ? line(settings, record.metric, Math.round(record.value * 1000), "ms", record.labels)
    : line(settings, record.metric, record.value, "c", record.labels);
}

/** Lines packed into datagrams of at most MAX_PACKET_BYTES, newline-separated. */
export function packets(lines: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  let current = "";
  for (const l of lines) {
    const next = current ? `${current}\n${l}` : l;
    if (current && Buffer.byteLength(next) > MAX_PACKET_BYTES) {
      out.push(Buffer.from(current));
      current = l;
    } else current = next;
  }
  if (current) out.push(Buffer.from(current));
  return out;
}

export interface StatsdForwarder {
  /** Sends the fleet's gauges. */
  fleet(figures: FleetFigures): Promise<void>;
  /** Sends event records (a Lambda function's, drained at the end of its invocation). */
  events(records: readonly EventRecord[]): Promise<void>;
  /** Stops forwarding events and closes the socket. */
  close(): void;
}

/**
 * Forwards to `settings`' endpoint the fleet's figures and event records when given, and, with
 * `events`, that recorder's records as they happen. The socket is unref'd: it never keeps a
 * process alive.
 */
export function forwardToStatsd(settings: StatsdSettings, events?: EventMetrics): StatsdForwarder {
  const socket: Socket = createSocket(settings.host.includes(":") ? "udp6" : "udp4");
  socket.unref();
  socket.on("error", () => undefined); // unreachable endpoint: samples are lost, nothing else
  const send = (lines: readonly string[]) =>
    Promise.all(
      packets(lines).map(
        (packet) =>
          new Promise<void>((done) => socket.send(packet, settings.port, settings.host, () => done())),
      ),
    ).then(() => undefined);
  const unsubscribe = events?.subscribe((record) => void send([eventLine(settings, record)]));
  return {
    fleet: (figures) => send(fleetLines(settings, figures)),
    events: (records) => send(records.map((r) => eventLine(settings, r))),
    close: () => {
      unsubscribe?.();
      socket.close();
    },
  };
}
