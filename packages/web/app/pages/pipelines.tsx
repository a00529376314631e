/**
 * Pipelines, newest first: every project's or one's, by branch, or only mine; each with its
 * workflows and their jobs as status chips, kept live. A project's page can trigger a pipeline.
 */
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { api, query, slugPath } from "../api.ts";
import { ago, jobsRefetch, settled } from "../format.ts";
import { Crumbs, Failure, useTitle } from "../layout.tsx";
import {
  insightsHref,
  jobHref,
  pipelineHref,
  projectHref,
  projectSettingsHref,
  slugOf,
  workflowHref,
} from "../links.ts";
import { useMay } from "../permission.ts";
import { StatusChip } from "../status.tsx";
import type { Page, Pipeline, Workflow, WorkflowJob } from "../types.ts";

/** How often live lists are read again while something in them may still change. */
export const LIVE_MS = 2000;

interface Project {
  slug: string;
  name: string;
}

export function useProjects() {
  return useQuery({
    queryKey: ["projects"],
    queryFn: () => api.get<{ items: Project[] }>("/api/gyre/projects"),
    staleTime: 30_000,
  });
}

export function PipelinesPage() {
  const params = useParams<{ vcs?: string; org?: string; repo?: string }>();
  const slug = slugOf(params);
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const mine = search.get("mine") === "true";
  const branch = mine ? "" : (search.get("branch") ?? "");
  const projects = useProjects();

  const setFilter = (next: { slug?: string; branch?: string; mine?: boolean }) => {
    const s = next.slug === undefined ? slug : next.slug;
    const onlyMine = next.mine ?? mine;
    // "Only mine" lists by who triggered, not by branch (CircleCI's `pipeline/mine` takes none):
    // a branch is dropped from the URL with it, not kept there unseen.
    const q = query({
      branch: s && !onlyMine ? (next.branch ?? branch) : undefined,
      mine: onlyMine ? "true" : undefined,
    });
    // A new project or "only mine" is a new page (Back returns); a branch typed is the same one.
    navigate(`${s ? projectHref(s) : "/"}${q}`, {
      replace: next.slug === undefined && next.mine === undefined,
    });
  };

  const path = slug
    ? mine
      ? `/api/v2/project/${slugPath(slug)}/pipeline/mine`
      : `/api/v2/project/${slugPath(slug)}/pipeline${query({ branch })}`
    : `/api/v2/pipeline${query({ mine: mine ? "true" : undefined })}`;
  const pipelines = useInfiniteQuery({
    queryKey: ["pipelines", path],
    queryFn: ({ pageParam }) =>
      api.get<Page<Pipeline>>(
        `${path}${pageParam ? `${path.includes("?") ? "&" : "?"}page-token=${encodeURIComponent(pageParam)}` : ""}`,
      ),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
    refetchInterval: LIVE_MS,
  });
  const ids = { project: useId(), branch: useId() };
  const unknown = Boolean(slug && projects.data && !projects.data.items.some((p) => p.slug === slug));
  const mayTrigger = useMay(unknown ? undefined : slug, "write");
  useTitle(slug ? `${slug} pipelines` : "All pipelines");

  return (
    <section>
      {slug ? (
        <Crumbs items={[{ label: "Pipelines", href: "/" }, { label: slug }]} />
      ) : (
        <Crumbs items={[{ label: "Pipelines" }]} />
      )}
      <h1>{slug ?? "All pipelines"}</h1>
      {unknown && (
        <p role="alert" className="error">
          Project {slug} was not found, or you may not see it.
        </p>
      )}
      {slug && !unknown && (
        <p className="links">
          <Link href={insightsHref(slug)}>Insights</Link> ·{" "}
          <Link href={projectSettingsHref(slug)}>Project settings</Link>
        </p>
      )}
      <form className="filters" aria-label="Filter pipelines" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={ids.project}>Project</label>
        <select
          id={ids.project}
          value={slug ?? ""}
          onChange={(e) => setFilter({ slug: e.target.value, branch: "" })}
        >
          <option value="">All projects</option>
          {projects.data?.items.map((p) => (
            <option key={p.slug} value={p.slug}>
              {p.slug}
            </option>
          ))}
        </select>
        {slug && !mine && (
          <>
            <label htmlFor={ids.branch}>Branch</label>
            <input
              id={ids.branch}
              defaultValue={branch}
              placeholder="any"
              onKeyDown={(e) => {
                if (e.key === "Enter") setFilter({ branch: e.currentTarget.value.trim() });
              }}
              onBlur={(e) =>
                e.currentTarget.value.trim() !== branch && setFilter({ branch: e.currentTarget.value.trim() })
              }
            />
          </>
        )}
        <label className="check">
          <input type="checkbox" checked={mine} onChange={(e) => setFilter({ mine: e.target.checked })} />{" "}
          Only mine
        </label>
      </form>
      {slug && !unknown && mayTrigger && <TriggerForm slug={slug} />}
      {pipelines.isError && !unknown && <Failure error={pipelines.error} />}
      {pipelines.isPending && <p aria-busy="true">Loading pipelines…</p>}
      <ol className="pipelines" aria-label="Pipelines">
        {pipelines.data?.pages.flatMap((page) =>
          page.items.map((p) => (
            <li key={p.id}>
              <PipelineRow pipeline={p} />
            </li>
          )),
        )}
      </ol>
      {pipelines.data && pipelines.data.pages[0]?.items.length === 0 && (
        <p>No pipelines{branch ? ` on ${branch}` : ""} yet.</p>
      )}
      {pipelines.hasNextPage && (
        <button
          type="button"
          onClick={() => void pipelines.fetchNextPage()}
          disabled={pipelines.isFetchingNextPage}
        >
          Load more
        </button>
      )}
    </section>
  );
}

