/**
 * The insights page's tables: the workflows' metrics (median queue time beside the durations),
 * one workflow's runs (each linked to its workflow page), its jobs' metrics, its slowest and most failed tests, and the project's flaky
 * tests. Each reads its own operation of the insights API.
 */
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "wouter";
import { api } from "../../api.ts";
import { ago } from "../../format.ts";
import { Failure } from "../../layout.tsx";
import { jobHref, workflowHref } from "../../links.ts";
import { StatusChip } from "../../status.tsx";
import { type Column, DataTable } from "../../table.tsx";
import type { Page, Workflow } from "../../types.ts";
import {
  type FlakyTest,
  type NamedMetrics,
  paths,
  percent,
  perDay,
  type Scope,
  seconds,
  type TestMetric,
  type TestMetrics,
  type WorkflowRun,
} from "./data.ts";

function Panel(props: { id: string; title: string; children: ReactNode }) {
  return (
    <section className="insights-panel" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** Every workflow's metrics in the window: choosing one opens its own insights. */
export function WorkflowsTable({ scope, choose }: { scope: Scope; choose: (name: string) => void }) {
  const workflows = useQuery({
    queryKey: ["insights", "workflows", paths.workflows(scope)],
    queryFn: () => api.get<Page<NamedMetrics>>(paths.workflows(scope)),
  });
  const items = workflows.data?.items ?? [];
  return (
    <Panel id="insights-workflows" title="Workflows">
      {workflows.isError && <Failure error={workflows.error} />}
      {workflows.isPending && <p aria-busy="true">Loading workflows…</p>}
      {workflows.data && (
        <DataTable
          label="Workflow metrics"
          scroll
          items={items}
          rowKey={(w) => w.name}
          columns={[
            {
              header: "Workflow",
              rowHeader: true,
              cell: (w) => (
                <button type="button" className="link" onClick={() => choose(w.name)}>
                  {w.name}
                </button>
              ),
            },
            { header: "Runs", cell: (w) => w.metrics.total_runs },
            { header: "Success rate", cell: (w) => percent(w.metrics.success_rate) },
            { header: "Median duration", cell: (w) => seconds(w.metrics.duration_metrics.median) },
            { header: "95th percentile", cell: (w) => seconds(w.metrics.duration_metrics.p95) },
            { header: "Median queue time", cell: (w) => seconds(w.metrics.queue_metrics?.median) },
            { header: "Throughput", cell: (w) => perDay(w.metrics.throughput) },
            { header: "Mean time to recovery", cell: (w) => seconds(w.metrics.mttr) },
          ]}
          empty={<p>No workflow ran in this window.</p>}
        />
      )}
    </Panel>
  );
}

/** A run's link to its workflow page, which needs the pipeline's number (read once per run). */
function RunLink({ run }: { run: WorkflowRun }) {
  const workflow = useQuery({
    queryKey: ["workflow", run.id],
    queryFn: () => api.get<Workflow>(`/api/v2/workflow/${encodeURIComponent(run.id)}`),
    staleTime: 60_000,
  });
  const w = workflow.data;
  const text = new Date(run.created_at).toLocaleString();
  if (!w) return <span>{text}</span>;
  return (
    <Link href={workflowHref(w.project_slug, w.pipeline_number, w.id)}>
      {text}
      <span className="visually-hidden"> (pipeline {w.pipeline_number})</span>
    </Link>
  );
}

const RUN_COLUMNS: Column<WorkflowRun>[] = [
  { header: "Started", cell: (r) => <RunLink run={r} /> },
  { header: "Status", cell: (r) => <StatusChip status={r.status} small /> },
  {
    header: "Branch",
    cell: (r) =>
      r.branch ? <span className="branch">{r.branch}</span> : <span className="hint">a tag</span>,
  },
  { header: "Duration", cell: (r) => seconds(r.duration) },
  { header: "Ended", cell: (r) => <time dateTime={r.stopped_at}>{ago(r.stopped_at)}</time> },
];

export function RunsTable({ scope }: { scope: Scope }) {
  const runs = useInfiniteQuery({
    queryKey: ["insights", "runs", paths.runs(scope)],
    queryFn: ({ pageParam }) => api.get<Page<WorkflowRun>>(paths.runs(scope, pageParam || undefined)),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
  });
  const items = runs.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Panel id="insights-runs" title={`Runs of ${scope.workflow}`}>
      {runs.isError && <Failure error={runs.error} />}
      {runs.isPending && <p aria-busy="true">Loading runs…</p>}
      {runs.data && (
        <DataTable
          label={`Runs of ${scope.workflow}`}
          scroll
          items={items}
          rowKey={(r) => r.id}
          columns={RUN_COLUMNS}
          empty={<p>No runs in this window.</p>}
        />
      )}
      {runs.hasNextPage && (
        <button type="button" onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>
          More runs
        </button>
      )}
    </Panel>
  );
}

const JOB_COLUMNS: Column<NamedMetrics>[] = [
  { header: "Job", rowHeader: true, cell: (j) => j.name },
  { header: "Runs", cell: (j) => j.metrics.total_runs },
  { header: "Failed", cell: (j) => j.metrics.failed_runs },
  { header: "Success rate", cell: (j) => percent(j.metrics.success_rate) },
  { header: "Median duration", cell: (j) => seconds(j.metrics.duration_metrics.median) },
  { header: "95th percentile", cell: (j) => seconds(j.metrics.duration_metrics.p95) },
  { header: "Median queue time", cell: (j) => seconds(j.metrics.queue_metrics?.median) },
  { header: "Throughput", cell: (j) => perDay(j.metrics.throughput) },
];

export function JobsTable({ scope }: { scope: Scope }) {
  const jobs = useInfiniteQuery({
    queryKey: ["insights", "jobs", paths.jobs(scope)],
    queryFn: ({ pageParam }) =>
      api.get<Page<NamedMetrics>>(
        `${paths.jobs(scope)}${pageParam ? `&page-token=${encodeURIComponent(pageParam)}` : ""}`,
      ),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
  });
  const items = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Panel id="insights-jobs" title={`Jobs of ${scope.workflow}`}>
      {jobs.isError && <Failure error={jobs.error} />}
      {jobs.isPending && <p aria-busy="true">Loading jobs…</p>}
      {jobs.data && (
        <DataTable
          label="Job metrics"
          scroll
          items={items}
          rowKey={(j) => j.name}
          columns={JOB_COLUMNS}
          empty={<p>No job ran in this window.</p>}
        />
      )}
      {jobs.hasNextPage && (
        <button type="button" onClick={() => void jobs.fetchNextPage()} disabled={jobs.isFetchingNextPage}>
          More jobs
        </button>
      )}
    </Panel>
  );
}

