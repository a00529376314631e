/**
 * The alarms and the dashboard over Gyre's metrics (EMF from the functions, namespace `Gyre`,
 * dimension `Env` = the stage: packages/functions/src/metrics.ts) and the job queues' own SQS
 * metrics, as plain data: infra/metrics.ts turns them into CloudWatch resources, and
 * test/infra/metrics-plan.test.ts checks them offline. Names are generic (`N`): strings in the
 * tests, Pulumi outputs in infra.
 */
import { METRICS } from "../packages/core/src/metrics/catalog.ts";

export const NAMESPACE = "Gyre";

/** Thresholds an operator may change (then deploy again). */
export const ALARM_THRESHOLDS = {
  /** p95 of queue time (claim − queued) over 5 minutes, three periods in a row. */
  queueTimeP95Seconds: 300,
  /** A job queue's oldest message older than this: nothing has received it for that long. */
  oldestMessageSeconds: 1800,
  /** Poll failures reported across the fleet within one minute, in 3 of 5 minutes. */
  pollFailuresPerMinute: 0,
};

export interface QueueNames<N> {
  resourceClass: string;
  queue: N;
  deadLetter: N;
}

export interface MetricsPlanInput<N> {
  /** The stage: the `Env` dimension. */
  env: string;
  jobQueues: QueueNames<N>[];
  intakeDeadLetter: N;
}

interface MetricRef<N> {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string | N>;
}

export interface AlarmPlan<N> {
  /** The component name (unique in the app). */
  name: string;
  description: string;
  comparisonOperator: "GreaterThanThreshold" | "LessThanThreshold" | "GreaterThanOrEqualToThreshold";
  threshold: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: "notBreaching" | "breaching" | "missing";
  /** One metric and its statistic, or metric math (`queries`, one with returnData). */
  metric?: MetricRef<N> & {
    period: number;
    statistic?: "Maximum" | "Minimum" | "Sum";
    extendedStatistic?: string;
  };
  queries?: {
    id: string;
    expression?: string;
    label?: string;
    returnData?: boolean;
    metric?: MetricRef<N> & { period: number; stat: string };
  }[];
}

const gyre = <N>(env: string, metricName: string, dimensions: Record<string, string> = {}): MetricRef<N> => ({
  namespace: NAMESPACE,
  metricName,
  dimensions: { Env: env, ...dimensions },
});

const sqs = <N>(metricName: string, queue: N): MetricRef<N> => ({
  namespace: "AWS/SQS",
  metricName,
  dimensions: { QueueName: queue },
});

/** A component name from a resource class (`medium+` → `MediumPlus`). */
const pascal = (resourceClass: string) =>
  resourceClass
    .replace(/\+/g, "-plus")
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");

export function alarmPlan<N>(input: MetricsPlanInput<N>): AlarmPlan<N>[] {
  const { env } = input;
  const t = ALARM_THRESHOLDS;
  const deadLetters: [string, string, N][] = [
    ...input.jobQueues.map((q): [string, string, N] => [
      pascal(q.resourceClass),
      `the ${q.resourceClass} job queue`,
      q.deadLetter,
    ]),
    ["Intake", "the intake queue", input.intakeDeadLetter],
  ];
  return [
    {
      name: "AlarmQueueTimeP95",
      description: `Gyre ${env}: the p95 of jobs' queue time (claim less queued) is above ${t.queueTimeP95Seconds} s for 15 minutes: builders are short, or the scaler is not keeping up.`,
      comparisonOperator: "GreaterThanThreshold",
      threshold: t.queueTimeP95Seconds,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: "notBreaching",
      metric: { ...gyre<N>(env, METRICS.queueTime.cloudwatch), period: 300, extendedStatistic: "p95" },
    },
    ...deadLetters.map(
      ([name, what, queue]): AlarmPlan<N> => ({
        name: `AlarmDeadLetters${name}`,
        description: `Gyre ${env}: messages in the dead-letter queue of ${what}: inspect them (gyre doctor) and redrive or delete them.`,
        comparisonOperator: "GreaterThanThreshold",
        threshold: 0,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: "notBreaching",
        metric: { ...sqs("ApproximateNumberOfMessagesVisible", queue), period: 300, statistic: "Maximum" },
      }),
    ),
    {
      name: "AlarmPollFailures",
      description: `Gyre ${env}: builder nodes report failed queue receives or claims (circle.nomad.server_agent.poll_failure) in 3 of 5 minutes.`,
      comparisonOperator: "GreaterThanThreshold",
      threshold: t.pollFailuresPerMinute,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: "notBreaching",
      // The nodes' running totals, summed each minute by the reconciler: their increase.
      queries: [
        {
          id: "total",
          metric: { ...gyre<N>(env, METRICS.pollFailures.cloudwatch), period: 60, stat: "Maximum" },
        },
        { id: "failures", expression: "DIFF(total)", label: "Poll failures per minute", returnData: true },
      ],
    },
    {
      name: "AlarmNoReadyNodes",
      description: `Gyre ${env}: jobs are pending and no builder node is ready, for 5 minutes (a fleet scaled to zero with nothing to run does not alarm).`,
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      // The reconciler emits every minute: silence is a fault too.
      treatMissingData: "breaching",
      queries: [
        {
          id: "pending",
          metric: { ...gyre<N>(env, METRICS.jobsPending.cloudwatch), period: 60, stat: "Minimum" },
        },
        {
          id: "ready",
          metric: {
            ...gyre<N>(env, METRICS.nodes.cloudwatch, { Status: "ready" }),
            period: 60,
            stat: "Maximum",
          },
        },
        {
          id: "stranded",
          expression: "IF(pending > 0 AND ready < 1, 1, 0)",
          label: "Jobs pending with no ready node",
          returnData: true,
        },
      ],
    },
    ...input.jobQueues.map(
      (q): AlarmPlan<N> => ({
        name: `AlarmOldestMessage${pascal(q.resourceClass)}`,
        description: `Gyre ${env}: a message of the ${q.resourceClass} job queue has waited over ${t.oldestMessageSeconds} s: no builder of the class receives it.`,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.oldestMessageSeconds,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: "notBreaching",
        metric: { ...sqs("ApproximateAgeOfOldestMessage", q.queue), period: 300, statistic: "Maximum" },
      }),
    ),
  ];
}

