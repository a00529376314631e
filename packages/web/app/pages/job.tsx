/**
 * A job, from the pipeline's breadcrumbs down to each line: its steps as sections (the failed
 * one opened), output colored and numbered, each line linkable, searchable, with timestamps on
 * request, raw downloads of a step and of the whole job, followed live (and resumed after a
 * network blip, saying so). Parallel runs are chosen with `?node=`. Tabs for tests, artifacts
 * and resources.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { api, query, slugPath } from "../api.ts";
import { between, settled } from "../format.ts";
import { Crumbs, Failure, NotFound, useTitle } from "../layout.tsx";
import { pipelineHref, projectHref, slugOf, workflowHref } from "../links.ts";
import { useStepOutputs } from "../output/loader.ts";
import { lineAnchor, type Match, parseAnchor, StepOutput, searchSteps } from "../output/model.ts";
import { OutputViewer, type StepInfo } from "../output/OutputViewer.tsx";
import { useMay } from "../permission.ts";
import { buildQuery, jobQuery } from "../queries.ts";
import { useUser } from "../session.tsx";
import { StatusChip } from "../status.tsx";
import type { Build, JobDetails, Page } from "../types.ts";
import { ConfirmDelete, ErrorText, useAction } from "./project-settings/common.tsx";

const LIVE_MS = 1000;

type Params = { vcs: string; org: string; repo: string; num: string; workflow: string; job: string };
type Tab = "steps" | "tests" | "artifacts" | "resources";
const TABS: { id: Tab; label: string }[] = [
  { id: "steps", label: "Steps" },
  { id: "tests", label: "Tests" },
  { id: "artifacts", label: "Artifacts" },
  { id: "resources", label: "Resources" },
];

interface TestResult {
  name: string;
  classname: string;
  file?: string;
  result: string;
  message: string;
  run_time: number;
  source?: string;
}

interface Artifact {
  path: string;
  node_index: number;
  url: string;
}

export default function JobPage() {
  const params = useParams<Params>();
  // A job path whose numbers are not numbers is no job's page.
  if (!/^[1-9][0-9]{0,11}$/.test(params.job) || !/^[1-9][0-9]{0,11}$/.test(params.num)) return <NotFound />;
  return <Job params={params} />;
}

function Job({ params }: { params: Params }) {
  const slug = slugOf(params)!;
  const number = Number(params.job);
  const search = new URLSearchParams(useSearch());
  const [location, navigate] = useLocation();
  const node = Number(search.get("node") ?? "0") || 0;
  const tab = (TABS.find((t) => t.id === search.get("tab"))?.id ?? "steps") as Tab;
  const setSearch = (changes: Record<string, string | undefined>) => {
    const next = Object.fromEntries(search.entries());
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    navigate(`${location}${query(next)}${window.location.hash}`, { replace: true });
  };

  const details = useQuery({
    ...jobQuery(slug, number),
    refetchInterval: (q) => (q.state.data && settled(q.state.data.status) ? false : LIVE_MS),
  });
  const ended = details.data ? settled(details.data.status) : false;
  const build = useQuery({
    ...buildQuery(slug, number),
    refetchInterval: ended ? false : LIVE_MS,
  });
  // A job that ended while this page watched it: its steps are read once more, final (a job that
  // had ended when the page opened was read final already).
  const client = useQueryClient();
  const watchedRunning = useRef(false);
  useEffect(() => {
    if (details.data && !ended) watchedRunning.current = true;
    if (ended && watchedRunning.current) {
      watchedRunning.current = false;
      void client.invalidateQueries({ queryKey: ["build", slug, number] });
    }
  }, [details.data, ended, client, slug, number]);

  const d = details.data;
  const nodes = Math.max(1, d?.parallelism ?? 1);
  const mayCancel = useMay(slug, "write");
  const user = useUser();
  const action = useAction();
  useTitle(d ? `${d.name} #${d.number}` : `job #${number}`, slug);
  // The job's own page is the one its web_url names: a path with another pipeline or workflow
  // in it moves there (keeping the node, the tab and a linked line).
  useEffect(() => {
    if (!d) return;
    const own = new URL(d.web_url).pathname;
    if (own !== window.location.pathname)
      navigate(`${own}${window.location.search}${window.location.hash}`, { replace: true });
  }, [d, navigate]);
  return (
    <section className="job-page">
      <Crumbs
        items={[
          { label: "Pipelines", href: "/" },
          { label: slug, href: projectHref(slug) },
          { label: `#${params.num}`, href: pipelineHref(slug, Number(params.num)) },
          {
            label: d?.latest_workflow.name ?? "workflow",
            href: workflowHref(slug, Number(params.num), params.workflow),
          },
          { label: d ? `${d.name} #${number}` : `job #${number}` },
        ]}
      />
      {details.isError && <Failure error={details.error} />}
      {d && (
        <header className="job-head">
          <h1>
            {d.name} <span className="muted">#{d.number}</span> <StatusChip status={d.status} />
          </h1>
          <p className="meta">
            <span>{between(d.started_at, d.stopped_at) || "not started"}</span>
            <span>
              {d.executor.type} · {d.executor.resource_class}
            </span>
            {nodes > 1 && <span>parallelism {nodes}</span>}
          </p>
          {(d.messages ?? []).map((m) => (
            <p
              key={m.message}
              className={`message ${m.type}`}
              role={m.type === "error" ? "alert" : undefined}
            >
              {m.message}
            </p>
          ))}
          {!ended && mayCancel && (
            <button
              type="button"
              disabled={action.busy}
              onClick={() =>
                void action.run(async () => {
                  await api.post(`/api/v2/project/${slugPath(slug)}/job/${number}/cancel`);
                  await client.invalidateQueries({ queryKey: ["job", slug, number] });
                })
              }
            >
              Cancel job
            </button>
          )}
          {ended && user.role === "admin" && (
            <ConfirmDelete
              label="Delete build"
              what={`${d.name} #${d.number}, with its output, artifacts and test results (its workflow keeps its status, and can no longer be rerun)`}
              disabled={action.busy}
              onConfirm={() =>
                action.run(async () => {
                  await api.delete(`/api/gyre/projects/${slugPath(slug)}/jobs/${number}`);
                  client.removeQueries({ queryKey: ["job", slug, number] });
                  client.removeQueries({ queryKey: ["build", slug, number] });
                  await client.invalidateQueries({ queryKey: ["jobs", d.latest_workflow.id] });
                  navigate(workflowHref(slug, Number(params.num), d.latest_workflow.id));
                })
              }
            />
          )}
          <ErrorText error={action.error} />
        </header>
      )}
      {nodes > 1 && (
        <nav aria-label="Parallel runs" className="nodes">
          {Array.from({ length: nodes }, (_, n) => n).map((i) => {
            const run = d?.parallel_runs.find((r) => r.index === i);
            return (
              <Link
                key={`node-${i}`}
                href={`${location}${query({ ...Object.fromEntries(search.entries()), node: String(i) })}`}
                aria-current={i === node ? "page" : undefined}
                className="node-tab"
              >
                Node {i} {run && <StatusChip status={run.status} small />}
              </Link>
            );
          })}
        </nav>
      )}
      <div role="tablist" aria-label="Job details" className="tabs">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setSearch({ tab: t.id === "steps" ? undefined : t.id })}
            onKeyDown={(e) => {
              const i = TABS.findIndex((x) => x.id === tab);
              const keys: Record<string, number> = {
                ArrowRight: i + 1,
                ArrowLeft: i - 1,
                Home: 0,
                End: TABS.length - 1,
              };
              const to = keys[e.key];
              if (to === undefined) return;
              e.preventDefault();
              const next = TABS[(to + TABS.length) % TABS.length]!;
              setSearch({ tab: next.id === "steps" ? undefined : next.id });
              document.getElementById(`tab-${next.id}`)?.focus();
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "steps" &&
          (details.isError ? null : build.isError ? (
            <Failure error={build.error} />
          ) : (
            <Steps
              key={node}
              slug={slug}
              number={number}
              node={node}
              build={build.data}
              ended={ended}
              running={d !== undefined && !ended}
            />
          ))}
        {tab === "tests" && <Tests slug={slug} number={number} />}
        {tab === "artifacts" && <Artifacts slug={slug} number={number} />}
        {tab === "resources" && d && <Resources details={d} />}
      </div>
    </section>
  );
}

function Steps(props: {
  slug: string;
  number: number;
  node: number;
  build?: Build;
  ended: boolean;
  /** The job is read and has not ended. */
  running: boolean;
}) {
  const { slug, number, node, build, ended, running } = props;
  const base = `/api/gyre/projects/${slugPath(slug)}/jobs/${number}/output/${node}`;
  const steps: StepInfo[] = useMemo(
    () =>
      (build?.steps ?? []).flatMap((s) => {
        const a = s.actions.find((x) => x.index === node);
        return a
          ? [
              {
                index: a.step,
                name: a.name,
                status: a.status,
                background: a.background,
                startedAt: a.start_time,
                endedAt: a.end_time,
                exitCode: a.exit_code,
              },
            ]
          : [];
      }),
    [build, node],
  );
  const [toggled, setToggled] = useState<Map<number, boolean>>(new Map());
  const [linked, setLinked] = useState<Match | undefined>(() => parseAnchor(window.location.hash));
  const [scrollKey, setScrollKey] = useState(0);
  const [showTimes, setShowTimes] = useState(false);
  // Following the end is the default for a job this page has seen running (not for one that had
  // ended when it opened, nor while the job is not read yet); a linked line or the user's choice wins.
  const [chosen, setFollow] = useState<boolean | undefined>(
    parseAnchor(window.location.hash) ? false : undefined,
  );
  const sawRunning = useRef(false);
  if (running) sawRunning.current = true;
  const follow = chosen ?? sawRunning.current;
  const [needle, setNeedle] = useState("");
  const [typed, setTyped] = useState("");
  const [current, setCurrent] = useState(0);
  const ids = { search: useId() };

  // Following a line's link on this page (or back and forward between them).
  useEffect(() => {
    const onHash = () => {
      const m = parseAnchor(window.location.hash);
      if (!m) return;
      setLinked(m);
      setToggled((t) => (t.get(m.step) ? t : new Map(t).set(m.step, true)));
      setFollow(false);
      setScrollKey((k) => k + 1);
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const t = setTimeout(() => setNeedle(typed), 200);
    return () => clearTimeout(t);
  }, [typed]);

  // A step opened because it ran stays open when it ends: the reader was following it.
  const ranOpen = useRef(new Set<number>());
  const expanded = useMemo(() => {
    const open = new Set<number>();
    for (const s of steps) {
      if (s.status === "running" && !s.background) ranOpen.current.add(s.index);
      const byDefault = s.status === "failed" || s.status === "timedout" || ranOpen.current.has(s.index);
      if (toggled.get(s.index) ?? byDefault) open.add(s.index);
    }
    if (linked && toggled.get(linked.step) !== false) open.add(linked.step);
    return open;
  }, [steps, toggled, linked]);

  const { outputs, version, connection } = useStepOutputs(base, steps, expanded, ended);
  // biome-ignore lint/correctness/useExhaustiveDependencies: outputs grow in place; version says when
  const found = useMemo(
    () =>
      searchSteps(
        steps.map((s) => ({ index: s.index, output: outputs.get(s.index) ?? emptyOutput })),
        needle,
      ),
    [needle, steps, version],
  );
  const match = found.matches[Math.min(current, found.matches.length - 1)];
  // A new search shows its first match.
  const firstMatch = found.matches[0];
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per search, not per new line
  useEffect(() => {
    if (!firstMatch) return;
    setToggled((t) => (t.get(firstMatch.step) ? t : new Map(t).set(firstMatch.step, true)));
    setFollow(false);
    setScrollKey((k) => k + 1);
  }, [needle, firstMatch === undefined]);
  const highlight = needle && match ? match : linked;

  const go = (delta: number) => {
    if (found.matches.length === 0) return;
    const next = (current + delta + found.matches.length) % found.matches.length;
    setCurrent(next);
    const m = found.matches[next]!;
    setToggled((t) => new Map(t).set(m.step, true));
    setFollow(false);
    setScrollKey((k) => k + 1);
  };
  const toggle = (step: number) => setToggled((t) => new Map(t).set(step, !expanded.has(step)));
  const allOpen = steps.length > 0 && steps.every((s) => expanded.has(s.index));

  return (
    <>
      <div className="toolbar" role="toolbar" aria-label="Output">
        <label htmlFor={ids.search} className="visually-hidden">
          Search output
        </label>
        <input
          id={ids.search}
          type="search"
          placeholder="Search output"
          value={typed}
          onChange={(e) => {
            setTyped(e.target.value);
            setCurrent(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              go(e.shiftKey ? -1 : needle === typed ? 1 : 0);
            }
          }}
        />
        <span className="count" aria-live="polite">
          {needle
            ? found.matches.length === 0
              ? "No matches"
              : `${Math.min(current, found.matches.length - 1) + 1} of ${found.matches.length}${found.truncated ? "+" : ""}`
            : ""}
        </span>
        <button type="button" onClick={() => go(-1)} disabled={found.matches.length === 0}>
          Previous<span className="visually-hidden"> match</span>
        </button>
        <button type="button" onClick={() => go(1)} disabled={found.matches.length === 0}>
          Next<span className="visually-hidden"> match</span>
        </button>
        <button type="button" aria-pressed={showTimes} onClick={() => setShowTimes(!showTimes)}>
          Timestamps
        </button>
        <button type="button" aria-pressed={follow} onClick={() => setFollow(!follow)}>
          Follow
        </button>
        <button
          type="button"
          onClick={() => setToggled(new Map(steps.map((s) => [s.index, !allOpen])))}
          disabled={steps.length === 0}
        >
          {allOpen ? "Collapse all" : "Expand all"}
        </button>
        <a href={`${base}?format=raw`} download>
          Download raw output
        </a>
        <span className={`connection ${connection}`} role="status">
          {connection === "reconnecting" ? "Reconnecting…" : connection === "live" ? "Live" : "Complete"}
        </span>
      </div>
      {steps.length === 0 ? (
        <p>{ended ? "This job ran no steps on this node." : "Waiting for the first step…"}</p>
      ) : (
        <OutputViewer
          steps={steps}
          outputs={outputs}
          version={version}
          expanded={expanded}
          onToggle={toggle}
          rawHref={(step) => `${base}/${step}?format=raw`}
          showTimes={showTimes}
          highlight={highlight}
          scrollKey={scrollKey}
          search={needle || undefined}
          follow={follow}
          onUserScroll={(atEnd) => {
            if (!atEnd && follow) setFollow(false);
          }}
          onLineLink={(m) => {
            window.history.replaceState(null, "", `#${lineAnchor(m.step, m.line)}`);
            setLinked(m);
            setFollow(false);
          }}
        />
      )}
    </>
  );
}

const emptyOutput = new StepOutput();

function Tests({ slug, number }: { slug: string; number: number }) {
  const tests = useQuery({
    queryKey: ["tests", slug, number],
    queryFn: () => api.get<Page<TestResult>>(`/api/v2/project/${slugPath(slug)}/${number}/tests`),
  });
  if (tests.isError) return <Failure error={tests.error} />;
  if (!tests.data) return <p aria-busy="true">Loading tests…</p>;
  const items = [...tests.data.items].sort(
    (a, b) =>
      Number(b.result === "failure" || b.result === "error") -
      Number(a.result === "failure" || a.result === "error"),
  );
  if (items.length === 0) return <p>No test results were stored (store_test_results).</p>;
  const failures = items.filter((t) => t.result === "failure" || t.result === "error").length;
  return (
    <>
      <p>
        {items.length} tests, {failures} failed
      </p>
      <ul className="tests">
        {items.map((t, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: test names repeat across files
          <li key={i} className={t.result}>
            <StatusChip
              status={t.result === "success" ? "success" : t.result === "skipped" ? "not_run" : "failed"}
              small
            />{" "}
            <strong>{t.name}</strong> <span className="muted">{t.classname}</span>
            {t.file && <span className="file"> {t.file}</span>}
            {t.message && <pre className="test-message">{t.message}</pre>}
          </li>
        ))}
      </ul>
    </>
  );
}

function Artifacts({ slug, number }: { slug: string; number: number }) {
  const artifacts = useQuery({
    queryKey: ["artifacts", slug, number],
    queryFn: () => api.get<Page<Artifact>>(`/api/v2/project/${slugPath(slug)}/${number}/artifacts`),
  });
  if (artifacts.isError) return <Failure error={artifacts.error} />;
  if (!artifacts.data) return <p aria-busy="true">Loading artifacts…</p>;
  if (artifacts.data.items.length === 0) return <p>No artifacts were stored (store_artifacts).</p>;
  return (
    <ul className="artifacts">
      {artifacts.data.items.map((a) => (
        <li key={`${a.node_index}/${a.path}`}>
          <a href={a.url}>{a.path}</a> <span className="muted">node {a.node_index}</span>
        </li>
      ))}
    </ul>
  );
}

function Resources({ details: d }: { details: JobDetails }) {
  return (
    <>
      <dl className="resources">
        <dt>Executor</dt>
        <dd>{d.executor.type}</dd>
        <dt>Resource class</dt>
        <dd>{d.executor.resource_class || "default"}</dd>
        <dt>Parallelism</dt>
        <dd>{d.parallelism}</dd>
        <dt>Queued</dt>
        <dd>{d.queued_at ? between(d.queued_at, d.started_at) || "—" : "—"}</dd>
        <dt>Started</dt>
        <dd>{d.started_at ? new Date(d.started_at).toLocaleString() : "—"}</dd>
        <dt>Stopped</dt>
        <dd>{d.stopped_at ? new Date(d.stopped_at).toLocaleString() : "—"}</dd>
      </dl>
      <table className="runs">
        <caption>Runs</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Builder node</th>
            <th scope="col">Ran</th>
          </tr>
        </thead>
        <tbody>
          {d.parallel_runs.map((r) => (
            <tr key={r.index}>
              <td>node {r.index}</td>
              <td>
                <StatusChip status={r.status} small />
              </td>
              <td>{r.node ? (r.node.name ?? r.node.id) : "—"}</td>
              <td>{r.started_at ? between(r.started_at, r.stopped_at) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
