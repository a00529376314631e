/**
 * CircleCI API v2 shapes (field names and values from the published OpenAPI document), built
 * from Gyre's domain types. Routes call these; no route builds a CircleCI shape itself.
 */
import type { Job } from "../job/index.ts";
import type { PipelineConfig } from "../pipeline/config.ts";
import type { Pipeline } from "../pipeline/model.ts";
import type { Collaboration } from "../project/index.ts";
import type { Schedule } from "../schedule/model.ts";
import type { Workflow } from "../workflow/index.ts";

const durationMs = (j: Job) =>
  j.startedAt && j.stoppedAt ? Date.parse(j.stoppedAt) - Date.parse(j.startedAt) : null;

/** `Workflow`. */
export function workflowJson(w: Workflow) {
  return {
    pipeline_id: w.pipelineId,
    id: w.id,
    name: w.name,
    project_slug: w.projectSlug,
    status: w.status,
    started_by: w.startedBy,
    pipeline_number: w.pipelineNumber,
    created_at: w.createdAt,
    stopped_at: w.stoppedAt ?? null,
    // The API's `tag` marks a setup workflow (`setup` is its only value); it is not the git tag,
    // which workflows written before this was fixed hold there and which is not shown.
    ...(w.tag === "setup" ? { tag: "setup" } : {}),
    ...(w.canceledBy ? { canceled_by: w.canceledBy } : {}),
  };
}

/** An item of `GET /workflow/{id}/job`. */
export function workflowJobJson(job: Job, idsByName: Map<string, string>) {
  return {
    dependencies: job.requires.map((r) => idsByName.get(r)).filter(Boolean),
    job_number: job.type === "approval" ? undefined : job.number,
    id: job.id,
    started_at: job.startedAt ?? null,
    name: job.name,
    project_slug: job.projectSlug,
    status: job.status,
    // The API knows `build` and `approval`: a no-op job is a build with nothing to run.
    type: job.type === "approval" ? "approval" : "build",
    stopped_at: job.stoppedAt ?? null,
    // Gyre's addition (the spec's item has no field for it): how many runs the job has, so a
    // workflow's graph can show a parallel job as such without reading each job.
    ...(job.plan ? { parallelism: job.plan.parallelism } : {}),
    ...(job.type === "approval" ? { approval_request_id: job.id } : {}),
    ...(job.approvedBy ? { approved_by: job.approvedBy } : {}),
    ...(job.canceledBy ? { canceled_by: job.canceledBy } : {}),
  };
}

/** `GET /project/{slug}/job/{number}`. */
export function jobDetailsJson(
  job: Job,
  project: { id: string; name: string; repoUrl: string },
  baseUrl: string,
  /** Why a queued job is not running yet (node/index.ts waitingReason), as a warning message. */
  waiting?: string,
  /** The builder nodes' names by id, for a caller who may see them (absent: named by id only). */
  nodeNames: ReadonlyMap<string, string | undefined> = new Map(),
) {
  return {
    web_url: `${baseUrl}/pipelines/${job.projectSlug}/${job.pipelineNumber}/workflows/${job.workflowId}/jobs/${job.number}`,
    project: { id: project.id, slug: job.projectSlug, name: project.name, external_url: project.repoUrl },
    // `index` and `status` are the spec's; where and when each run ran are Gyre's additions.
    parallel_runs: Object.entries(job.allocations).map(([index, a]) => ({
      index: Number(index),
      status: a.status,
      ...(a.nodeId ? { node: { id: a.nodeId, name: nodeNames.get(a.nodeId) ?? null } } : {}),
      started_at: a.startedAt ?? null,
      stopped_at: a.stoppedAt ?? null,
    })),
    started_at: job.startedAt ?? null,
    latest_workflow: { id: job.workflowId, name: job.workflowName },
    name: job.name,
    executor: { type: job.plan?.executor.type ?? "none", resource_class: job.plan?.resourceClass ?? "" },
    parallelism: job.plan?.parallelism ?? 1,
    status: job.status,
    number: job.number,
    pipeline: { id: job.pipelineId },
    duration: durationMs(job),
    created_at: job.createdAt,
    messages: [
      ...(job.messages ?? []).map((m) => ({
        type: m.type,
        message: m.message,
        ...(m.reason ? { reason: m.reason } : {}),
      })),
      ...(waiting ? [{ type: "warning", message: waiting, reason: "waiting_for_capacity" }] : []),
    ],
    contexts: job.contexts.map((name) => ({ name })),
    organization: { name: job.projectSlug.split("/")[1] },
    queued_at: job.queuedAt ?? job.createdAt,
    stopped_at: job.stoppedAt ?? null,
  };
}

