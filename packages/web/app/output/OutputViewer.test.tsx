/**
 * The output viewer rendered by React (to markup, as the first paint has it): sections that
 * fold, numbered lines whose numbers link to them, colors, search marks, the highlighted line,
 * timestamps, and only the rows in view for a long output.
 */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { StepOutput } from "./model.ts";
import { OutputViewer, type OutputViewerProps, rowOffsets, type StepInfo } from "./OutputViewer.tsx";

const steps: StepInfo[] = [
  { index: 0, name: "Checkout code", status: "success", background: false, exitCode: 0 },
  { index: 1, name: "Run tests", status: "failed", background: false, exitCode: 2 },
];

function outputs(texts: Record<number, string>) {
  const map = new Map<number, StepOutput>();
  for (const [step, text] of Object.entries(texts)) {
    const out = new StepOutput();
    out.append([{ seq: 0, at: "2026-12-03T10:11:12.000Z", data: text }]);
    out.complete = true;
    map.set(Number(step), out);
  }
  return map;
}

const render = (props: Partial<OutputViewerProps> & Pick<OutputViewerProps, "outputs">) =>
  renderToStaticMarkup(
    <OutputViewer
      steps={steps}
      version={0}
      expanded={new Set([1])}
      onToggle={() => {}}
      rawHref={(s) => `/raw/${s}`}
      showTimes={false}
      follow={false}
      {...props}
    />,
  );

/** How often `pattern` occurs in the markup. */
const count = (html: string, pattern: RegExp) => [...html.matchAll(new RegExp(pattern, "g"))].length;

describe("output viewer", () => {
  it("shows each step as a section header that folds, with its status, exit code and raw download", () => {
    const html = render({ outputs: outputs({ 0: "cloned\n", 1: "FAIL a.test\n" }) });
    expect(html).toContain('aria-expanded="false" aria-controls="step-0"');
    expect(html).toContain('aria-expanded="true" aria-controls="step-1"');
    expect(html).toContain('data-status="failed"');
    expect(html).toContain("exit 2");
    expect(html).toContain('href="/raw/1" download=""');
    // The folded step's line is not in the page; the unfolded one's is.
    expect(html).not.toContain("cloned");
    expect(html).toContain("FAIL a.test");
  });

  it("numbers lines from 1, each number a link to its own anchor", () => {
    const html = render({ outputs: outputs({ 1: "first\nsecond\n" }) });
    expect(html).toContain('data-line="s1-L1"');
    expect(html).toContain('href="#s1-L2" aria-label="Line 2 of Run tests">2</a>');
  });

  it("colors ANSI output with classes and inline colors for 256-color codes, never raw escapes", () => {
    const html = render({ outputs: outputs({ 1: "\x1b[31mred\x1b[0m \x1b[38;5;196mhot\x1b[0m\n" }) });
    expect(html).toContain('<span class="ansi-red-fg">red</span>');
    expect(html).toContain('style="color:rgb(255,0,0)"');
    expect(html).not.toContain("\x1b");
  });

  it("marks search matches and highlights the current line", () => {
    const html = render({
      outputs: outputs({ 1: "an error here\nfine\nERROR again\n" }),
      search: "error",
      highlight: { step: 1, line: 2 },
    });
    expect(count(html, /<mark>/)).toBe(2);
    expect(html).toContain("<mark>ERROR</mark>");
    expect(html).toMatch(/class="row line highlight"[^>]*data-line="s1-L3"/);
  });

  it("shows each line's time when asked", () => {
    const html = render({ outputs: outputs({ 1: "x\n" }), showTimes: true });
    expect(html).toContain('<time class="ts">10:11:12</time>');
    expect(render({ outputs: outputs({ 1: "x\n" }) })).not.toContain('class="ts"');
  });

  it("says a step has no output, or that it waits for some", () => {
    expect(render({ outputs: outputs({ 1: "" }) })).toContain("No output.");
    expect(render({ outputs: new Map() })).toContain("Waiting for output…");
  });

  it("puts only the rows in view in the page for a long output, the scroll height for all of them", () => {
    const big = new StepOutput();
    big.append([{ seq: 0, at: "2026-12-03T10:00:00.000Z", data: "line\n".repeat(100_000) }]);
    const html = render({ outputs: new Map([[1, big]]) });
    expect(count(html, /class="row line/)).toBeLessThan(200);
    expect(html).toContain(`height:${(100_000 + 2) * 20}px`);
    expect(rowOffsets(steps, new Map([[1, big]]), new Set([1]))).toEqual({ starts: [0, 1], total: 100_002 });
  });
});
