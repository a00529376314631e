/**
 * A workflow: its job graph, live, with the workflow's actions: approve a job on hold, cancel,
 * and rerun (all of it, from failed, the chosen jobs, with SSH), each through API v2.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useLocation, useParams } from "wouter";
import { api, slugPath } from "../api.ts";
import { between, jobsRefetch, settled } from "../format.ts";
import { WorkflowGraph } from "../graph/WorkflowGraph.tsx";
import { Crumbs, Failure, useTitle } from "../layout.tsx";
import { jobHref, pipelineHref, projectHref, slugOf, workflowHref } from "../links.ts";
import { useMay } from "../permission.ts";
import { StatusChip } from "../status.tsx";
import type { Page, Pipeline, Workflow, WorkflowJob } from "../types.ts";
import { LIVE_MS } from "./pipelines.tsx";

type Params = { vcs: string; org: string; repo: string; num: string; workflow: string };

export default function WorkflowPage() {
  const params = useParams<Params>();
  const slug = slugOf(params)!;
  const number = Number(params.num);
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const workflow = useQuery({
    queryKey: ["workflow", params.workflow],
    queryFn: () => api.get<Workflow>(`/api/v2/workflow/${encodeURIComponent(params.workflow)}`),
    refetchInterval: (q) => (q.state.data && settled(q.state.data.status) ? false : LIVE_MS),
  });
  const jobs = useQuery({
    queryKey: ["jobs", params.workflow],
    queryFn: () => api.get<Page<WorkflowJob>>(`/api/v2/workflow/${encodeURIComponent(params.workflow)}/job`),
    refetchInterval: (q) => jobsRefetch(workflow.data?.status, q.state.data?.items, LIVE_MS),
  });
  const pipeline = useQuery({
    queryKey: ["pipeline", slug, params.num],
    queryFn: () => api.get<Pipeline>(`/api/v2/project/${slugPath(slug)}/pipeline/${number}`),
  });

  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      await client.invalidateQueries({ queryKey: ["workflow", params.workflow] });
      await client.invalidateQueries({ queryKey: ["jobs", params.workflow] });
      await client.invalidateQueries({ queryKey: ["workflows"] });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const rerun = (body: Record<string, unknown>) =>
    act(async () => {
      const made = await api.post<{ workflow_id: string }>(
        `/api/v2/workflow/${encodeURIComponent(params.workflow)}/rerun`,
        body,
      );
      setChosen(new Set());
      navigate(workflowHref(slug, number, made.workflow_id));
    });
  const approve = (job: WorkflowJob) =>
    act(() =>
      api.post(
        `/api/v2/workflow/${encodeURIComponent(params.workflow)}/approve/${encodeURIComponent(job.approval_request_id ?? job.id)}`,
      ),
    );

  const w = workflow.data;
  const items = jobs.data?.items ?? [];
  // Approve, cancel and rerun take write permission: a viewer is offered none of them.
  const may = useMay(slug, "write");
  useTitle(w?.name, `${slug} #${number}`);
  const failed = items.some((j) =>
    ["failed", "infrastructure_fail", "timedout", "canceled"].includes(j.status),
  );
  return (
    <section>
      <Crumbs
        items={[
          { label: "Pipelines", href: "/" },
          { label: slug, href: projectHref(slug) },
          { label: `#${number}`, href: pipelineHref(slug, number) },
          { label: w?.name ?? "workflow" },
        ]}
      />
      {workflow.isError && <Failure error={workflow.error} />}
      {w && (
        <>
          <h1>
            {w.name} <StatusChip status={w.status} />
          </h1>
          <p className="meta">
            {pipeline.data?.vcs?.branch && <span className="branch">{pipeline.data.vcs.branch}</span>}
            {pipeline.data?.vcs?.commit?.subject && <span> {pipeline.data.vcs.commit.subject}</span>}
            <span>
              {" "}
              · {settled(w.status) ? "took" : "running for"} {between(w.created_at, w.stopped_at)}
            </span>
          </p>
          {may && (
            <fieldset className="actions">
              <legend className="visually-hidden">Workflow actions</legend>
              {!settled(w.status) && (
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => act(() => api.post(`/api/v2/workflow/${encodeURIComponent(w.id)}/cancel`))}
                >
                  Cancel workflow
                </button>
              )}
              {settled(w.status) && (
                <>
                  <button type="button" disabled={busy} onClick={() => rerun({})}>
                    Rerun workflow
                  </button>
                  <button
                    type="button"
                    disabled={busy || !failed}
                    onClick={() => rerun({ from_failed: true })}
                  >
                    Rerun from failed
                  </button>
                  <button
                    type="button"
                    disabled={busy || chosen.size === 0}
                    onClick={() => rerun({ jobs: [...chosen] })}
                  >
                    Rerun{" "}
                    {chosen.size > 0
                      ? `${chosen.size} chosen job${chosen.size > 1 ? "s" : ""}`
                      : "chosen jobs"}
                  </button>
                  <button
                    type="button"
                    disabled={busy}
                    onClick={() =>
                      rerun({ enable_ssh: true, ...(chosen.size > 0 ? { jobs: [...chosen] } : {}) })
                    }
                  >
                    Rerun with SSH
                  </button>
                </>
              )}
            </fieldset>
          )}
          {error && (
            <p role="alert" className="error">
              {error}
            </p>
          )}
        </>
      )}
      {jobs.isError && <Failure error={jobs.error} />}
      {items.length > 0 && (
        <WorkflowGraph
          jobs={items}
          hrefOf={(j) =>
            j.job_number === undefined ? undefined : jobHref(slug, number, params.workflow, j.job_number)
          }
          controls={(j) => (
            <>
              {may && j.type === "approval" && j.status === "on_hold" && (
                <button type="button" className="primary small" disabled={busy} onClick={() => approve(j)}>
                  Approve<span className="visually-hidden"> {j.name}</span>
                </button>
              )}
              {may && w && settled(w.status) && j.type === "build" && (
                <label className="check small">
                  <input
                    type="checkbox"
                    checked={chosen.has(j.id)}
                    onChange={(e) => {
                      const next = new Set(chosen);
                      if (e.target.checked) next.add(j.id);
                      else next.delete(j.id);
                      setChosen(next);
                    }}
                  />
                  <span className="visually-hidden">Choose {j.name} to rerun</span>
                  <span aria-hidden="true">rerun</span>
                </label>
              )}
            </>
          )}
        />
      )}
    </section>
  );
}
