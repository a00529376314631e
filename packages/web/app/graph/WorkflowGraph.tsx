/**
 * A workflow's job graph: each job a card (its name linking to the job page, its status, its
 * duration, its parallel runs when it has more than one; an approval job on hold with its Approve
 * button), requirements as edges. Cards are
 * HTML over an SVG of edges, so every action is a real link or button in the tab order.
 */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { between } from "../format.ts";
import { StatusChip } from "../status.tsx";
import type { WorkflowJob } from "../types.ts";
import { layoutWorkflow, NODE } from "./layout.ts";

export interface WorkflowGraphProps {
  jobs: WorkflowJob[];
  /** The job page of a job with a number. */
  hrefOf: (job: WorkflowJob) => string | undefined;
  /** Extra controls on a job's card (Approve, a rerun checkbox). */
  controls?: (job: WorkflowJob) => ReactNode;
  now?: number;
}

export function WorkflowGraph({ jobs, hrefOf, controls, now }: WorkflowGraphProps) {
  const layout = layoutWorkflow(jobs);
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const pad = 8;
  return (
    <div className="graph" style={{ width: layout.width + 2 * pad, height: layout.height + 2 * pad }}>
      <svg
        width={layout.width + 2 * pad}
        height={layout.height + 2 * pad}
        aria-hidden="true"
        className="edges"
      >
        <g transform={`translate(${pad},${pad})`}>
          {layout.edges.map((e) => (
            <path key={`${e.from}-${e.to}`} d={e.path} data-from={e.from} data-to={e.to} />
          ))}
        </g>
      </svg>
      <ol aria-label="Jobs">
        {layout.nodes.map((n) => {
          const job = byId.get(n.id)!;
          const href = hrefOf(job);
          const requires = job.dependencies.map((d) => byId.get(d)?.name).filter(Boolean);
          return (
            <li
              key={n.id}
              className={`node ${job.type}`}
              data-job={job.name}
              style={{ left: n.x + pad, top: n.y + pad, width: NODE.width, height: NODE.height }}
            >
              <div className="node-head">
                {href ? <Link href={href}>{job.name}</Link> : <span>{job.name}</span>}
                {(job.parallelism ?? 1) > 1 && (
                  <span className="parallelism" title={`${job.parallelism} parallel runs`}>
                    ×{job.parallelism}
                    <span className="visually-hidden"> parallel runs</span>
                  </span>
                )}
                <StatusChip status={job.status} small />
              </div>
              <div className="node-foot">
                <span className="duration">{between(job.started_at, job.stopped_at, now)}</span>
                {requires.length > 0 && (
                  <span className="visually-hidden">requires {requires.join(", ")}</span>
                )}
                {controls?.(job)}
              </div>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
