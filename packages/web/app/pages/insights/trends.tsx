/**
 * The window's time series (`/insights/time-series/{slug}/workflows`, one workflow's or every
 * one's) as two charts: runs per interval with their success rate, and the median duration of
 * each workflow per interval.
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

export function TrendCharts({ scope, end }: { scope: Scope; end: number }) {
  const path = paths.timeseries(scope);
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
  const durationSeries = useMemo<ChartSeries[]>(
    () =>
      columns
        ? [...columns.medians.entries()].map(([name, values], i) => ({
            label: `${name} median`,
            values,
            color: PALETTE[i % PALETTE.length]!,
            scale: "secs",
            format: secs,
          }))
        : [],
    [columns],
  );

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
  const durationSummary =
    durationSeries.length === 0
      ? "No runs in this window."
      : durationSeries
          .map((s) => {
            const values = s.values.filter((v): v is number => v !== null);
            return `${s.label.replace(/ median$/, "")}: from ${seconds(Math.min(...values))} to ${seconds(Math.max(...values))} (median per ${unit})`;
          })
          .join("; ")
          .concat(".");

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
    </div>
  );
}
