/**
 * One output line with its ANSI colors, as React spans (never HTML strings): anser parses the
 * SGR codes into classes for the 16 colors and attributes, inline colors for 256-color and
 * true-color codes. The colors in force where the line starts are prefixed first.
 */
import Anser from "anser";
import type { CSSProperties, ReactNode } from "react";

const DECORATION: Record<string, string> = {
  bold: "ansi-bold",
  dim: "ansi-dim",
  italic: "ansi-italic",
  underline: "ansi-underline",
  strikethrough: "ansi-strike",
  reverse: "ansi-reverse",
  hidden: "ansi-hidden",
  blink: "",
};

const PALETTE = (n: number): string => {
  if (n < 16) return `var(--ansi-${n})`;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const c = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${level(Math.floor(c / 36))},${level(Math.floor(c / 6) % 6)},${level(c % 6)})`;
};

function colorOf(cls: string | null, truecolor: string | null): string | undefined {
  if (cls === "ansi-truecolor" && truecolor) return `rgb(${truecolor})`;
  const palette = cls && /^ansi-palette-(\d+)$/.exec(cls);
  return palette ? PALETTE(Number(palette[1])) : undefined;
}

/** Highlights each occurrence of `mark` (case-insensitive) in `text`. */
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

export function AnsiLine({ text, prefix, mark }: { text: string; prefix: string; mark?: string }) {
  const needle = mark?.toLowerCase() || undefined;
  if (!text.includes("\x1b") && prefix === "") return <>{marked(text, needle, "p")}</>;
  const entries = Anser.ansiToJson(prefix + text, { use_classes: true, remove_empty: true });
  return (
    <>
      {entries.map((e, i) => {
        const classes = [
          e.fg && !colorOf(e.fg, e.fg_truecolor) ? `${e.fg}-fg` : "",
          e.bg && !colorOf(e.bg, e.bg_truecolor) ? `${e.bg}-bg` : "",
          ...e.decorations.map((d) => DECORATION[d] ?? ""),
        ]
          .filter(Boolean)
          .join(" ");
        const style: CSSProperties = {};
        const fg = colorOf(e.fg, e.fg_truecolor);
        const bg = colorOf(e.bg, e.bg_truecolor);
        if (fg) style.color = fg;
        if (bg) style.backgroundColor = bg;
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: the segments of one line never reorder
          <span key={i} className={classes || undefined} style={fg || bg ? style : undefined}>
            {marked(e.content, needle, String(i))}
          </span>
        );
      })}
    </>
  );
}