/** `Pipeline`. */
export function pipelineJson(p: Pipeline) {
  return {
    id: p.id,
    errors: p.errors,
    project_slug: p.projectSlug,
    updated_at: p.updatedAt,
    number: p.number,
    ...(p.parameters ? { trigger_parameters: p.parameters } : {}),
    state: p.state,
    created_at: p.createdAt,
    trigger: {
      type: p.trigger.type,
      received_at: p.trigger.receivedAt,
      actor: { login: p.trigger.actor, avatar_url: null },
    },
    vcs: {
      provider_name: p.vcs.providerName,
      origin_repository_url: p.vcs.repoUrl,
      target_repository_url: p.vcs.repoUrl,
      revision: p.vcs.revision,
      ...(p.vcs.branch !== undefined ? { branch: p.vcs.branch } : {}),
      ...(p.vcs.tag !== undefined ? { tag: p.vcs.tag } : {}),
      ...(p.vcs.commit ? { commit: p.vcs.commit } : {}),
    },
  };
}

/** `PipelineCreation`: the answer to a trigger. */
export const pipelineCreationJson = (p: Pick<Pipeline, "id" | "state" | "number" | "createdAt">) => ({
  id: p.id,
  state: p.state,
  number: p.number,
  created_at: p.createdAt,
});

/** An item of `GET /me/collaborations` (`Collaboration`). */
export const collaborationJson = (c: Collaboration) => ({
  id: c.organization.id,
  "vcs-type": c.organization.vcsType,
  name: c.organization.name,
  avatar_url: c.avatarUrl,
  slug: c.organization.slug,
});

/** `GET /pipeline/{id}/config` (`PipelineConfig`): the setup fields only for a setup pipeline. */
export const pipelineConfigJson = (c: PipelineConfig) => ({
  source: c.source,
  compiled: c.compiled,
  ...(c.setup ? { "setup-config": c.setup.source, "compiled-setup-config": c.setup.compiled } : {}),
});

/** `Schedule`. */
export const scheduleJson = (s: Schedule) => ({
  id: s.id,
  name: s.name,
  description: s.description,
  "project-slug": s.projectSlug,
  timetable: s.timetable,
  parameters: s.parameters,
  "attribution-actor": s.attributionActor,
  actor: s.actor,
  "created-at": s.createdAt,
  "updated-at": s.updatedAt,
});

// ---------------------------------------------------------------------------------------------
// Insights (core/src/insights): field names and nesting as the API document's insights
// operations answer them. Gyre spends no credits: every credit figure is 0.

import {
  type DurationStats,
  type FlakyTest,
  type IntervalMetrics,
  type JobRun,
  jobDurationSecs,
  type MetricsWithTrends,
  type NamedMetrics,
  type OrgSummary,
  type ProjectSummary,
  type QueueStats,
  type TestMetric,
  type TestMetrics,
  type WorkflowRun,
  workflowDurationSecs,
} from "../insights/index.ts";

const isoOf = (ms: number) => new Date(ms).toISOString();

/** `duration_metrics` of a window's metrics (with mean and standard deviation). */
const insightsDurationJson = (d: DurationStats) => ({
  min: d.min,
  mean: d.mean,
  median: d.median,
  p95: d.p95,
  max: d.max,
  standard_deviation: d.standardDeviation,
});

/**
 * `queue_metrics`, Gyre's addition beside `duration_metrics` (the document has no queue time):
 * the median and p95 of how long the runs waited for a builder, in seconds; null when no run
 * has a queue time (insights/metrics.ts).
 */
const insightsQueueJson = (q: QueueStats) => ({ median: q.median, p95: q.p95 });

/** An item of `GET /insights/{project-slug}/workflows` (getProjectWorkflowMetrics). */
export const insightsWorkflowMetricsJson = (m: NamedMetrics) => ({
  name: m.name,
  window_start: isoOf(m.window.start),
  window_end: isoOf(m.window.end),
  metrics: {
    total_runs: m.metrics.totalRuns,
    successful_runs: m.metrics.successfulRuns,
    mttr: m.metrics.mttr,
    total_credits_used: m.metrics.totalCreditsUsed,
    failed_runs: m.metrics.failedRuns,
    success_rate: m.metrics.successRate,
    duration_metrics: insightsDurationJson(m.metrics.duration),
    queue_metrics: insightsQueueJson(m.metrics.queue),
    total_recoveries: m.metrics.totalRecoveries,
    throughput: m.metrics.throughput,
  },
});

