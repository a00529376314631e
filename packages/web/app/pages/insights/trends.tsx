/**
 * The window's time series (`/insights/time-series/{slug}/workflows`, one workflow's or every
 * one's) as charts: runs per interval with their success rate, and each workflow's median
 * duration and median queue time (Gyre's `queue_metrics`) per interval; for one workflow, its
 * jobs' (`.../workflows/{name}/jobs`) median duration and queue time too.
 */
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { api } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import type { Page } from "../../types.ts";
import { type ChartAxis, ChartFigure, type ChartSeries } from "./Chart.tsx";
import {
  columnsOf,
  granularityOf,
  type Interval,
  intervalLabel,
  intervalsOf,
  paths,
  type Scope,
  seconds,
} from "./data.ts";

const PALETTE = ["var(--run)", "var(--hold)", "var(--wait)", "var(--good)", "var(--bad)", "var(--off)"];

const count = (v: number | null) => (v === null ? "0" : String(v));
const pct = (v: number | null) => (v === null ? "–" : `${Math.round(v)}%`);
const secs = (v: number | null) => seconds(v);

const WHOLE = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000];
const SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800];

const RUN_AXES: ChartAxis[] = [
  { scale: "runs", label: "Runs", format: (v) => String(v), steps: WHOLE },
  { scale: "pct", label: "Success rate", side: "right", range: [0, 100], format: (v) => `${v}%` },
];
const DURATION_AXES: ChartAxis[] = [
  { scale: "secs", label: "Median duration", format: (v) => seconds(v), steps: SECONDS },
];
const QUEUE_AXES: ChartAxis[] = [
  { scale: "secs", label: "Median queue time", format: (v) => seconds(v), steps: SECONDS },
];

/**
 * A line per name with a value somewhere, labelled `<name> <what>` (colored by the name's place
 * among all the names, so a workflow or job keeps its color from chart to chart).
 */
function lines(map: Map<string, (number | null)[]>, what: string): ChartSeries[] {
  return [...map.entries()].flatMap(([name, values], i) =>
    values.some((v) => v !== null)
      ? [
          {
            label: `${name} ${what}`,
            values,
            color: PALETTE[i % PALETTE.length]!,
            scale: "secs",
            format: secs,
          },
        ]
      : [],
  );
}

/** Each line's range in words ("build: from 3s to 10s (median per day)"), or `none`. */
function rangeSummary(series: ChartSeries[], what: string, unit: string, none: string): string {
  if (series.length === 0) return none;
  return series
    .map((s) => {
      const values = s.values.filter((v): v is number => v !== null);
      return `${s.label.slice(0, -what.length - 1)}: from ${seconds(Math.min(...values))} to ${seconds(Math.max(...values))} (median per ${unit})`;
    })
    .join("; ")
    .concat(".");
}

const NO_QUEUE = "No run in this window has a queue time.";

/** A time series read from `path`, in the scope's intervals (hourly or daily), as chart columns. */
function useSeries(path: string, scope: Scope, end: number) {
  const series = useQuery({
    queryKey: ["insights", "time-series", path],
    queryFn: () => api.get<Page<Interval>>(path),
  });
  const hourly = granularityOf(scope) === "hourly";
  const unit = hourly ? "hour" : "day";
  const columns = useMemo(
    () => (series.data ? columnsOf(series.data.items, intervalsOf(scope, end)) : undefined),
    [series.data, scope, end],
  );
  return { series, hourly, unit, columns };
}

