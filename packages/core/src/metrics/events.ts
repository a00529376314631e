/**
 * Event figures, recorded where they happen and kept in the memory of the process that saw
 * them: no write to the table per job. Queue time at the claim (dispatch/allocation.ts), job
 * duration at the finish, intake errors (pipeline/intake.ts), dispatch errors (starting and
 * finalizing executions, the reconciler's repairs). One recorder per `Gyre` context: the local
 * runtime's one process serves them at `GET /metrics`; a Lambda function takes what an
 * invocation recorded (`drain`) and emits it as EMF (functions/src/metrics.ts).
 */
import type { Gyre } from "../context.ts";
import { BUCKETS } from "./catalog.ts";

export type Labels = Readonly<Record<string, string>>;
export type EventCounter = "intakeErrors" | "dispatchErrors";
export type EventHistogram = "queueTime" | "jobDuration";

/** One observation or increment, as a Lambda function emits it. */
export type EventRecord =
  | { metric: EventHistogram; labels: Labels; value: number }
  | { metric: EventCounter; labels: Labels; value: number };

export interface HistogramState {
  labels: Labels;
  /** Cumulative counts, one per bucket of BUCKETS (values at most the bound). */
  buckets: number[];
  count: number;
  sum: number;
}

export interface CounterState {
  labels: Labels;
  value: number;
}

const keyOf = (labels: Labels) =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Most records kept for a `drain` that never comes (a process that does not emit them). */
const MAX_PENDING = 10_000;

export class EventMetrics {
  private readonly histograms = new Map<EventHistogram, Map<string, HistogramState>>();
  private readonly counters = new Map<EventCounter, Map<string, CounterState>>();
  private pending: EventRecord[] = [];
  private readonly listeners = new Set<(record: EventRecord) => void>();
  /** Keep records for `drain` (a Lambda function that emits them); off by default. */
  keepRecords = false;

  observe(metric: EventHistogram, labels: Labels, value: number): void {
    if (!Number.isFinite(value)) return;
    const v = Math.max(0, value);
    const series = this.series(this.histograms, metric);
    const key = keyOf(labels);
    let state = series.get(key);
    if (!state) {
      state = { labels: { ...labels }, buckets: BUCKETS[metric].map(() => 0), count: 0, sum: 0 };
      series.set(key, state);
    }
    BUCKETS[metric].forEach((bound, i) => {
      if (v <= bound) state.buckets[i]!++;
    });
    state.count++;
    state.sum += v;
    this.keep({ metric, labels, value: v });
  }

  count(metric: EventCounter, labels: Labels, n = 1): void {
    if (n <= 0) return;
    const series = this.series(this.counters, metric);
    const key = keyOf(labels);
    const state = series.get(key) ?? { labels: { ...labels }, value: 0 };
    state.value += n;
    series.set(key, state);
    this.keep({ metric, labels, value: n });
  }

  histogram(metric: EventHistogram): HistogramState[] {
    return [...(this.histograms.get(metric)?.values() ?? [])];
  }

  counter(metric: EventCounter): CounterState[] {
    return [...(this.counters.get(metric)?.values() ?? [])];
  }

  /** The records since the last drain (only while `keepRecords`). */
  drain(): EventRecord[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Calls `listener` with every record from now on (StatsD forwarding); returns the unsubscribe. */
  subscribe(listener: (record: EventRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private keep(record: EventRecord): void {
    if (this.keepRecords && this.pending.length < MAX_PENDING) this.pending.push(record);
    for (const listener of this.listeners) listener(record);
  }

  private series<K, V>(all: Map<K, Map<string, V>>, metric: K): Map<string, V> {
    let series = all.get(metric);
    if (!series) {
      series = new Map();
      all.set(metric, series);
    }
    return series;
  }
}

const recorders = new WeakMap<Gyre, EventMetrics>();

/** The event recorder of this context (one per process, as the context is). */
export function eventsOf(gyre: Gyre): EventMetrics {
  let recorder = recorders.get(gyre);
  if (!recorder) {
    recorder = new EventMetrics();
    recorders.set(gyre, recorder);
  }
  return recorder;
}

/** Seconds between two ISO instants, or undefined when either is missing or unreadable. */
export function secondsBetween(
  from: string | undefined,
  to: string | number | undefined,
): number | undefined {
  const a = Date.parse(from ?? "");
  const b = typeof to === "number" ? to : Date.parse(to ?? "");
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 1000 : undefined;
}
