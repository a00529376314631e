/**
 * Gyre's figures on AWS, as CloudWatch Embedded Metric Format log lines written by the
 * `aws-embedded-metrics` library (namespace `Gyre`, every metric with the dimension `Env`, the
 * SST stage from the Settings link): the reconciler emits the fleet's figures every minute
 * (`emitFleetFigures`); every function emits the event figures its invocation recorded
 * (`withEventMetrics`: queue time at a claim, job duration at a finish, intake and dispatch
 * errors). Names are core/src/metrics/catalog.ts's `cloudwatch` names; infra/metrics.ts reads
 * them for the dashboard and the alarms.
 *
 * The library is loaded on first use: at load it starts detecting its environment, which
 * outside Lambda means probing the EC2 metadata address.
 */
import type { Gyre } from "@gyre/core/context";
import {
  dimensionName,
  type EventRecord,
  eventsOf,
  type FleetFigures,
  type Labels,
  METRICS,
  NODE_STATUSES,
} from "@gyre/core/metrics/index";
import { forwardToStatsd, type StatsdForwarder } from "@gyre/core/metrics/statsd";
import type { MetricsLogger } from "aws-embedded-metrics";
import { describeError, lambdaGyre } from "./lambda.ts";

export const NAMESPACE = "Gyre";

export type LoggerFactory = () => Promise<MetricsLogger>;

const libraryLogger: LoggerFactory = async () => (await import("aws-embedded-metrics")).createMetricsLogger();

/** What a stage is called in the metrics: the Settings link's `stage` (unknown without one). */
export const envOf = (gyre: Gyre) => gyre.resources.stage ?? "unknown";

type Dimensions = Record<string, string>;

const dimensionsOf = (labels: Labels): Dimensions =>
  Object.fromEntries(Object.entries(labels).map(([k, v]) => [dimensionName(k), v]));

/**
 * One EMF document: its dimension sets (each with `Env`) and its metrics' values. A metric put
 * several times carries all its values (a distribution: CloudWatch computes percentiles).
 */
async function emit(
  create: LoggerFactory,
  env: string,
  dimensionSets: Dimensions[],
  values: [name: string, unit: string, value: number][],
  timestamp?: number,
): Promise<void> {
  if (values.length === 0) return;
  const logger = await create();
  logger.setNamespace(NAMESPACE);
  logger.setDimensions(dimensionSets.map((d) => ({ Env: env, ...d })));
  if (timestamp !== undefined) logger.setTimestamp(timestamp);
  for (const [name, unit, value] of values) logger.putMetric(name, value, unit);
  await logger.flush();
}

/**
 * The fleet's figures: per resource class (JobsPending, JobsRunning, QueueDepth,
 * DeadLetterMessages by `Env` + `ResourceClass`), their totals by `Env`, with AllocationsPerNode
 * (one value per live node) and PollFailures (the nodes' running totals, summed: alarm on its
 * increase), and Nodes by `Env` + `Status`.
 */
export async function emitFleetFigures(
  figures: FleetFigures,
  env: string,
  create: LoggerFactory = libraryLogger,
): Promise<void> {
  const m = METRICS;
  const total = { pending: 0, running: 0, depth: 0, dead: 0 };
  for (const [resourceClass, c] of Object.entries(figures.classes)) {
    total.pending += c.pending;
    total.running += c.running;
    total.depth += c.queueDepth ?? 0;
    total.dead += c.deadLetters ?? 0;
    await emit(
      create,
      env,
      [{ ResourceClass: resourceClass }],
      [
        [m.jobsPending.cloudwatch, m.jobsPending.unit, c.pending],
        [m.jobsRunning.cloudwatch, m.jobsRunning.unit, c.running],
        ...(c.queueDepth === undefined
          ? []
          : [[m.queueDepth.cloudwatch, m.queueDepth.unit, c.queueDepth] as [string, string, number]]),
        ...(c.deadLetters === undefined
          ? []
          : [[m.deadLetters.cloudwatch, m.deadLetters.unit, c.deadLetters] as [string, string, number]]),
      ],
      figures.at,
    );
  }
  await emit(
    create,
    env,
    [{}],
    [
      [m.jobsPending.cloudwatch, m.jobsPending.unit, total.pending],
      [m.jobsRunning.cloudwatch, m.jobsRunning.unit, total.running],
      [m.queueDepth.cloudwatch, m.queueDepth.unit, total.depth],
      [m.deadLetters.cloudwatch, m.deadLetters.unit, total.dead],
      [m.pollFailures.cloudwatch, m.pollFailures.unit, figures.pollFailures.reduce((n, p) => n + p.count, 0)],
      ...figures.allocations.map((a): [string, string, number] => [
        m.nodeAllocations.cloudwatch,
        m.nodeAllocations.unit,
        a.count,
      ]),
    ],
    figures.at,
  );
  for (const status of NODE_STATUSES)
    await emit(
      create,
      env,
      [{ Status: status }],
      [[m.nodes.cloudwatch, m.nodes.unit, figures.nodes[status]]],
      figures.at,
    );
}

/**
 * Event records, one document per label set: each metric by `Env` alone and by `Env` with its
 * labels (QueueTime by ResourceClass, JobDuration by ResourceClass and Status, IntakeErrors by
 * Kind, DispatchErrors by Stage).
 */
export async function emitEvents(
  records: readonly EventRecord[],
  env: string,
  create: LoggerFactory = libraryLogger,
): Promise<void> {
  const groups = new Map<string, { labels: Labels; values: [string, string, number][] }>();
  for (const r of records) {
    const key = JSON.stringify(Object.entries(r.labels).sort());
    const group = groups.get(key) ?? { labels: r.labels, values: [] };
    group.values.push([METRICS[r.metric].cloudwatch, METRICS[r.metric].unit, r.value]);
    groups.set(key, group);
  }
  for (const { labels, values } of groups.values())
    await emit(create, env, [{}, dimensionsOf(labels)], values);
}

const forwarders = new WeakMap<Gyre, StatsdForwarder>();

/** This context's StatsD forwarder, when the settings name an endpoint (one socket per container). */
export function statsdOf(gyre: Gyre): StatsdForwarder | undefined {
  const settings = gyre.resources.statsd;
  if (!settings) return undefined;
  let forwarder = forwarders.get(gyre);
  if (!forwarder) {
    forwarder = forwardToStatsd({ ...settings, tags: { Env: envOf(gyre), ...settings.tags } });
    forwarders.set(gyre, forwarder);
  }
  return forwarder;
}

/**
 * Wraps a Lambda handler: what its invocation recorded in the process's event recorder is
 * emitted once it returns or throws (EMF, and StatsD when the settings name an endpoint). A
 * failure to emit is logged, never the invocation's.
 */
export function withEventMetrics<A extends unknown[], R>(
  handler: (...args: A) => Promise<R>,
  options: { gyre?: () => Gyre; create?: LoggerFactory; log?: (line: string) => void } = {},
): (...args: A) => Promise<R> {
  const gyreOf = options.gyre ?? lambdaGyre;
  return async (...args: A) => {
    const gyre = gyreOf();
    const events = eventsOf(gyre);
    events.keepRecords = true;
    try {
      return await handler(...args);
    } finally {
      const records = events.drain();
      await Promise.all([
        emitEvents(records, envOf(gyre), options.create),
        statsdOf(gyre)?.events(records),
      ]).catch((error) => (options.log ?? console.error)(`metrics: not emitted: ${describeError(error)}`));
    }
  };
}