type Widget = Record<string, unknown>;

/** The dashboard's body (CloudWatch's JSON), with queue names resolved. */
export function dashboardBody(input: MetricsPlanInput<string> & { region: string }): { widgets: Widget[] } {
  const { env, region } = input;
  const classes = input.jobQueues.map((q) => q.resourceClass);
  const m = METRICS;
  const perClass = (metricName: string) =>
    classes.map((c) => [NAMESPACE, metricName, "Env", env, "ResourceClass", c, { label: c }]);
  const widget = (title: string, metrics: unknown[][], extra: Widget = {}): Widget => ({
    type: "metric",
    width: 12,
    height: 6,
    properties: { title, region, view: "timeSeries", stat: "Maximum", period: 60, metrics, ...extra },
  });
  const widgets = [
    widget(
      "Jobs pending by resource class (circle.nomad.client_agent.jobs.pending)",
      perClass(m.jobsPending.cloudwatch),
    ),
    widget(
      "Jobs running by resource class (circle.nomad.client_agent.jobs.running)",
      perClass(m.jobsRunning.cloudwatch),
    ),
    widget(
      "Builder nodes by status",
      ["ready", "draining", "ineligible", "down"].map((s) => [
        NAMESPACE,
        m.nodes.cloudwatch,
        "Env",
        env,
        "Status",
        s,
        { label: s },
      ]),
    ),
    widget(
      "Queue time (s)",
      ["p50", "p95", "p99"].map((stat) => [
        NAMESPACE,
        m.queueTime.cloudwatch,
        "Env",
        env,
        { stat, label: stat },
      ]),
      { period: 300 },
    ),
    widget(
      "Job duration (s)",
      ["p50", "p95"].map((stat) => [NAMESPACE, m.jobDuration.cloudwatch, "Env", env, { stat, label: stat }]),
      { period: 300 },
    ),
    widget("Job queue depth", perClass(m.queueDepth.cloudwatch)),
    widget(
      "Oldest message per job queue (s)",
      input.jobQueues.map((q) => [
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        q.queue,
        { label: q.resourceClass },
      ]),
    ),
    widget("Allocations per node (busiest, average)", [
      [NAMESPACE, m.nodeAllocations.cloudwatch, "Env", env, { stat: "Maximum", label: "busiest node" }],
      [NAMESPACE, m.nodeAllocations.cloudwatch, "Env", env, { stat: "Average", label: "average" }],
    ]),
    widget("Poll failures (running total; alarm on its increase)", [
      [NAMESPACE, m.pollFailures.cloudwatch, "Env", env],
    ]),
    widget(
      "Intake and dispatch errors",
      [
        [NAMESPACE, m.intakeErrors.cloudwatch, "Env", env, { label: "intake errors" }],
        [NAMESPACE, m.dispatchErrors.cloudwatch, "Env", env, { label: "dispatch errors" }],
      ],
      { stat: "Sum" },
    ),
    widget("Dead letters", [
      ...input.jobQueues.map((q) => [
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        q.deadLetter,
        { label: q.resourceClass },
      ]),
      [
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        input.intakeDeadLetter,
        { label: "intake" },
      ],
    ]),
  ];
  return { widgets };
}