/** An item of `GET /insights/{project-slug}/workflows/{workflow-name}/jobs`. */
export const insightsJobMetricsJson = (m: NamedMetrics) => ({
  name: m.name,
  window_start: isoOf(m.window.start),
  window_end: isoOf(m.window.end),
  metrics: {
    success_rate: m.metrics.successRate,
    total_runs: m.metrics.totalRuns,
    failed_runs: m.metrics.failedRuns,
    successful_runs: m.metrics.successfulRuns,
    throughput: m.metrics.throughput,
    total_credits_used: m.metrics.totalCreditsUsed,
    duration_metrics: insightsDurationJson(m.metrics.duration),
    queue_metrics: insightsQueueJson(m.metrics.queue),
  },
});

/** An item of `GET /insights/{project-slug}/workflows/{workflow-name}` (a tag's run has branch ""). */
export const insightsWorkflowRunJson = (r: WorkflowRun) => ({
  id: r.id,
  branch: r.branch ?? "",
  duration: workflowDurationSecs(r),
  created_at: r.createdAt,
  stopped_at: r.stoppedAt,
  credits_used: r.creditsUsed,
  status: r.status,
});

/** An item of `GET /insights/{project-slug}/workflows/{workflow-name}/jobs/{job-name}`. */
export const insightsJobRunJson = (r: JobRun) => ({
  id: r.id,
  started_at: r.startedAt,
  stopped_at: r.stoppedAt,
  status: r.status,
  duration: jobDurationSecs(r),
  credits_used: r.creditsUsed,
});

/** An item of the time series (`/insights/time-series/...`): one name, one day or hour. */
export const insightsIntervalJson = (i: IntervalMetrics) => ({
  name: i.name,
  min_started_at: isoOf(i.minStartedAt),
  max_ended_at: isoOf(i.maxEndedAt),
  timestamp: isoOf(i.timestamp),
  metrics: {
    total_runs: i.metrics.totalRuns,
    failed_runs: i.metrics.failedRuns,
    successful_runs: i.metrics.successfulRuns,
    throughput: i.metrics.throughput,
    median_credits_used: 0,
    total_credits_used: i.metrics.totalCreditsUsed,
    duration_metrics: {
      min: i.metrics.duration.min,
      median: i.metrics.duration.median,
      max: i.metrics.duration.max,
      p95: i.metrics.duration.p95,
      total: i.metrics.duration.total,
    },
    queue_metrics: insightsQueueJson(i.metrics.queue),
  },
});

/** `GET /insights/{project-slug}/workflows/{workflow-name}/summary` (getWorkflowSummary). */
export const insightsWorkflowSummaryJson = (
  s: MetricsWithTrends & { window: { start: number; end: number }; workflowNames: string[] },
) => ({
  metrics: {
    total_runs: s.metrics.totalRuns,
    successful_runs: s.metrics.successfulRuns,
    mttr: s.metrics.mttr,
    total_credits_used: s.metrics.totalCreditsUsed,
    failed_runs: s.metrics.failedRuns,
    success_rate: s.metrics.successRate,
    window_start: isoOf(s.window.start),
    duration_metrics: insightsDurationJson(s.metrics.duration),
    queue_metrics: insightsQueueJson(s.metrics.queue),
    window_end: isoOf(s.window.end),
    throughput: s.metrics.throughput,
  },
  trends: {
    total_runs: s.trends.totalRuns,
    failed_runs: s.trends.failedRuns,
    success_rate: s.trends.successRate,
    p95_duration_secs: s.trends.p95Duration,
    median_duration_secs: s.trends.medianDuration,
    total_credits_used: s.trends.totalCreditsUsed,
    mttr: s.trends.mttr,
    throughput: s.trends.throughput,
  },
  workflow_names: s.workflowNames,
});

/** Project- and org-level metrics and trends (runs, duration, credits, success rate, throughput). */
const insightsTotalsJson = (s: MetricsWithTrends) => ({
  metrics: {
    total_runs: s.metrics.totalRuns,
    total_duration_secs: s.metrics.totalDurationSecs,
    total_credits_used: s.metrics.totalCreditsUsed,
    success_rate: s.metrics.successRate,
    throughput: s.metrics.throughput,
  },
  trends: {
    total_runs: s.trends.totalRuns,
    total_duration_secs: s.trends.totalDurationSecs,
    total_credits_used: s.trends.totalCreditsUsed,
    success_rate: s.trends.successRate,
    throughput: s.trends.throughput,
  },
});

/** A workflow's or a workflow's branch's metrics and trends on the project summary page. */
const insightsWorkflowTotalsJson = (s: MetricsWithTrends) => ({
  metrics: {
    total_credits_used: s.metrics.totalCreditsUsed,
    p95_duration_secs: s.metrics.duration.p95 ?? 0,
    total_runs: s.metrics.totalRuns,
    success_rate: s.metrics.successRate,
  },
  trends: {
    total_credits_used: s.trends.totalCreditsUsed,
    p95_duration_secs: s.trends.p95Duration,
    total_runs: s.trends.totalRuns,
    success_rate: s.trends.successRate,
  },
});

