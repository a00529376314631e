/**
 * A job's output: each step a section (its header a button that folds it, with status, duration
 * and a raw download), its lines numbered, colored, each number a link to the line, timestamps
 * on request, search matches marked. Only the rows in view are in the page (fixed-height rows:
 * a row's place is its index times the row height, so a million lines cost nothing to lay out;
 * TanStack Virtual and react-window keep per-item measurements, which a million-line append
 * would recompute). Heights past what a browser can scroll are scaled to fit.
 */
import { type UIEvent, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { duration } from "../format.ts";
import { StatusChip } from "../status.tsx";
import { AnsiLine } from "./ansi.tsx";
import { lineAnchor, type Match, type StepOutput, stripAnsi } from "./model.ts";

export const ROW_PX = 20;
/** Past this height (about 1.5 million rows) rows are placed by proportion: browsers cap heights. */
const MAX_PX = 30_000_000;
const OVERSCAN = 30;

export interface StepInfo {
  index: number;
  name: string;
  status: string;
  background: boolean;
  startedAt?: string;
  endedAt?: string | null;
  exitCode?: number | null;
}

export interface OutputViewerProps {
  steps: StepInfo[];
  outputs: ReadonlyMap<number, StepOutput>;
  /** Changes whenever any output grew (outputs are mutated in place). */
  version: number;
  expanded: ReadonlySet<number>;
  onToggle: (step: number) => void;
  rawHref: (step: number) => string;
  showTimes: boolean;
  /** The line to show highlighted (a linked line or the current search match). */
  highlight?: Match;
  /** Scroll to `highlight` when this changes. */
  scrollKey?: number;
  search?: string;
  /** Keep the last line in view as lines arrive. */
  follow: boolean;
  onUserScroll?: (atEnd: boolean) => void;
  onLineLink?: (match: Match) => void;
  height?: string;
}

type Row =
  | { kind: "step"; step: StepInfo }
  | { kind: "line"; step: StepInfo; line: number }
  | { kind: "empty"; step: StepInfo };

/** Where each step's rows start: its header, then its lines (or an empty row) when unfolded. */
export function rowOffsets(
  steps: StepInfo[],
  outputs: ReadonlyMap<number, StepOutput>,
  expanded: ReadonlySet<number>,
) {
  const starts: number[] = [];
  let total = 0;
  for (const s of steps) {
    starts.push(total);
    total += 1;
    if (expanded.has(s.index)) total += Math.max(1, outputs.get(s.index)?.count ?? 0);
  }
  return { starts, total };
}

function rowAt(
  r: number,
  steps: StepInfo[],
  starts: number[],
  outputs: ReadonlyMap<number, StepOutput>,
): Row | undefined {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= r) lo = mid;
    else hi = mid - 1;
  }
  const step = steps[lo];
  if (!step) return undefined;
  const within = r - starts[lo]!;
  if (within === 0) return { kind: "step", step };
  const count = outputs.get(step.index)?.count ?? 0;
  return count === 0 ? { kind: "empty", step } : { kind: "line", step, line: within - 1 };
}

const clock = (iso: string | undefined) => (iso ? new Date(iso).toISOString().slice(11, 19) : "");