/** A test's name and class, heading its row. */
const testName = (t: { test_name: string; classname: string }) => (
  <>
    {t.test_name} <span className="hint">{t.classname}</span>
  </>
);
const testKey = (t: { job_name: string; classname: string; test_name: string }) =>
  `${t.job_name} ${t.classname} ${t.test_name}`;

const TEST_COLUMNS: Column<TestMetric>[] = [
  { header: "Test", rowHeader: true, cell: testName },
  { header: "Job", cell: (t) => t.job_name },
  { header: "Runs", cell: (t) => t.total_runs },
  { header: "Failed", cell: (t) => t.failed_runs },
  { header: "95th percentile", cell: (t) => seconds(t.p95_duration) },
  { header: "Flaky", cell: (t) => (t.flaky ? "yes" : "no") },
];

function TestTable({ label, tests }: { label: string; tests: TestMetric[] }) {
  return (
    <DataTable
      label={label}
      scroll
      items={tests}
      rowKey={testKey}
      columns={TEST_COLUMNS}
      empty={<p>None.</p>}
    />
  );
}

export function TestsTables({ scope }: { scope: Scope }) {
  const tests = useQuery({
    queryKey: ["insights", "test-metrics", paths.testMetrics(scope)],
    queryFn: () => api.get<TestMetrics>(paths.testMetrics(scope)),
  });
  const m = tests.data;
  return (
    <Panel id="insights-tests" title={`Tests of ${scope.workflow}`}>
      {tests.isError && <Failure error={tests.error} />}
      {tests.isPending && <p aria-busy="true">Loading tests…</p>}
      {m &&
        (m.total_test_runs === 0 ? (
          <p>No test results were stored by its recent runs (store_test_results).</p>
        ) : (
          <>
            <p className="hint">
              {m.total_test_runs} runs with test results, {Math.round(m.average_test_count)} tests on average.
            </p>
            <h3>Most failed</h3>
            <TestTable label="Most failed tests" tests={m.most_failed_tests} />
            <h3>Slowest</h3>
            <TestTable label="Slowest tests" tests={m.slowest_tests} />
          </>
        ))}
    </Panel>
  );
}

export function FlakyTable({ scope }: { scope: Scope }) {
  const flaky = useQuery({
    queryKey: ["insights", "flaky", scope.slug],
    queryFn: () => api.get<{ flaky_tests: FlakyTest[]; total_flaky_tests: number }>(paths.flakyTests(scope)),
  });
  const items = flaky.data?.flaky_tests ?? [];
  return (
    <Panel id="insights-flaky" title="Flaky tests">
      <p className="hint">Tests that both passed and failed on the same commit.</p>
      {flaky.isError && <Failure error={flaky.error} />}
      {flaky.isPending && <p aria-busy="true">Loading flaky tests…</p>}
      {flaky.data && (
        <DataTable
          label="Flaky tests"
          scroll
          items={items}
          rowKey={testKey}
          columns={[
            {
              header: "Test",
              rowHeader: true,
              cell: (t) => (
                <>
                  {testName(t)}
                  {t.file && <span className="hint"> · {t.file}</span>}
                </>
              ),
            },
            { header: "Times flaked", cell: (t) => t.times_flaked },
            { header: "Time wasted", cell: (t) => seconds(t.time_wasted) },
            { header: "Workflow", cell: (t) => t.workflow_name },
            {
              header: "Latest job",
              cell: (t) => (
                <Link href={jobHref(scope.slug, t.pipeline_number, t.workflow_id, t.job_number)}>
                  {t.job_name} #{t.job_number}
                </Link>
              ),
            },
          ]}
          empty={<p>No flaky tests.</p>}
        />
      )}
    </Panel>
  );
}