/** `GET /insights/pages/{project-slug}/summary` (getProjectWorkflowsPageData). */
export const insightsProjectSummaryJson = (
  project: { id: string; organizationId: string },
  s: ProjectSummary,
) => ({
  org_id: project.organizationId,
  project_id: project.id,
  project_data: insightsTotalsJson(s.project),
  project_workflow_data: s.workflows.map((w) => ({
    workflow_name: w.name,
    ...insightsWorkflowTotalsJson(w),
  })),
  project_workflow_branch_data: s.branches.map((b) => ({
    workflow_name: b.name,
    branch: b.branch,
    ...insightsWorkflowTotalsJson(b),
  })),
  all_branches: s.allBranches,
  all_workflows: s.allWorkflows,
});

/** `GET /insights/{org-slug}/summary` (getOrgSummaryData). */
export const insightsOrgSummaryJson = (s: OrgSummary) => ({
  org_data: insightsTotalsJson(s.org),
  org_project_data: s.projects.map((p) => ({
    project_name: p.name,
    metrics: {
      total_credits_used: p.metrics.totalCreditsUsed,
      total_duration_secs: p.metrics.totalDurationSecs,
      total_runs: p.metrics.totalRuns,
      success_rate: p.metrics.successRate,
    },
    trends: {
      total_credits_used: p.trends.totalCreditsUsed,
      total_duration_secs: p.trends.totalDurationSecs,
      total_runs: p.trends.totalRuns,
      success_rate: p.trends.successRate,
    },
  })),
  all_projects: s.allProjects,
});

/** `GET /insights/{project-slug}/branches` (getAllInsightsBranches). */
export const insightsBranchesJson = (
  project: { id: string; organizationId: string },
  branches: string[],
) => ({
  org_id: project.organizationId,
  project_id: project.id,
  branches,
});

/**
 * `GET /insights/{project-slug}/flaky-tests` (getFlakyTests). The API document writes its
 * fields in kebab-case (`flaky-tests`, `test-name`); CircleCI answers them in snake_case, as the
 * rest of its API (CircleCI-Public/mcp-server-circleci#23, whose client reads `flaky_tests`,
 * `test_name`, `job_number`, `total_flaky_tests`). Both are given, so clients of either work.
 */
export const insightsFlakyTestsJson = (tests: FlakyTest[]) => {
  const items = tests.map((t) => ({
    "time-wasted": t.timeWastedSecs,
    "workflow-created-at": t.latest.workflowCreatedAt,
    "workflow-id": t.latest.workflowId,
    classname: t.classname,
    "pipeline-number": t.latest.pipelineNumber,
    "workflow-name": t.latest.workflowName,
    "test-name": t.testName,
    "job-name": t.jobName,
    "job-number": t.latest.jobNumber,
    "times-flaked": t.timesFlaked,
    source: t.source,
    file: t.file,
  }));
  const snake = (item: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(item).map(([k, v]) => [k.replaceAll("-", "_"), v]));
  return {
    "flaky-tests": items,
    "total-flaky-tests": items.length,
    flaky_tests: items.map(snake),
    total_flaky_tests: items.length,
  };
};

const insightsTestJson = (t: TestMetric) => ({
  p95_duration: t.p95Duration,
  total_runs: t.totalRuns,
  classname: t.classname,
  failed_runs: t.failedRuns,
  flaky: t.flaky,
  source: t.source,
  file: t.file,
  job_name: t.jobName,
  test_name: t.testName,
});

/** `GET /insights/{project-slug}/workflows/{workflow-name}/test-metrics`. */
export const insightsTestMetricsJson = (m: TestMetrics) => ({
  average_test_count: m.averageTestCount,
  most_failed_tests: m.mostFailed.map(insightsTestJson),
  most_failed_tests_extra: m.mostFailedExtra,
  slowest_tests: m.slowest.map(insightsTestJson),
  slowest_tests_extra: m.slowestExtra,
  total_test_runs: m.totalTestRuns,
  test_runs: m.testRuns.map((r) => ({
    pipeline_number: r.pipelineNumber,
    workflow_id: r.workflowId,
    success_rate: r.successRate,
    // Gyre's JUnit reader counts an <error> as a failure (test-result/junit.ts): `error` is 0.
    test_counts: {
      error: 0,
      failure: r.counts.failure,
      skipped: r.counts.skipped,
      success: r.counts.success,
      total: r.counts.success + r.counts.failure + r.counts.skipped,
    },
  })),
});
