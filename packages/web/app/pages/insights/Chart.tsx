/**
 * A chart over time with uPlot, as a labelled figure: its caption, the canvas (an image whose
 * label sums it up in words), and the same numbers as a table for anyone who does not see the
 * chart. uPlot and its stylesheet are imported here only, so they load with the insights page.
 */
import { type ReactNode, useEffect, useId, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { DataTable } from "../../table.tsx";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** A CSS color (a custom property's value is read from the page). */
  color: string;
  scale: string;
  bars?: boolean;
  format: (v: number | null) => string;
}

export interface ChartAxis {
  scale: string;
  label: string;
  side?: "left" | "right";
  range?: [number, number];
  format?: (v: number) => string;
  /** The steps its ticks may be apart (whole runs, whole seconds). */
  steps?: number[];
}

const HEIGHT = 220;

/** A custom property's value (`var(--good)` → its color), for a canvas that cannot read CSS. */
function cssColor(value: string): string {
  const m = /^var\((--[\w-]+)\)$/.exec(value);
  if (!m) return value;
  return getComputedStyle(document.documentElement).getPropertyValue(m[1]!).trim() || "#888";
}

function Plot(props: {
  x: number[];
  series: ChartSeries[];
  axes: ChartAxis[];
  hourly: boolean;
  label: string;
}) {
  const { x, series, axes, hourly, label } = props;
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const muted = cssColor("var(--muted)");
    const line = cssColor("var(--line)");
    const bars = uPlot.paths.bars?.({ size: [0.6, 40] });
    const step = hourly ? 3600 : 86_400;
    const options: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: HEIGHT,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // Half an interval either side, so the first and last bars and points are whole.
        x: { time: true, range: (_u, min, max) => [min - step / 2, max + step / 2] },
        ...Object.fromEntries(
          axes.map((a) => [
            a.scale,
            a.range
              ? { range: a.range }
              : {
                  range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [
                    0,
                    Math.max(1, max * 1.1),
                  ],
                },
          ]),
        ),
      },
      axes: [
        {
          stroke: muted,
          grid: { stroke: line, width: 1 },
          ticks: { stroke: line, width: 1 },
          values: hourly ? "{HH}:{mm}" : "{D} {MMM}",
        },
        ...axes.map(
          (a, i): uPlot.Axis => ({
            scale: a.scale,
            label: a.label,
            side: a.side === "right" ? 1 : 3,
            stroke: muted,
            grid: { show: i === 0, stroke: line, width: 1 },
            ticks: { stroke: line, width: 1 },
            values: a.format ? (_u, splits) => splits.map((v) => a.format!(v)) : undefined,
            ...(a.steps ? { incrs: a.steps } : {}),
          }),
        ),
      ],
      series: [
        {
          label: hourly ? "Hour" : "Day",
          value: (_u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString()),
        },
        ...series.map(
          (s): uPlot.Series => ({
            label: s.label,
            scale: s.scale,
            stroke: cssColor(s.color),
            width: s.bars ? 1 : 2,
            fill: s.bars ? `${cssColor(s.color)}55` : undefined,
            paths: s.bars ? bars : undefined,
            points: { show: !s.bars, size: 5 },
            spanGaps: !s.bars,
            value: (_u, v) => s.format(v ?? null),
          }),
        ),
      ],
    };
    // An interval without runs has no bar (rather than a bar of height 0).
    const data = [x, ...series.map((s) => (s.bars ? s.values.map((v) => (v === 0 ? null : v)) : s.values))];
    const plot = new uPlot(options, data as uPlot.AlignedData, el);
    const observer = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, el.clientWidth), height: HEIGHT }),
    );
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [x, series, axes, hourly]);
  return <div ref={box} className="chart" role="img" aria-label={label} />;
}

/**
 * A labelled figure: caption, chart, summary in words, and a table of the intervals that have
 * data (the others had none): a bar of 0 is no data, a line's 0 (a 0 s queue time) is.
 */
export function ChartFigure(props: {
  title: string;
  summary: string;
  x: number[];
  series: ChartSeries[];
  axes: ChartAxis[];
  hourly: boolean;
  intervalLabel: (t: number) => string;
  footer?: ReactNode;
}) {
  const { title, summary, x, series, axes, hourly, intervalLabel, footer } = props;
  const id = useId();
  const rows = x
    .map((t, i) => ({ t, i }))
    .filter(({ i }) => series.some((s) => s.values[i] !== null && (!s.bars || s.values[i] !== 0)));
  return (
    <figure className="chart-figure" aria-labelledby={`${id}-caption`} aria-describedby={`${id}-summary`}>
      <figcaption id={`${id}-caption`}>{title}</figcaption>
      <Plot x={x} series={series} axes={axes} hourly={hourly} label={`${title}: ${summary}`} />
      <p id={`${id}-summary`} className="hint chart-summary">
        {summary}
      </p>
      <details className="chart-data">
        <summary>
          {title}: the numbers<span className="visually-hidden"> as a table</span>
        </summary>
        <DataTable
          label={title}
          caption
          items={rows}
          rowKey={(r) => r.t}
          columns={[
            { header: hourly ? "Hour" : "Day", rowHeader: true, cell: (r) => intervalLabel(r.t * 1000) },
            ...series.map((s) => ({
              header: s.label,
              cell: (r: { i: number }) => s.format(s.values[r.i] ?? null),
            })),
          ]}
          empty={<p>Nothing ran in this window.</p>}
        />
        {rows.length > 0 && <p className="hint">Intervals not listed had no runs.</p>}
      </details>
      {footer}
    </figure>
  );
}