export function TrendCharts({ scope, end }: { scope: Scope; end: number }) {
  const { series, hourly, unit, columns } = useSeries(paths.timeseries(scope), scope, end);

  const runSeries = useMemo<ChartSeries[]>(
    () =>
      columns
        ? [
            {
              label: "Runs",
              values: columns.runs,
              color: "var(--run)",
              scale: "runs",
              bars: true,
              format: count,
            },
            { label: "Success rate", values: columns.rate, color: "var(--good)", scale: "pct", format: pct },
          ]
        : [],
    [columns],
  );
  const durationSeries = useMemo(() => (columns ? lines(columns.medians, "median") : []), [columns]);
  const queueSeries = useMemo(() => (columns ? lines(columns.queues, "median queue") : []), [columns]);

  if (series.isError) return <Failure error={series.error} />;
  if (!columns) return <p aria-busy="true">Loading the time series…</p>;

  const total = columns.runs.reduce((s, v) => s + v, 0);
  const active = columns.runs.filter((v) => v > 0).length;
  const succeeded = columns.successful.reduce((s, v) => s + v, 0);
  const failed = columns.failed.reduce((s, v) => s + v, 0);
  const busiest = Math.max(0, ...columns.runs);
  const runSummary =
    total === 0
      ? "No runs in this window."
      : `${total} run${total === 1 ? "" : "s"} on ${active} ${unit}${active === 1 ? "" : "s"} of ${columns.x.length} (at most ${busiest} in one ${unit}); ${succeeded} succeeded and ${failed} failed${
          succeeded + failed > 0
            ? `, a success rate of ${Math.round((succeeded / (succeeded + failed)) * 100)}%`
            : ""
        }.`;
  const durationSummary = rangeSummary(durationSeries, "median", unit, "No runs in this window.");
  const queueSummary = rangeSummary(
    queueSeries,
    "median queue",
    unit,
    total === 0 ? "No runs in this window." : NO_QUEUE,
  );

  const label = (t: number) => intervalLabel(t, hourly);
  return (
    <div className="charts">
      <ChartFigure
        title={`Runs and success rate per ${unit}`}
        summary={runSummary}
        x={columns.x}
        series={runSeries}
        axes={RUN_AXES}
        hourly={hourly}
        intervalLabel={label}
      />
      <ChartFigure
        title={`Median duration per ${unit}`}
        summary={durationSummary}
        x={columns.x}
        series={durationSeries}
        axes={DURATION_AXES}
        hourly={hourly}
        intervalLabel={label}
      />
      <ChartFigure
        title={`Median queue time per ${unit}`}
        summary={queueSummary}
        x={columns.x}
        series={queueSeries}
        axes={QUEUE_AXES}
        hourly={hourly}
        intervalLabel={label}
        footer={
          <p className="hint">
            A workflow's queue time: how long at least one of its jobs waited for a builder.
          </p>
        }
      />
      {scope.workflow && <JobTrendCharts scope={scope} end={end} />}
    </div>
  );
}

/** One workflow's jobs: each job's median duration and median queue time per interval. */
function JobTrendCharts({ scope, end }: { scope: Scope; end: number }) {
  const { series, hourly, unit, columns } = useSeries(paths.jobTimeseries(scope), scope, end);
  const durationSeries = useMemo(() => (columns ? lines(columns.medians, "median") : []), [columns]);
  const queueSeries = useMemo(() => (columns ? lines(columns.queues, "median queue") : []), [columns]);

  if (series.isError) return <Failure error={series.error} />;
  if (!columns) return <p aria-busy="true">Loading the jobs' time series…</p>;
  const ran = columns.runs.some((v) => v > 0);
  const label = (t: number) => intervalLabel(t, hourly);
  return (
    <>
      <ChartFigure
        title={`Median job duration per ${unit}`}
        summary={rangeSummary(durationSeries, "median", unit, "No job ran in this window.")}
        x={columns.x}
        series={durationSeries}
        axes={DURATION_AXES}
        hourly={hourly}
        intervalLabel={label}
      />
      <ChartFigure
        title={`Median job queue time per ${unit}`}
        summary={rangeSummary(
          queueSeries,
          "median queue",
          unit,
          ran ? NO_QUEUE : "No job ran in this window.",
        )}
        x={columns.x}
        series={queueSeries}
        axes={QUEUE_AXES}
        hourly={hourly}
        intervalLabel={label}
        footer={<p className="hint">A job's queue time: from being queued to starting on a builder.</p>}
      />
    </>
  );
}