export function OutputViewer(props: OutputViewerProps) {
  const { steps, outputs, expanded, version } = props;
  const box = useRef<HTMLElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  // biome-ignore lint/correctness/useExhaustiveDependencies: outputs change in place; version says when
  const { starts, total } = useMemo(
    () => rowOffsets(steps, outputs, expanded),
    [steps, outputs, expanded, version],
  );
  const totalPx = Math.min(total * ROW_PX, MAX_PX);
  const maxScroll = Math.max(0, totalPx - viewport);
  const visibleRows = viewport / ROW_PX;
  const firstExact =
    maxScroll > 0 ? (Math.min(scrollTop, maxScroll) / maxScroll) * Math.max(0, total - visibleRows) : 0;
  const first = Math.max(0, Math.floor(firstExact) - OVERSCAN);
  const last = Math.min(total - 1, Math.ceil(firstExact + visibleRows) + OVERSCAN);
  const topOf = (r: number) => Math.min(scrollTop, maxScroll) + (r - firstExact) * ROW_PX;

  const scrollToRow = useCallback(
    (r: number, align: "center" | "end" = "center") => {
      const el = box.current;
      if (!el) return;
      const span = Math.max(0, total - visibleRows);
      const target = align === "end" ? span : Math.max(0, Math.min(span, r - visibleRows / 2));
      el.scrollTop = span > 0 ? (target / span) * maxScroll : 0;
      setScrollTop(el.scrollTop);
    },
    [total, visibleRows, maxScroll],
  );

  // The box ends at the window's bottom edge (so following keeps the last line on screen), or
  // sooner when the output is shorter.
  const [fit, setFit] = useState<number>();
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => {
      setViewport(el.clientHeight || 600);
      const top = el.getBoundingClientRect().top + window.scrollY;
      setFit(Math.max(240, window.innerHeight - top - 16));
    };
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    window.addEventListener("resize", measure);
    measure();
    return () => {
      observer.disconnect();
      window.removeEventListener("resize", measure);
    };
  }, []);

  // Following: the end stays in view as lines arrive.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when rows are added
  useLayoutEffect(() => {
    if (props.follow && total > 0) scrollToRow(total - 1, "end");
  }, [props.follow, total, version]);

  // A linked line or a search match: scroll it to the middle once its rows exist.
  const { highlight, scrollKey } = props;
  // (and once more when the line arrives, for a line not loaded yet).
  const loaded = highlight ? (outputs.get(highlight.step)?.count ?? 0) > highlight.line : false;
  // biome-ignore lint/correctness/useExhaustiveDependencies: scrolls once per request (scrollKey)
  useEffect(() => {
    if (!highlight) return;
    const i = steps.findIndex((s) => s.index === highlight.step);
    if (i < 0 || !expanded.has(highlight.step)) return;
    scrollToRow(starts[i]! + 1 + highlight.line);
  }, [
    scrollKey,
    highlight?.step,
    highlight?.line,
    expanded.has(highlight?.step ?? -1),
    starts.length,
    loaded,
  ]);

  const onScroll = (e: UIEvent<HTMLElement>) => {
    const el = e.currentTarget;
    setScrollTop(el.scrollTop);
    props.onUserScroll?.(el.scrollTop >= el.scrollHeight - el.clientHeight - ROW_PX);
  };

  const rows = [];
  for (let r = first; r <= last; r++) {
    const row = rowAt(r, steps, starts, outputs);
    if (!row) continue;
    const style = { top: topOf(r), height: ROW_PX };
    if (row.kind === "step") {
      const s = row.step;
      const open = expanded.has(s.index);
      const took =
        s.startedAt && (s.endedAt || s.status === "running")
          ? duration((s.endedAt ? Date.parse(s.endedAt) : Date.now()) - Date.parse(s.startedAt))
          : "";
      rows.push(
        <div key={`s${s.index}`} className={`row step-row ${s.status}`} style={style} data-step={s.index}>
          <button
            type="button"
            className="fold"
            aria-expanded={open}
            aria-controls={`step-${s.index}`}
            onClick={() => props.onToggle(s.index)}
          >
            <span aria-hidden="true" className="caret">
              {open ? "▾" : "▸"}
            </span>
            <span className="step-name">{s.name}</span>
          </button>
          <StatusChip status={s.status} small />
          {s.background && <span className="tag">background</span>}
          {s.exitCode !== undefined && s.exitCode !== null && s.exitCode !== 0 && (
            <span className="exit">exit {s.exitCode}</span>
          )}
          <span className="took">{took}</span>
          <a className="raw" href={props.rawHref(s.index)} download>
            Raw<span className="visually-hidden"> output of {s.name}</span>
          </a>
        </div>,
      );
    } else if (row.kind === "empty") {
      const out = outputs.get(row.step.index);
      rows.push(
        <div key={`e${row.step.index}`} className="row empty" style={style} id={`step-${row.step.index}`}>
          {out?.note ?? (out?.complete ? "No output." : "Waiting for output…")}
        </div>,
      );
    } else {
      const out = outputs.get(row.step.index)!;
      const anchor = lineAnchor(row.step.index, row.line);
      const lit = highlight && highlight.step === row.step.index && highlight.line === row.line;
      rows.push(
        <div
          key={anchor}
          className={`row line${lit ? " highlight" : ""}`}
          style={style}
          id={row.line === 0 ? `step-${row.step.index}` : undefined}
          data-line={anchor}
        >
          <a
            className="ln"
            href={`#${anchor}`}
            aria-label={`Line ${row.line + 1} of ${row.step.name}`}
            onClick={(e) => {
              if (!props.onLineLink) return;
              e.preventDefault();
              props.onLineLink({ step: row.step.index, line: row.line });
            }}
          >
            {row.line + 1}
          </a>
          {props.showTimes && <time className="ts">{clock(out.timeOf(row.line))}</time>}
          <span className="text">
            <AnsiLine text={out.line(row.line)} prefix={out.styleAt(row.line)} mark={props.search} />
          </span>
        </div>,
      );
    }
  }

  return (
    <section
      ref={box}
      className="output"
      aria-label="Job output"
      // biome-ignore lint/a11y/noNoninteractiveTabindex: the scroll box takes focus so the keyboard scrolls it
      tabIndex={0}
      onScroll={onScroll}
      style={{
        height:
          props.height ?? (fit === undefined ? "70vh" : Math.min(fit, Math.max(totalPx, 3 * ROW_PX) + 2)),
      }}
    >
      <div className="spacer" style={{ height: totalPx }} />
      {rows}
    </section>
  );
}

/** The visible text of a line, for tests and copy. */
export const plainLine = (out: StepOutput, i: number) => stripAnsi(out.line(i));
