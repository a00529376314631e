/**
 * Every figure Gyre publishes, named once: its Prometheus name (`GET /metrics` on the local
 * runtime), its CloudWatch name (EMF, namespace `Gyre`), the reference's name where CircleCI
 * Server has one, its kind, its labels and its unit. docs/operations.md lists them side by side.
 */

export type MetricKind = "gauge" | "counter" | "histogram";

export interface MetricDefinition {
  /** Prometheus name (counters end in `_total`, durations in `_seconds`). */
  prometheus: string;
  /** CloudWatch metric name in the `Gyre` namespace. */
  cloudwatch: string;
  /** The CircleCI Server (Nomad) metric with the same meaning, if there is one. */
  reference?: string;
  kind: MetricKind;
  help: string;
  /** Label names (Prometheus); CloudWatch dimensions are their PascalCase forms. */
  labels: readonly string[];
  unit: "Count" | "Seconds";
}

export const METRICS = {
  jobsPending: {
    prometheus: "circle_nomad_client_agent_jobs_pending",
    cloudwatch: "JobsPending",
    reference: "circle.nomad.client_agent.jobs.pending",
    kind: "gauge",
    help: "Allocations queued for a builder, by resource class.",
    labels: ["resource_class"],
    unit: "Count",
  },
  jobsRunning: {
    prometheus: "circle_nomad_client_agent_jobs_running",
    cloudwatch: "JobsRunning",
    reference: "circle.nomad.client_agent.jobs.running",
    kind: "gauge",
    help: "Allocations running on a builder, by resource class.",
    labels: ["resource_class"],
    unit: "Count",
  },
  nodes: {
    prometheus: "gyre_nodes",
    cloudwatch: "Nodes",
    kind: "gauge",
    help: "Builder nodes by status: ready, draining, ineligible (marked so, not draining) or down.",
    labels: ["status"],
    unit: "Count",
  },
  nodeAllocations: {
    prometheus: "gyre_node_allocations",
    cloudwatch: "AllocationsPerNode",
    kind: "gauge",
    help: "Allocations each live builder node said it runs at its last heartbeat.",
    labels: ["node"],
    unit: "Count",
  },
  queueDepth: {
    prometheus: "gyre_job_queue_messages",
    cloudwatch: "QueueDepth",
    kind: "gauge",
    help: "Messages waiting in a resource class's job queue (SQS ApproximateNumberOfMessages).",
    labels: ["resource_class"],
    unit: "Count",
  },
  deadLetters: {
    prometheus: "gyre_job_queue_dead_letter_messages",
    cloudwatch: "DeadLetterMessages",
    kind: "gauge",
    help: "Messages in a job queue's dead-letter queue (none locally: the local queues have no DLQ).",
    labels: ["resource_class"],
    unit: "Count",
  },
  pollFailures: {
    prometheus: "circle_nomad_server_agent_poll_failure_total",
    cloudwatch: "PollFailures",
    reference: "circle.nomad.server_agent.poll_failure",
    kind: "counter",
    help: "Failed queue receives and claims a builder node reported since it registered.",
    labels: ["node"],
    unit: "Count",
  },
  queueTime: {
    prometheus: "gyre_queue_time_seconds",
    cloudwatch: "QueueTime",
    kind: "histogram",
    help: "Claim time less queued time of each claimed allocation, by resource class.",
    labels: ["resource_class"],
    unit: "Seconds",
  },
  jobDuration: {
    prometheus: "gyre_job_duration_seconds",
    cloudwatch: "JobDuration",
    kind: "histogram",
    help: "Claim to finish of each finished allocation, by resource class and outcome.",
    labels: ["resource_class", "status"],
    unit: "Seconds",
  },
  intakeErrors: {
    prometheus: "gyre_intake_errors_total",
    cloudwatch: "IntakeErrors",
    kind: "counter",
    help: "Intake messages that failed (redelivered) or were dropped (they can never succeed).",
    labels: ["kind"],
    unit: "Count",
  },
  dispatchErrors: {
    prometheus: "gyre_dispatch_errors_total",
    cloudwatch: "DispatchErrors",
    kind: "counter",
    help: "Dispatch steps that failed: starting an execution, finalizing one, a reconciler repair.",
    labels: ["stage"],
    unit: "Count",
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;

/** Histogram buckets (seconds): queue waits are short on a healthy fleet, runs are longer. */
export const BUCKETS: Record<"queueTime" | "jobDuration", readonly number[]> = {
  queueTime: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  jobDuration: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 18_000],
};

/** A CloudWatch dimension's name for a label: `resource_class` → `ResourceClass`. */
export const dimensionName = (label: string) =>
  label
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
