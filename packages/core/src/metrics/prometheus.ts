/**
 * The figures in Prometheus' text exposition format (version 0.0.4): one `# HELP` and one
 * `# TYPE` line per metric, then its samples; label values escaped (`\\`, `"`, newline).
 * Served by the local runtime at `GET /metrics` (functions/src/http/metrics.ts).
 */
import { BUCKETS, METRICS, type MetricKey } from "./catalog.ts";
import type { EventMetrics, Labels } from "./events.ts";
import { type FleetFigures, NODE_STATUSES } from "./index.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escapeLabel = (value: string) =>
  value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
};

const number = (n: number) => (Number.isNaN(n) ? "NaN" : n === Infinity ? "+Inf" : String(n));

export function renderPrometheus(fleet: FleetFigures, events: EventMetrics): string {
  const lines: string[] = [];
  const head = (key: MetricKey) => {
    const m = METRICS[key];
    lines.push(`# HELP ${m.prometheus} ${escapeHelp(m.help)}`, `# TYPE ${m.prometheus} ${m.kind}`);
    return m.prometheus;
  };
  const sample = (name: string, labels: Labels, value: number) =>
    lines.push(`${name}${labelText(labels)} ${number(value)}`);

  const classes = Object.entries(fleet.classes).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [key, pick] of [
    ["jobsPending", (c: FleetFigures["classes"][string]) => c.pending],
    ["jobsRunning", (c: FleetFigures["classes"][string]) => c.running],
    ["queueDepth", (c: FleetFigures["classes"][string]) => c.queueDepth],
    ["deadLetters", (c: FleetFigures["classes"][string]) => c.deadLetters],
  ] as const) {
    const name = head(key);
    for (const [resourceClass, figures] of classes) {
      const value = pick(figures);
      if (value !== undefined) sample(name, { resource_class: resourceClass }, value);
    }
  }
  const nodes = head("nodes");
  for (const status of NODE_STATUSES) sample(nodes, { status }, fleet.nodes[status]);
  const allocations = head("nodeAllocations");
  for (const { node, count } of fleet.allocations) sample(allocations, { node }, count);
  const polls = head("pollFailures");
  for (const { node, count } of fleet.pollFailures) sample(polls, { node }, count);

  for (const key of ["queueTime", "jobDuration"] as const) {
    const name = head(key);
    for (const h of events.histogram(key)) {
      BUCKETS[key].forEach((bound, i) => {
        sample(`${name}_bucket`, { ...h.labels, le: String(bound) }, h.buckets[i]!);
      });
      sample(`${name}_bucket`, { ...h.labels, le: "+Inf" }, h.count);
      sample(`${name}_sum`, h.labels, h.sum);
      sample(`${name}_count`, h.labels, h.count);
    }
  }
  for (const key of ["intakeErrors", "dispatchErrors"] as const) {
    const name = head(key);
    for (const c of events.counter(key)) sample(name, c.labels, c.value);
  }
  return `${lines.join("\n")}\n`;
}
