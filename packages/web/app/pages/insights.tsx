/**
 * A project's insights (CircleCI API v2 Insights): for the project or one workflow, on one
 * branch or all, in a reporting window: the summary metrics (runs, success rate, throughput,
 * durations, with their trend against the window before, and the median queue time), runs,
 * durations and queue times over time as charts (each with its numbers in words and as a
 * table), then the workflows' metrics, or the chosen workflow's runs, jobs and tests; and the
 * project's flaky tests. The choices live in the URL (`?workflow=&branch=&window=`), so a view
 * can be linked.
 */
import { useQuery } from "@tanstack/react-query";
import { type ReactNode, useId, useMemo } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { api, query } from "../api.ts";
import { Crumbs, Failure, useTitle } from "../layout.tsx";
import { insightsHref, projectHref, projectSettingsHref, slugOf } from "../links.ts";
import {
  DAY_MS,
  DEFAULT_WINDOW,
  type ProjectSummary,
  paths,
  percent,
  perDay,
  type Scope,
  seconds,
  trend,
  WINDOWS,
  type WorkflowSummary,
  windowOf,
} from "./insights/data.ts";
import { FlakyTable, JobsTable, RunsTable, TestsTables, WorkflowsTable } from "./insights/tables.tsx";
import { TrendCharts } from "./insights/trends.tsx";
import "./insights/insights.css";

