/**
 * The insights page's tables: the workflows' metrics, one workflow's runs (each linked to its
 * workflow page), its jobs' metrics, its slowest and most failed tests, and the project's flaky
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
      {workflows.data && items.length === 0 && <p>No workflow ran in this window.</p>}
      {items.length > 0 && (
        <div className="table-scroll">
          <table className="data" aria-label="Workflow metrics">
            <thead>
              <tr>
                <th scope="col">Workflow</th>
                <th scope="col">Runs</th>
                <th scope="col">Success rate</th>
                <th scope="col">Median duration</th>
                <th scope="col">95th percentile</th>
                <th scope="col">Throughput</th>
                <th scope="col">Mean time to recovery</th>
              </tr>
            </thead>
            <tbody>
              {items.map((w) => (
                <tr key={w.name}>
                  <th scope="row">
                    <button type="button" className="link" onClick={() => choose(w.name)}>
                      {w.name}
                    </button>
                  </th>
                  <td>{w.metrics.total_runs}</td>
                  <td>{percent(w.metrics.success_rate)}</td>
                  <td>{seconds(w.metrics.duration_metrics.median)}</td>
                  <td>{seconds(w.metrics.duration_metrics.p95)}</td>
                  <td>{perDay(w.metrics.throughput)}</td>
                  <td>{seconds(w.metrics.mttr)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
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
      {runs.data && items.length === 0 && <p>No runs in this window.</p>}
      {items.length > 0 && (
        <div className="table-scroll">
          <table className="data" aria-label={`Runs of ${scope.workflow}`}>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Branch</th>
                <th scope="col">Duration</th>
                <th scope="col">Ended</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <RunLink run={r} />
                  </td>
                  <td>
                    <StatusChip status={r.status} small />
                  </td>
                  <td>
                    {r.branch ? (
                      <span className="branch">{r.branch}</span>
                    ) : (
                      <span className="hint">a tag</span>
                    )}
                  </td>
                  <td>{seconds(r.duration)}</td>
                  <td>
                    <time dateTime={r.stopped_at}>{ago(r.stopped_at)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {runs.hasNextPage && (
        <button type="button" onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>
          More runs
        </button>
      )}
    </Panel>
  );
}

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
      {jobs.data && items.length === 0 && <p>No job ran in this window.</p>}
      {items.length > 0 && (
        <div className="table-scroll">
          <table className="data" aria-label="Job metrics">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Runs</th>
                <th scope="col">Failed</th>
                <th scope="col">Success rate</th>
                <th scope="col">Median duration</th>
                <th scope="col">95th percentile</th>
                <th scope="col">Throughput</th>
              </tr>
            </thead>
            <tbody>
              {items.map((j) => (
                <tr key={j.name}>
                  <th scope="row">{j.name}</th>
                  <td>{j.metrics.total_runs}</td>
                  <td>{j.metrics.failed_runs}</td>
                  <td>{percent(j.metrics.success_rate)}</td>
                  <td>{seconds(j.metrics.duration_metrics.median)}</td>
                  <td>{seconds(j.metrics.duration_metrics.p95)}</td>
                  <td>{perDay(j.metrics.throughput)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {jobs.hasNextPage && (
        <button type="button" onClick={() => void jobs.fetchNextPage()} disabled={jobs.isFetchingNextPage}>
          More jobs
        </button>
      )}
    </Panel>
  );
}

function TestTable({ label, tests }: { label: string; tests: TestMetric[] }) {
  if (tests.length === 0) return <p>None.</p>;
  return (
    <div className="table-scroll">
      <table className="data" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Test</th>
            <th scope="col">Job</th>
            <th scope="col">Runs</th>
            <th scope="col">Failed</th>
            <th scope="col">95th percentile</th>
            <th scope="col">Flaky</th>
          </tr>
        </thead>
        <tbody>
          {tests.map((t) => (
            <tr key={`${t.job_name} ${t.classname} ${t.test_name}`}>
              <th scope="row">
                {t.test_name} <span className="hint">{t.classname}</span>
              </th>
              <td>{t.job_name}</td>
              <td>{t.total_runs}</td>
              <td>{t.failed_runs}</td>
              <td>{seconds(t.p95_duration)}</td>
              <td>{t.flaky ? "yes" : "no"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
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
      {flaky.data && items.length === 0 && <p>No flaky tests.</p>}
      {items.length > 0 && (
        <div className="table-scroll">
          <table className="data" aria-label="Flaky tests">
            <thead>
              <tr>
                <th scope="col">Test</th>
                <th scope="col">Times flaked</th>
                <th scope="col">Time wasted</th>
                <th scope="col">Workflow</th>
                <th scope="col">Latest job</th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={`${t.job_name} ${t.classname} ${t.test_name}`}>
                  <th scope="row">
                    {t.test_name} <span className="hint">{t.classname}</span>
                    {t.file && <span className="hint"> · {t.file}</span>}
                  </th>
                  <td>{t.times_flaked}</td>
                  <td>{seconds(t.time_wasted)}</td>
                  <td>{t.workflow_name}</td>
                  <td>
                    <Link href={jobHref(scope.slug, t.pipeline_number, t.workflow_id, t.job_number)}>
                      {t.job_name} #{t.job_number}
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