export function PipelineRow({ pipeline: p, open }: { pipeline: Pipeline; open?: boolean }) {
  const workflows = useQuery({
    queryKey: ["workflows", p.id],
    queryFn: () => api.get<Page<Workflow>>(`/api/v2/pipeline/${p.id}/workflow`),
    refetchInterval: (q) =>
      q.state.data && q.state.data.items.length > 0 && q.state.data.items.every((w) => settled(w.status))
        ? false
        : LIVE_MS,
  });
  const subject = p.vcs?.commit?.subject;
  return (
    <article className="pipeline" aria-label={`Pipeline ${p.number} of ${p.project_slug}`}>
      <header>
        <Link href={pipelineHref(p.project_slug, p.number)} className="number">
          {p.project_slug} #{p.number}
        </Link>
        {p.vcs?.branch && <span className="branch">{p.vcs.branch}</span>}
        {p.vcs?.tag && <span className="branch">tag {p.vcs.tag}</span>}
        {p.vcs?.revision && <code className="sha">{p.vcs.revision.slice(0, 7)}</code>}
        {subject && <span className="subject">{subject}</span>}
        <span className="when">
          {p.trigger.actor?.login ? `${p.trigger.actor.login} · ` : ""}
          {p.trigger.type} · <time dateTime={p.created_at}>{ago(p.created_at)}</time>
        </span>
      </header>
      {p.state === "errored" && (
        <div className="errored">
          <StatusChip status="errored" />
          <ul className="errors" aria-label="Config errors">
            {(p.errors ?? []).map((e) => (
              <li key={e.message}>{e.message}</li>
            ))}
          </ul>
        </div>
      )}
      {workflows.isError && <Failure error={workflows.error} />}
      <ul className="workflows">
        {workflows.data?.items.map((w) => (
          <li key={w.id}>
            <WorkflowRow workflow={w} open={open} />
          </li>
        ))}
      </ul>
    </article>
  );
}

function WorkflowRow({ workflow: w, open }: { workflow: Workflow; open?: boolean }) {
  const jobs = useQuery({
    queryKey: ["jobs", w.id],
    queryFn: () => api.get<Page<WorkflowJob>>(`/api/v2/workflow/${w.id}/job`),
    refetchInterval: (q) => jobsRefetch(w.status, q.state.data?.items, LIVE_MS),
  });
  return (
    <div className="workflow-row">
      <Link href={workflowHref(w.project_slug, w.pipeline_number, w.id)} className="workflow-name">
        {w.name}
      </Link>
      <StatusChip status={w.status} />
      <ul className={`jobs${open ? " open" : ""}`} aria-label={`Jobs of ${w.name}`}>
        {jobs.data?.items.map((j) => (
          <li key={j.id}>
            {j.job_number !== undefined ? (
              <Link
                href={jobHref(w.project_slug, w.pipeline_number, w.id, j.job_number)}
                className="job-chip"
              >
                {j.name} <StatusChip status={j.status} small />
              </Link>
            ) : (
              <Link
                href={workflowHref(w.project_slug, w.pipeline_number, w.id)}
                className="job-chip approval"
              >
                {j.name} <StatusChip status={j.status} small />
              </Link>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Trigger a pipeline: a branch or a tag, and pipeline parameters as JSON. */
function TriggerForm({ slug }: { slug: string }) {
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const ref = String(form.get("ref") ?? "").trim();
    const kind = String(form.get("kind"));
    const text = String(form.get("parameters") ?? "").trim();
    let parameters: unknown;
    try {
      parameters = text ? JSON.parse(text) : undefined;
    } catch {
      setError('Parameters must be a JSON object, for example {"deploy": true}.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const body = { ...(ref ? { [kind]: ref } : {}), ...(parameters === undefined ? {} : { parameters }) };
      const made = await api.post<{ number: number }>(`/api/v2/project/${slugPath(slug)}/pipeline`, body);
      await client.invalidateQueries({ queryKey: ["pipelines"] });
      navigate(pipelineHref(slug, made.number));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <details className="trigger">
      <summary>Trigger pipeline</summary>
      <form onSubmit={submit} aria-label="Trigger pipeline">
        <fieldset>
          <legend>Build</legend>
          <label className="check">
            <input type="radio" name="kind" value="branch" defaultChecked /> Branch
          </label>
          <label className="check">
            <input type="radio" name="kind" value="tag" /> Tag
          </label>
          <label>
            Name <input name="ref" placeholder="the default branch" />
          </label>
        </fieldset>
        <label>
          Parameters (JSON) <textarea name="parameters" rows={3} placeholder='{"deploy": true}' />
        </label>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          Trigger
        </button>
      </form>
    </details>
  );
}

/** One pipeline: its trigger, config errors, and workflows with their jobs. */
export function PipelinePage() {
  const params = useParams<{ vcs: string; org: string; repo: string; num: string }>();
  const slug = slugOf(params)!;
  useTitle(`${slug} #${params.num}`);
  const pipeline = useQuery({
    queryKey: ["pipeline", slug, params.num],
    queryFn: () =>
      api.get<Pipeline>(`/api/v2/project/${slugPath(slug)}/pipeline/${encodeURIComponent(params.num)}`),
    refetchInterval: (q) => (q.state.data?.state === "pending" ? LIVE_MS : false),
  });
  return (
    <section>
      <Crumbs
        items={[
          { label: "Pipelines", href: "/" },
          { label: slug, href: projectHref(slug) },
          { label: `#${params.num}` },
        ]}
      />
      <h1>
        {slug} pipeline #{params.num}
      </h1>
      {pipeline.isError && <Failure error={pipeline.error} />}
      {pipeline.data && <PipelineRow pipeline={pipeline.data} open />}
    </section>
  );
}
