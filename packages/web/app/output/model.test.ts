import { describe, expect, it } from "vitest";
import {
  ansiSegments,
  lineAnchor,
  MAX_LINE_CHARS,
  parseAnchor,
  StepOutput,
  searchSteps,
  stripAnsi,
  visibleText,
} from "./model.ts";

const chunk = (seq: number, data: string, at = `2026-12-03T10:00:0${seq % 10}.000Z`) => ({ seq, at, data });
const lines = (out: StepOutput) => Array.from({ length: out.count }, (_, i) => out.line(i));

describe("step output model", () => {
  it("splits chunks into lines across chunk boundaries, the unfinished last line shown as it grows", () => {
    const out = new StepOutput();
    expect(out.append([chunk(0, "one\ntw")])).toBe(1);
    expect(lines(out)).toEqual(["one", "tw"]);
    out.append([chunk(1, "o\nthree\n")]);
    expect(lines(out)).toEqual(["one", "two", "three"]);
    expect(out.next).toBe(2);
  });

  it("takes each chunk once and in order: a chunk it has, or one past a gap, is ignored", () => {
    const out = new StepOutput();
    out.append([chunk(0, "a\n"), chunk(0, "a\n"), chunk(2, "c\n")]);
    expect(lines(out)).toEqual(["a"]);
    out.append([chunk(1, "b\n"), chunk(2, "c\n")]);
    expect(lines(out)).toEqual(["a", "b", "c"]);
  });

  it("dates each line by the chunk it ended in", () => {
    const out = new StepOutput();
    out.append([
      chunk(0, "a\nb", "2026-12-03T10:00:00.000Z"),
      chunk(1, "c\nd\n", "2026-12-03T10:00:05.000Z"),
    ]);
    expect([0, 1, 2].map((i) => out.timeOf(i))).toEqual([
      "2026-12-03T10:00:00.000Z",
      "2026-12-03T10:00:05.000Z",
      "2026-12-03T10:00:05.000Z",
    ]);
  });

  it("shows what a terminal shows of a line redrawn with carriage returns", () => {
    expect(visibleText("10%\r50%\r100%")).toBe("100%");
    expect(visibleText("windows line\r")).toBe("windows line");
    const out = new StepOutput();
    out.append([chunk(0, "progress 1\rprogress 2\r\ndone\n")]);
    expect(lines(out)).toEqual(["progress 2", "done"]);
  });

  it("carries colors set on one line to the lines after it until they are reset", () => {
    const out = new StepOutput();
    out.append([
      chunk(0, "\x1b[1;31mred starts\nstill red\n\x1b[0mplain\n\x1b[32mgreen\x1b[39m back\nplain again\n"),
    ]);
    expect([0, 1, 2, 3, 4].map((i) => out.styleAt(i))).toEqual(["", "\x1b[1;31m", "\x1b[1;31m", "", ""]);
  });

  it("keeps 256-color and true-color codes and attribute resets in the carried style", () => {
    const out = new StepOutput();
    out.append([chunk(0, "\x1b[38;5;200;48;2;1;2;3m\x1b[4mx\n\x1b[24my\nz\n")]);
    expect(out.styleAt(1)).toBe("\x1b[4;38;5;200;48;2;1;2;3m");
    expect(out.styleAt(2)).toBe("\x1b[38;5;200;48;2;1;2;3m");
  });

  it("strips escape sequences for search and copy", () => {
    expect(stripAnsi("\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 \x1b[2Kdone")).toBe(
      "red link done",
    );
  });

  it("searches every step's lines case-insensitively, in order, and bounds the matches", () => {
    const a = new StepOutput();
    a.append([chunk(0, "Error one\nfine\n")]);
    const b = new StepOutput();
    b.append([chunk(0, "\x1b[31mERROR\x1b[0m two\npartial error")]);
    const steps = [
      { index: 0, output: a },
      { index: 4, output: b },
    ];
    expect(searchSteps(steps, "error")).toEqual({
      matches: [
        { step: 0, line: 0 },
        { step: 4, line: 0 },
        { step: 4, line: 1 },
      ],
      truncated: false,
    });
    expect(searchSteps(steps, "error", 2)).toEqual({
      matches: [
        { step: 0, line: 0 },
        { step: 4, line: 0 },
      ],
      truncated: true,
    });
    // The escape codes are not text: "31m" is not in the output.
    expect(searchSteps(steps, "31m").matches).toEqual([]);
    expect(searchSteps(steps, "").matches).toEqual([]);
  });

  it("links a line by step and line number from 1, and reads such a link back", () => {
    expect(lineAnchor(3, 0)).toBe("s3-L1");
    expect(parseAnchor("#s3-L120")).toEqual({ step: 3, line: 119 });
    expect(parseAnchor("s0-L1")).toEqual({ step: 0, line: 0 });
    expect(parseAnchor("#s3-L0")).toBeUndefined();
    expect(parseAnchor("#top")).toBeUndefined();
  });

  it("holds a million lines", () => {
    const out = new StepOutput();
    const block = `${"x".repeat(40)}\n`.repeat(10_000);
    for (let seq = 0; seq < 100; seq++) out.append([chunk(seq, block)]);
    expect(out.count).toBe(1_000_000);
    expect(out.line(999_999)).toBe("x".repeat(40));
  });

  it("splits a line into styled runs, dropping escapes that are not colors", () => {
    expect(ansiSegments("a\x1b[1;31mb\x1b[2Kc\x1b]8;;http://x\x07d\x1b[0me", "\x1b[32m")).toEqual({
      segments: [
        { text: "a", fg: "32", attrs: [] },
        { text: "bcd", fg: "31", attrs: [1] },
        { text: "e", attrs: [] },
      ],
      hidden: 0,
    });
    expect(ansiSegments("\x1b[38;5;196mx\x1b[48;2;1;2;3my").segments).toEqual([
      { text: "x", fg: "38;5;196", attrs: [] },
      { text: "y", fg: "38;5;196", bg: "48;2;1;2;3", attrs: [] },
    ]);
  });

  it("draws at most MAX_LINE_CHARS of a line and counts the rest", () => {
    const { segments, hidden } = ansiSegments("x".repeat(MAX_LINE_CHARS + 123));
    expect(segments.map((s) => s.text.length)).toEqual([MAX_LINE_CHARS]);
    expect(hidden).toBe(123);
  });

  it("stays linear on hostile lines: a code before every character, a code of a million parameters", () => {
    const repeated = ansiSegments("\x1b[1mX".repeat(200_000));
    expect(repeated.segments).toEqual([{ text: "X".repeat(MAX_LINE_CHARS), attrs: [1] }]);
    expect(repeated.hidden).toBe(200_000 - MAX_LINE_CHARS);
    const wide = ansiSegments(`\x1b[${"1;".repeat(1_000_000)}31mred`);
    expect(wide.segments).toEqual([{ text: "red", attrs: [1] }]);
    const out = new StepOutput();
    out.append([chunk(0, `\x1b[${"1;".repeat(1_000_000)}31mred\nnext\n`)]);
    expect(out.styleAt(1)).toBe("\x1b[1m");
  });

  it("reads a long line that arrives over many chunks without splitting what it already has again", () => {
    const out = new StepOutput();
    for (let seq = 0; seq < 2000; seq++) out.append([chunk(seq, "y".repeat(1000))]);
    out.append([chunk(2000, "\n")]);
    expect(out.count).toBe(1);
    expect(out.line(0).length).toBe(2_000_000);
  });
});
