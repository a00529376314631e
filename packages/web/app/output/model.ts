/**
 * A step's output as the viewer holds it: lines in order as chunks arrive (each chunk once, from
 * the next chunk number on, so nothing already here is fetched again), the time each line's
 * chunk was stored, and the ANSI colors in effect where each line starts (tools often set a color
 * on one line and reset it lines later). Plain arrays and strings, no per-line objects: a step of
 * a million lines costs its text and a number per line.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences begin with ESC
const SGR = /\x1b\[([0-9;]*)m/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences begin with ESC (and OSC ends with BEL)
const ANY_ESCAPE = /\x1b(?:\[[0-9;?]*[A-Za-z]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/** The text of `s` without its escape sequences (what search matches and copy shows). */
export const stripAnsi = (s: string) => (s.includes("\x1b") ? s.replace(ANY_ESCAPE, "") : s);

/** What a terminal shows of a line that redraws itself with `\r`: the text after the last one. */
export function visibleText(raw: string): string {
  const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  const at = line.lastIndexOf("\r");
  return at < 0 ? line : line.slice(at + 1);
}

/** SGR state: the codes that set foreground, background and each attribute, in force. */
interface Style {
  fg?: string;
  bg?: string;
  attrs: Set<number>;
}

const CLEARS: Record<number, number[]> = {
  21: [1],
  22: [1, 2],
  23: [3],
  24: [4],
  25: [5],
  27: [7],
  28: [8],
  29: [9],
};

/** Parameters read of one SGR sequence: a hostile sequence of a million is cut here. */
const MAX_SGR_PARAMS = 32;

function applySgr(style: Style, params: string) {
  const codes = (params === "" ? [""] : params.split(";", MAX_SGR_PARAMS)).map((p) =>
    p === "" ? 0 : Number(p),
  );
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) {
      style.fg = undefined;
      style.bg = undefined;
      style.attrs.clear();
    } else if (c >= 1 && c <= 9) style.attrs.add(c);
    else if (CLEARS[c]) for (const a of CLEARS[c]) style.attrs.delete(a);
    else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) style.fg = String(c);
    else if (c === 39) style.fg = undefined;
    else if ((c >= 40 && c <= 47) || (c >= 100 && c <= 107)) style.bg = String(c);
    else if (c === 49) style.bg = undefined;
    else if (c === 38 || c === 48) {
      const mode = codes[i + 1];
      const take = mode === 5 ? 2 : mode === 2 ? 4 : 0;
      if (take === 0) continue;
      const value = codes.slice(i, i + 1 + take).join(";");
      if (c === 38) style.fg = value;
      else style.bg = value;
      i += take;
    }
  }
}

const sgrOf = (style: Style) => {
  const parts = [...[...style.attrs].sort((a, b) => a - b).map(String)];
  if (style.fg) parts.push(style.fg);
  if (style.bg) parts.push(style.bg);
  return parts.length === 0 ? "" : `\x1b[${parts.join(";")}m`;
};

/** At most this many characters of a line are drawn; the rest is in the raw download. */
export const MAX_LINE_CHARS = 10_000;

/** A run of a line's text in one style: SGR codes in force (fg, bg as their codes; attributes). */
export interface Segment {
  text: string;
  fg?: string;
  bg?: string;
  attrs: number[];
}

/**
 * A line split into styled runs, in one pass (anser and ansi_up keep every decoration seen and
 * grow with the square of a line full of codes, which a job's output must not do to a viewer):
 * SGR codes change the style, every other escape sequence is dropped, and drawing stops after
 * MAX_LINE_CHARS characters, `hidden` telling how many were left out.
 */
