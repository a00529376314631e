/**
 * One output line with its ANSI colors, as React spans (never HTML strings), from the linear
 * segmenter of model.ts: the 16 colors and attributes as classes (styles.css), 256-color and
 * true-color codes as inline colors. The colors in force where the line starts come first; a
 * line past MAX_LINE_CHARS says how much the raw download holds beyond it.
 */
import type { CSSProperties, ReactNode } from "react";
import { ansiSegments, type Segment } from "./model.ts";

const NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
const ATTRS: Record<number, string> = {
  1: "ansi-bold",
  2: "ansi-dim",
  3: "ansi-italic",
  4: "ansi-underline",
  8: "ansi-hidden",
  9: "ansi-strike",
};

const palette = (n: number): string => {
  if (n < 16) return `var(--ansi-${n})`;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const c = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${level(Math.floor(c / 36))},${level(Math.floor(c / 6) % 6)},${level(c % 6)})`;
};

/** A color code as a class (the 16 colors) or an inline color (256 and true color). */
function color(code: string | undefined, side: "fg" | "bg"): { className?: string; value?: string } {
  if (!code) return {};
  const parts = code.split(";").map(Number);
  const c = parts[0]!;
  const base = side === "fg" ? 30 : 40;
  if (c >= base && c <= base + 7) return { className: `ansi-${NAMES[c - base]}-${side}` };
  if (c >= base + 60 && c <= base + 67) return { className: `ansi-bright-${NAMES[c - base - 60]}-${side}` };
  if (parts[1] === 5 && parts[2]! >= 0 && parts[2]! <= 255) return { value: palette(parts[2]!) };
  if (parts[1] === 2 && parts.slice(2, 5).every((v) => v >= 0 && v <= 255))
    return { value: `rgb(${parts.slice(2, 5).join(",")})` };
  return {};
}

/** Highlights each occurrence of `mark` (lower case) in `text`, case-insensitively. */
function marked(text: string, mark: string | undefined, key: string): ReactNode {
  if (!mark) return text;
  const lower = text.toLowerCase();
  const parts: ReactNode[] = [];
  let from = 0;
  for (let at = lower.indexOf(mark); at >= 0; at = lower.indexOf(mark, at + mark.length)) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(<mark key={`${key}-${at}`}>{text.slice(at, at + mark.length)}</mark>);
    from = at + mark.length;
  }
  if (parts.length === 0) return text;
  if (from < text.length) parts.push(text.slice(from));
  return parts;
}

function SegmentSpan({ segment, mark, index }: { segment: Segment; mark?: string; index: number }) {
  const fg = color(segment.fg, "fg");
  const bg = color(segment.bg, "bg");
  const classes = [fg.className, bg.className, ...segment.attrs.map((a) => ATTRS[a])]
    .filter(Boolean)
    .join(" ");
  const style: CSSProperties | undefined =
    fg.value || bg.value
      ? { ...(fg.value ? { color: fg.value } : {}), ...(bg.value ? { backgroundColor: bg.value } : {}) }
      : undefined;
  if (!classes && !style) return <>{marked(segment.text, mark, String(index))}</>;
  return (
    <span className={classes || undefined} style={style}>
      {marked(segment.text, mark, String(index))}
    </span>
  );
}

export function AnsiLine({ text, prefix, mark }: { text: string; prefix: string; mark?: string }) {
  const needle = mark?.toLowerCase() || undefined;
  const { segments, hidden } = ansiSegments(text, prefix);
  return (
    <>
      {segments.map((segment, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: the segments of one line never reorder
        <SegmentSpan key={i} segment={segment} mark={needle} index={i} />
      ))}
      {hidden > 0 && (
        <span className="cut"> … {hidden.toLocaleString("en")} more characters (raw download has them)</span>
      )}
    </>
  );
}
