/** The workflow graph rendered by React: cards placed by the layout, edges, links and controls. */
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Router } from "wouter";
import type { WorkflowJob } from "../types.ts";
import { WorkflowGraph } from "./WorkflowGraph.tsx";

const job = (id: string, over: Partial<WorkflowJob> = {}): WorkflowJob => ({
  id,
  name: id,
  type: "build",
  status: "success",
  job_number: 1,
  started_at: "2026-12-03T10:00:00.000Z",
  stopped_at: "2026-12-03T10:01:05.000Z",
  dependencies: [],
  ...over,
});

describe("workflow graph", () => {
  const jobs = [
    job("build"),
    job("test-a", { dependencies: ["build"], job_number: 2, parallelism: 4 }),
    job("test-b", { dependencies: ["build"], job_number: 3, status: "failed" }),
    job("hold", {
      type: "approval",
      status: "on_hold",
      dependencies: ["test-a", "test-b"],
      job_number: undefined,
    }),
  ];
  const html = renderToStaticMarkup(
    <Router ssrPath="/">
      <WorkflowGraph
        jobs={jobs}
        hrefOf={(j) => (j.job_number ? `/jobs/${j.job_number}` : undefined)}
        controls={(j) => (j.type === "approval" ? <button type="button">Approve</button> : null)}
      />
    </Router>,
  );

  it("draws an edge for each requirement: fan-out from build, fan-in to the approval", () => {
    expect([...html.matchAll(/<path /g)].length).toBe(4);
    expect(html).toContain('data-from="build" data-to="test-a"');
    expect(html).toContain('data-from="test-b" data-to="hold"');
  });

  it("places fanned-out jobs in one column, one under the other", () => {
    expect(html).toMatch(/data-job="test-a" style="left:272px;top:8px/);
    expect(html).toMatch(/data-job="test-b" style="left:272px;top:80px/);
    expect(html).toMatch(/data-job="hold" style="left:536px;top:8px/);
  });

  it("links jobs with a number to their page, shows status and duration, and says what each requires", () => {
    expect(html).toContain('<a href="/jobs/3">test-b</a>');
    expect(html).toContain('data-status="failed"');
    expect(html).toContain("1m 05s");
    expect(html).toContain("requires test-a, test-b");
    // The approval has no job page: its name is text, and its card carries the Approve control.
    expect(html).not.toContain(">hold</a>");
    expect(html).toMatch(/data-job="hold"[\s\S]*<button type="button">Approve<\/button>/);
  });

  it("marks a parallel job with its number of runs, and only that job", () => {
    expect(html).toMatch(
      /data-job="test-a"[\s\S]*?<span class="parallelism" title="4 parallel runs">×4<span class="visually-hidden"> parallel runs<\/span><\/span>/,
    );
    expect([...html.matchAll(/class="parallelism"/g)].length).toBe(1);
  });
});