export default function InsightsPage() {
  const params = useParams<{ vcs: string; org: string; repo: string }>();
  const slug = slugOf(params)!;
  useTitle(`${slug} insights`);
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const workflow = search.get("workflow") || undefined;
  const branch = search.get("branch") || undefined;
  const win = windowOf(search.get("window"));
  const ids = { workflow: useId(), branch: useId(), window: useId() };

  // The window ends now, fixed when it is chosen (to the minute), so every part asks the same.
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new window (or page) is a new now
  const end = useMemo(() => Math.floor(Date.now() / 60_000) * 60_000, [win.id, slug]);
  const scope: Scope = useMemo(
    () => ({ slug, workflow, branch, window: win.id, start: end - win.days * DAY_MS }),
    [slug, workflow, branch, win, end],
  );
  const set = (changes: { workflow?: string; branch?: string; window?: string }) => {
    const next = { workflow, branch, window: win.id as string, ...changes };
    navigate(
      `${insightsHref(slug)}${query({
        workflow: next.workflow,
        branch: next.branch,
        window: next.window === DEFAULT_WINDOW ? undefined : next.window,
      })}`,
      { replace: true },
    );
  };

  // The project's summary: its metrics, and the workflows and branches that ran in the window.
  const summaryPath = paths.projectSummary({ ...scope, branch: undefined });
  const everything = useQuery({
    queryKey: ["insights", "project-summary", summaryPath],
    queryFn: () => api.get<ProjectSummary>(summaryPath),
  });
  const workflows = [
    ...new Set([...(everything.data?.all_workflows ?? []), ...(workflow ? [workflow] : [])]),
  ];
  const branches = [...new Set([...(everything.data?.all_branches ?? []), ...(branch ? [branch] : [])])];

  return (
    <section className="insights">
      <Crumbs
        items={[
          { label: "Pipelines", href: "/" },
          { label: slug, href: projectHref(slug) },
          { label: "Insights" },
        ]}
      />
      <h1>Insights: {slug}</h1>
      <p className="links">
        <Link href={projectHref(slug)}>Pipelines</Link> ·{" "}
        <Link href={projectSettingsHref(slug)}>Project settings</Link>
      </p>
      <form className="filters" aria-label="Insights filters" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={ids.workflow}>Workflow</label>
        <select
          id={ids.workflow}
          value={workflow ?? ""}
          onChange={(e) => set({ workflow: e.target.value || undefined })}
        >
          <option value="">All workflows</option>
          {workflows.map((w) => (
            <option key={w} value={w}>
              {w}
            </option>
          ))}
        </select>
        <label htmlFor={ids.branch}>Branch</label>
        <select
          id={ids.branch}
          value={branch ?? ""}
          onChange={(e) => set({ branch: e.target.value || undefined })}
        >
          <option value="">All branches</option>
          {branches.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
        <label htmlFor={ids.window}>Time window</label>
        <select id={ids.window} value={win.id} onChange={(e) => set({ window: e.target.value })}>
          {WINDOWS.map((w) => (
            <option key={w.id} value={w.id}>
              {w.label}
            </option>
          ))}
        </select>
      </form>
      {everything.isError ? (
        <Failure error={everything.error} />
      ) : (
        <>
          {workflow ? <WorkflowSummaryPanel scope={scope} /> : <ProjectSummaryPanel scope={scope} />}
          <section className="insights-panel" aria-labelledby="insights-trends">
            <h2 id="insights-trends">Over time</h2>
            <TrendCharts scope={scope} end={end} />
          </section>
          {workflow ? (
            <>
              <RunsTable scope={scope} />
              <JobsTable scope={scope} />
              <TestsTables scope={scope} />
            </>
          ) : (
            <WorkflowsTable scope={scope} choose={(name) => set({ workflow: name })} />
          )}
          <FlakyTable scope={scope} />
        </>
      )}
    </section>
  );
}

function Metric({
  label,
  value,
  change,
  help,
}: {
  label: string;
  value: string;
  change?: string;
  help?: string;
}) {
  return (
    <div className="metric">
      <dt>{label}</dt>
      <dd>
        <span className="value">{value}</span>
        {change && (
          <span className="trend">
            {" "}
            {change === "new" ? "(nothing before)" : `${change} vs the window before`}
          </span>
        )}
        {help && <span className="hint metric-help">{help}</span>}
      </dd>
    </div>
  );
}

function SummaryPanel({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="insights-panel" aria-labelledby="insights-summary">
      <h2 id="insights-summary">{title}</h2>
      {children}
    </section>
  );
}

function ProjectSummaryPanel({ scope }: { scope: Scope }) {
  const path = paths.projectSummary(scope);
  const summary = useQuery({
    queryKey: ["insights", "project-summary", path],
    queryFn: () => api.get<ProjectSummary>(path),
  });
  const label = windowOf(scope.window).label.toLowerCase();
  const d = summary.data?.project_data;
  return (
    <SummaryPanel title="Summary">
      {summary.isError && <Failure error={summary.error} />}
      {summary.isPending && <p aria-busy="true">Loading the summary…</p>}
      {d && (
        <>
          <p className="hint">
            Every workflow{scope.branch ? ` on ${scope.branch}` : ", every branch"}, {label}.
          </p>
          <dl className="metrics" aria-label="Project metrics">
            <Metric
              label="Total runs"
              value={String(d.metrics.total_runs)}
              change={trend(d.trends.total_runs)}
            />
            <Metric
              label="Success rate"
              value={percent(d.metrics.success_rate)}
              change={trend(d.trends.success_rate)}
            />
            <Metric
              label="Throughput"
              value={perDay(d.metrics.throughput)}
              change={trend(d.trends.throughput)}
            />
            <Metric
              label="Total build time"
              value={seconds(d.metrics.total_duration_secs)}
              change={trend(d.trends.total_duration_secs)}
            />
          </dl>
          <p className="hint">
            Each workflow's median and 95th percentile durations and median queue time are in the table of
            workflows below.
          </p>
        </>
      )}
    </SummaryPanel>
  );
}

function WorkflowSummaryPanel({ scope }: { scope: Scope }) {
  const path = paths.workflowSummary(scope);
  const summary = useQuery({
    queryKey: ["insights", "workflow-summary", path],
    queryFn: () => api.get<WorkflowSummary>(path),
  });
  const label = windowOf(scope.window).label.toLowerCase();
  const m = summary.data?.metrics;
  const t = summary.data?.trends;
  return (
    <SummaryPanel title={`Summary of ${scope.workflow}`}>
      {summary.isError && <Failure error={summary.error} />}
      {summary.isPending && <p aria-busy="true">Loading the summary…</p>}
      {m && t && (
        <>
          <p className="hint">
            {scope.branch ? `On ${scope.branch}` : "Every branch"}, {label}.
          </p>
          <dl className="metrics" aria-label={`Metrics of ${scope.workflow}`}>
            <Metric label="Total runs" value={String(m.total_runs)} change={trend(t.total_runs)} />
            <Metric label="Success rate" value={percent(m.success_rate)} change={trend(t.success_rate)} />
            <Metric
              label="Median duration"
              value={seconds(m.duration_metrics.median)}
              change={trend(t.median_duration_secs)}
            />
            <Metric label="95th percentile duration" value={seconds(m.duration_metrics.p95)} />
            <Metric
              label="Median queue time"
              value={seconds(m.queue_metrics?.median)}
              help={
                (m.queue_metrics?.median ?? null) === null
                  ? "no run has a queue time"
                  : "while at least one of its jobs waited for a builder"
              }
            />
            <Metric label="Throughput" value={perDay(m.throughput)} change={trend(t.throughput)} />
            <Metric
              label="Mean time to recovery"
              value={seconds(m.mttr)}
              help={m.mttr === null ? "no failure was followed by a success" : undefined}
            />
          </dl>
        </>
      )}
    </SummaryPanel>
  );
}