export function ansiSegments(
  line: string,
  start = "",
  limit = MAX_LINE_CHARS,
): { segments: Segment[]; hidden: number } {
  const style: Style = { attrs: new Set() };
  for (const m of start.matchAll(SGR)) applySgr(style, m[1]!);
  const segments: Segment[] = [];
  let shown = 0;
  let hidden = 0;
  const push = (text: string) => {
    if (text === "") return;
    const room = limit - shown;
    if (room <= 0) {
      hidden += text.length;
      return;
    }
    const part = text.length > room ? text.slice(0, room) : text;
    hidden += text.length - part.length;
    shown += part.length;
    const last = segments[segments.length - 1];
    const attrs = [...style.attrs].sort((a, b) => a - b);
    if (last && last.fg === style.fg && last.bg === style.bg && last.attrs.join() === attrs.join())
      last.text += part;
    else
      segments.push({
        text: part,
        ...(style.fg ? { fg: style.fg } : {}),
        ...(style.bg ? { bg: style.bg } : {}),
        attrs,
      });
  };
  let from = 0;
  for (const m of line.matchAll(ANY_ESCAPE)) {
    push(line.slice(from, m.index));
    from = m.index + m[0].length;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences begin with ESC
    const sgr = /^\x1b\[([0-9;]*)m$/.exec(m[0]);
    if (sgr && shown < limit) applySgr(style, sgr[1]!);
  }
  push(line.slice(from));
  return { segments, hidden };
}

export interface Chunk {
  seq: number;
  at: string;
  data: string;
}

export class StepOutput {
  /** Complete lines, as shown (after `\r` redraws), escapes kept for coloring. */
  readonly lines: string[] = [];
  /** For each line, the index in `times` of the chunk it ended in. */
  readonly lineChunk: number[] = [];
  /** When each chunk was stored. */
  readonly times: string[] = [];
  /** Lines whose end changes the colors in force, ascending, and the SGR prefix after each. */
  private readonly styledLines: number[] = [];
  private readonly styleAfter: string[] = [];
  private style: Style = { attrs: new Set() };
  /** The text after the last newline: shown as the last line while it grows. */
  partial = "";
  /** The next chunk to ask for. */
  next = 0;
  /** The step has ended and every chunk it wrote is here. */
  complete = false;
  /** Why there is nothing more to show (its output expired), when the server said so. */
  note?: string;

  /** Adds chunks in order; a chunk already added (or out of order) is ignored. Answers lines added. */
  append(chunks: Chunk[]): number {
    const before = this.lines.length;
    for (const chunk of chunks) {
      if (chunk.seq !== this.next) continue;
      this.next++;
      const t = this.times.push(chunk.at) - 1;
      // Only the chunk is split: a long line arriving over many chunks is not split again each time.
      const pieces = chunk.data.split("\n");
      if (pieces.length === 1) {
        this.partial += chunk.data;
        continue;
      }
      this.addLine(this.partial + pieces[0]!, t);
      for (let i = 1; i < pieces.length - 1; i++) this.addLine(pieces[i]!, t);
      this.partial = pieces[pieces.length - 1]!;
    }
    return this.lines.length - before;
  }

  private addLine(raw: string, chunk: number) {
    const index = this.lines.length;
    if (raw.includes("\x1b[")) {
      const before = sgrOf(this.style);
      for (const m of raw.matchAll(SGR)) applySgr(this.style, m[1]!);
      const after = sgrOf(this.style);
      if (after !== before) {
        this.styledLines.push(index);
        this.styleAfter.push(after);
      }
    }
    this.lines.push(visibleText(raw));
    this.lineChunk.push(chunk);
  }

  /** Lines to show: the complete ones, and the partial one while it has text. */
  get count(): number {
    return this.lines.length + (this.partial === "" ? 0 : 1);
  }

  /** Line `i` (from 0) as shown, escapes kept. */
  line(i: number): string {
    return i < this.lines.length ? this.lines[i]! : visibleText(this.partial);
  }

  /** When line `i`'s chunk was stored (the partial line: the last chunk's time). */
  timeOf(i: number): string | undefined {
    return i < this.lines.length ? this.times[this.lineChunk[i]!] : this.times[this.times.length - 1];
  }

  /** The SGR sequence in force where line `i` starts ("" for none). */
  styleAt(i: number): string {
    let lo = 0;
    let hi = this.styledLines.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.styledLines[mid]! < i) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? "" : this.styleAfter[found]!;
  }
}

export interface Match {
  step: number;
  line: number;
}

/**
 * Every line of `steps` (in order) whose visible text contains `query` (case-insensitive), up to
 * `limit` of them; `truncated` when there were more.
 */
export function searchSteps(
  steps: { index: number; output: StepOutput }[],
  query: string,
  limit = 10_000,
): { matches: Match[]; truncated: boolean } {
  const needle = query.toLowerCase();
  const matches: Match[] = [];
  if (needle === "") return { matches, truncated: false };
  for (const { index, output } of steps) {
    for (let i = 0; i < output.count; i++) {
      if (stripAnsi(output.line(i)).toLowerCase().includes(needle)) {
        if (matches.length === limit) return { matches, truncated: true };
        matches.push({ step: index, line: i });
      }
    }
  }
  return { matches, truncated: false };
}

/** A line's anchor in the page's URL: step index and line number from 1 (`#s3-L120`). */
export const lineAnchor = (step: number, line: number) => `s${step}-L${line + 1}`;

export function parseAnchor(hash: string): Match | undefined {
  const m = /^#?s(\d+)-L(\d+)$/.exec(hash);
  if (!m) return undefined;
  const line = Number(m[2]) - 1;
  return line < 0 ? undefined : { step: Number(m[1]), line };
}
