/**
 * The fleet (`/admin/fleet`): the builder nodes as the Nomad API shows them (status, drain,
 * scheduling eligibility, the resource classes each offers, its size), kept live, with
 * Nomad's operator actions: drain (with a deadline or none) and end a drain, mark eligible or
 * ineligible. A node's details (`?node=<id>`) show its resources, its reserve, its drain and
 * the allocations running on it. Below, the job queues: what waits on each, and why.
 */
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { api, query, slugPath } from "../../api.ts";
import { duration } from "../../format.ts";
import { Failure } from "../../layout.tsx";
import { jobHref } from "../../links.ts";
import { StatusChip } from "../../status.tsx";
import { type Column, DataTable } from "../../table.tsx";
import type { JobDetails } from "../../types.ts";
import { ADMIN_LIVE_MS, memory, Outcome, plural, Time, useAction, utc } from "./common.tsx";
import type { NomadAllocation, NomadNode, NomadNodeStub, QueueReport } from "./types.ts";

const NODES_KEY = ["admin", "nomad-nodes"];
const nodePath = (id: string) => `/v1/node/${encodeURIComponent(id)}`;
/** CPU shares per vCPU, as Gyre's Nomad API counts them. */
const SHARES_PER_CPU = 1000;

const DEADLINES = [
  { label: "No deadline: let running jobs finish", seconds: 0 },
  { label: "10 minutes", seconds: 600 },
  { label: "1 hour", seconds: 3600 },
  { label: "4 hours", seconds: 4 * 3600 },
];

const classesOf = (n: NomadNodeStub) =>
  (n.Attributes["gyre.resource_classes"] ?? "").split(",").filter((c) => c !== "");

/** A node's size from its fingerprint: `16 vCPU, 32 GB`. */
function sizeOf(n: NomadNodeStub): string {
  const cores = n.Attributes["cpu.numcores"];
  const bytes = Number(n.Attributes["memory.totalbytes"] ?? Number.NaN);
  if (!cores) return "";
  return `${cores} vCPU${Number.isNaN(bytes) ? "" : `, ${memory(Math.round(bytes / 2 ** 20))}`}`;
}

const shortId = (id: string) => id.slice(0, 8);

export function FleetSection() {
  const search = new URLSearchParams(useSearch());
  const selected = search.get("node") ?? undefined;
  const [location] = useLocation();
  const nodes = useQuery({
    queryKey: NODES_KEY,
    queryFn: () => api.get<NomadNodeStub[]>("/v1/nodes"),
    refetchInterval: ADMIN_LIVE_MS,
  });
  const action = useAction([NODES_KEY, ["admin", "nomad-node"], ["admin", "queues"]]);
  const list = nodes.data ?? [];
  const ready = list.filter((n) => n.Status === "ready");
  return (
    <>
      <h2>Builder nodes</h2>
      <p className="meta">
        {nodes.data && (
          <>
            <span>{plural(list.length, "node")}</span>
            <span>{ready.length} ready</span>
            <span>{ready.filter((n) => n.Drain).length} draining</span>
            <span>{ready.filter((n) => n.SchedulingEligibility === "ineligible").length} ineligible</span>
          </>
        )}
      </p>
      <Outcome error={action.error} done={action.done} />
      {nodes.isError && <Failure error={nodes.error} />}
      {nodes.isPending && <p aria-busy="true">Loading nodes…</p>}
      {nodes.data && (
        <DataTable
          label="Builder nodes"
          caption
          className="nodes-table"
          items={list}
          rowKey={(n) => n.ID}
          rowProps={(n) => ({ "data-node": n.ID, "aria-current": n.ID === selected ? "true" : undefined })}
          columns={nodeColumns(location, action)}
          empty={<p>No builder node has registered.</p>}
        />
      )}
      {selected && <NodeDetails id={selected} />}
      <Queues />
    </>
  );
}

/** The nodes table's columns: a node's name opens its details at `location`. */
const nodeColumns = (location: string, action: ReturnType<typeof useAction>): Column<NomadNodeStub>[] => [
  {
    header: "Name",
    rowHeader: true,
    cell: (n) => (
      <Link href={`${location}${query({ node: n.ID })}`} aria-label={`Details of node ${n.Name || n.ID}`}>
        {n.Name || n.ID}
      </Link>
    ),
  },
  { header: "ID", cell: (n) => <code title={n.ID}>{shortId(n.ID)}</code> },
  {
    header: "Status",
    cell: (n) => (
      <>
        <span className={`chip ${n.Status === "ready" ? "good" : "bad"}`} data-status={n.Status}>
          {n.Status}
        </span>
        {n.StatusDescription && <div className="muted small">{n.StatusDescription}</div>}
      </>
    ),
  },
  { header: "Drain", cell: (n) => (n.Drain ? <strong className="draining">draining</strong> : "no") },
  {
    header: "Eligibility",
    cell: (n) => (
      <span className={n.SchedulingEligibility === "eligible" ? "" : "warn"}>{n.SchedulingEligibility}</span>
    ),
  },
  {
    header: "Resource classes",
    cell: (n) => classesOf(n).join(", ") || <span className="muted">every class</span>,
  },
  { header: "Size", cell: sizeOf },
  { header: "Version", cell: (n) => n.Version },
  {
    header: "Actions",
    cell: (n) =>
      n.Status === "ready" ? (
        <NodeActions node={n} action={action} />
      ) : (
        <span className="muted">none: it is down</span>
      ),
  },
];

function NodeActions({ node: n, action }: { node: NomadNodeStub; action: ReturnType<typeof useAction> }) {
  const [draining, setDraining] = useState(false);
  const name = n.Name || n.ID;
  const { busy, run } = action;
  const eligibility = (eligible: boolean) =>
    run(
      () => api.post(`${nodePath(n.ID)}/eligibility`, { Eligibility: eligible ? "eligible" : "ineligible" }),
      `Node ${name} is ${eligible ? "eligible" : "ineligible"} for new jobs.`,
    );
  if (draining) return <DrainForm node={n} action={action} close={() => setDraining(false)} />;
  return (
    <div className="row-actions">
      {n.Drain ? (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            void run(
              () => api.post(`${nodePath(n.ID)}/drain`, { DrainSpec: null, MarkEligible: true, Meta: null }),
              `The drain of node ${name} ended: it takes new jobs again.`,
            )
          }
        >
          End drain<span className="visually-hidden"> of node {name}</span>
        </button>
      ) : (
        <>
          <button type="button" disabled={busy} onClick={() => setDraining(true)}>
            Drain…<span className="visually-hidden"> node {name}</span>
          </button>
          {n.SchedulingEligibility === "eligible" ? (
            <button type="button" disabled={busy} onClick={() => void eligibility(false)}>
              Disable eligibility<span className="visually-hidden"> of node {name}</span>
            </button>
          ) : (
            <button type="button" disabled={busy} onClick={() => void eligibility(true)}>
              Enable eligibility<span className="visually-hidden"> of node {name}</span>
            </button>
          )}
        </>
      )}
    </div>
  );
}

/** Nomad's `node drain -enable [-deadline]`, confirmed: the node takes no new job from then on. */
function DrainForm({
  node: n,
  action,
  close,
}: {
  node: NomadNodeStub;
  action: ReturnType<typeof useAction>;
  close: () => void;
}) {
  const id = useId();
  const name = n.Name || n.ID;
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const seconds = Number(new FormData(event.currentTarget).get("deadline") ?? 0);
    const ok = await action.run(
      () =>
        api.post(`${nodePath(n.ID)}/drain`, {
          DrainSpec: { Deadline: seconds * 1_000_000_000, IgnoreSystemJobs: false },
          Meta: null,
        }),
      `Node ${name} is draining: it takes no new job${seconds ? `, and what still runs in ${duration(seconds * 1000)} is stopped and retried elsewhere` : ""}.`,
    );
    if (ok) close();
  };
  return (
    <form
      className="drain-form"
      aria-label={`Drain node ${name}`}
      onSubmit={submit}
      onKeyDown={(e) => {
        if (e.key === "Escape") close();
      }}
    >
      <label htmlFor={id}>Deadline</label>
      {/* biome-ignore lint/a11y/noAutofocus: the form opens on the Drain button's press; focus goes into it. */}
      <select id={id} name="deadline" defaultValue="0" autoFocus>
        {DEADLINES.map((d) => (
          <option key={d.seconds} value={d.seconds}>
            {d.label}
          </option>
        ))}
      </select>
      <button type="submit" className="danger" disabled={action.busy}>
        Start drain<span className="visually-hidden"> of node {name}</span>
      </button>
      <button type="button" onClick={close}>
        Cancel
      </button>
    </form>
  );
}

const ALLOCATION_COLUMNS: Column<NomadAllocation>[] = [
  { header: "Allocation", cell: (a) => <code title={a.ID}>{shortId(a.ID)}</code> },
  { header: "Job", cell: (a) => <AllocationJob allocation={a} /> },
  { header: "Status", cell: (a) => a.ClientStatus },
  {
    header: "Started",
    cell: (a) =>
      a.TaskStates.build?.StartedAt && !a.TaskStates.build.StartedAt.startsWith("0001") ? (
        <Time value={a.TaskStates.build.StartedAt} />
      ) : (
        <span className="muted">not yet</span>
      ),
  },
  {
    header: "Resources",
    cell: (a) => (
      <>
        {a.Resources.CPU / SHARES_PER_CPU} vCPU, {memory(a.Resources.MemoryMB)}
      </>
    ),
  },
];

function NodeDetails({ id }: { id: string }) {
  const [location] = useLocation();
  const node = useQuery({
    queryKey: ["admin", "nomad-node", id],
    queryFn: () => api.get<NomadNode>(nodePath(id)),
    refetchInterval: ADMIN_LIVE_MS,
  });
  const allocations = useQuery({
    queryKey: ["admin", "nomad-node", id, "allocations"],
    queryFn: () => api.get<NomadAllocation[]>(`${nodePath(id)}/allocations`),
    refetchInterval: ADMIN_LIVE_MS,
  });
  const n = node.data;
  const running = (allocations.data ?? []).filter(
    (a) => a.ClientStatus === "running" || a.ClientStatus === "pending",
  );
  const cpus = (r: { Cpu: { CpuShares: number } }) => r.Cpu.CpuShares / SHARES_PER_CPU;
  return (
    <section className="node-details" aria-labelledby={`node-${id}`}>
      <h2 id={`node-${id}`}>Node {n?.Name ?? shortId(id)}</h2>
      <p className="links">
        <Link href={location}>Close the node's details</Link>
      </p>
      {node.isError && <Failure error={node.error} />}
      {n && (
        <dl className="resources">
          <dt>ID</dt>
          <dd>
            <code>{n.ID}</code>
          </dd>
          <dt>Status</dt>
          <dd>
            {n.Status}
            {n.StatusDescription ? `: ${n.StatusDescription}` : ""}
          </dd>
          <dt>Datacenter, pool</dt>
          <dd>
            {n.Datacenter}, {n.NodePool}
          </dd>
          <dt>Node class</dt>
          <dd>{n.NodeClass || <span className="muted">none</span>}</dd>
          <dt>Resource classes</dt>
          <dd>{classesOf(n).join(", ") || "every class"}</dd>
          <dt>Resources</dt>
          <dd>
            {cpus(n.NodeResources)} vCPU, {memory(n.NodeResources.Memory.MemoryMB)}
          </dd>
          <dt>Reserved</dt>
          <dd>
            {cpus(n.ReservedResources)} vCPU, {memory(n.ReservedResources.Memory.MemoryMB)}
          </dd>
          <dt>In use</dt>
          <dd>
            {running.reduce((s, a) => s + a.Resources.CPU, 0) / SHARES_PER_CPU} vCPU,{" "}
            {memory(running.reduce((s, a) => s + a.Resources.MemoryMB, 0))}
          </dd>
          <dt>Drain</dt>
          <dd>
            {n.DrainStrategy ? (
              <>
                since {utc(n.DrainStrategy.StartedAt)}
                {n.DrainStrategy.Deadline > 0
                  ? `, deadline ${utc(n.DrainStrategy.ForceDeadline)}`
                  : ", no deadline"}
              </>
            ) : (
              "not draining"
            )}
          </dd>
          <dt>Eligibility</dt>
          <dd>{n.SchedulingEligibility}</dd>
        </dl>
      )}
      <h3>Running allocations</h3>
      {allocations.isError && <Failure error={allocations.error} />}
      {allocations.data && (
        <DataTable
          label={`Allocations running on node ${n?.Name ?? id}`}
          caption
          items={running}
          rowKey={(a) => a.ID}
          columns={ALLOCATION_COLUMNS}
          empty={<p className="muted">Nothing runs on this node.</p>}
        />
      )}
    </section>
  );
}

/** The CI job an allocation runs, linked to its page (found through API v2 by its number). */
function AllocationJob({ allocation: a }: { allocation: NomadAllocation }) {
  const { project, job_name, job_number } = a.Job.Meta;
  const job = useQuery({
    queryKey: ["admin", "alloc-job", project, job_number],
    queryFn: () => api.get<JobDetails>(`/api/v2/project/${slugPath(project ?? "")}/job/${job_number}`),
    enabled: Boolean(project && job_number),
    staleTime: Number.POSITIVE_INFINITY,
  });
  const label = project ? `${project} #${job_number} ${job_name ?? ""}` : a.JobID;
  const path = job.data?.web_url ? new URL(job.data.web_url, location.origin).pathname : undefined;
  return path ? <Link href={path}>{label}</Link> : <span>{label}</span>;
}

const QUEUE_COLUMNS: Column<QueueReport["queues"][number]>[] = [
  { header: "Resource class", rowHeader: true, cell: (q) => q.resource_class },
  { header: "Queue", cell: (q) => <code>{q.queue ?? "none"}</code> },
  {
    header: "Messages waiting",
    cell: (q) => (
      <>
        {q.waiting}
        {q.delayed > 0 && <span className="muted"> (+{q.delayed} delayed)</span>}
      </>
    ),
  },
  { header: "In flight", cell: (q) => q.in_flight },
  {
    header: "Dead letters",
    cellClassName: (q) => (q.dead_letter && q.dead_letter.waiting > 0 ? "error" : undefined),
    cell: (q) => (q.dead_letter ? q.dead_letter.waiting : <span className="muted">none</span>),
  },
  {
    header: "Jobs waiting",
    cell: (q) => (
      <>
        {q.jobs_waiting}
        {q.oldest_queued_at && (
          <div className="muted small">
            oldest since <Time value={q.oldest_queued_at} />
          </div>
        )}
      </>
    ),
  },
  {
    header: "Why they wait",
    cell: (q) => (
      <>
        {q.error && (
          <span role="alert" className="error">
            Could not read the queue: {q.error}
          </span>
        )}
        {q.reason ? q.reason.message : !q.error && <span className="muted">nothing waits</span>}
      </>
    ),
  },
];

const WAITING_COLUMNS: Column<QueueReport["jobs"][number]>[] = [
  {
    header: "Job",
    cell: (j) => (
      <Link href={jobHref(j.project_slug, j.pipeline_number, j.workflow_id, j.number)}>
        {j.project_slug} #{j.number} {j.name}
      </Link>
    ),
  },
  { header: "Status", cell: (j) => <StatusChip status={j.status} small /> },
  {
    header: "Resource class",
    cell: (j) => (
      <>
        {j.resource_class}
        {j.queue_class !== j.resource_class && <span className="muted"> (on the {j.queue_class} queue)</span>}
      </>
    ),
  },
  { header: "Waiting for", cell: (j) => duration(j.waited_seconds * 1000) },
  { header: "Parallel runs waiting", cell: (j) => j.allocations_waiting },
];

function Queues() {
  const queues = useQuery({
    queryKey: ["admin", "queues"],
    queryFn: () => api.get<QueueReport>("/api/gyre/queues"),
    refetchInterval: ADMIN_LIVE_MS,
  });
  const r = queues.data;
  return (
    <section aria-labelledby="queues-heading">
      <h2 id="queues-heading">Job queues</h2>
      {queues.isError && <Failure error={queues.error} />}
      {queues.isPending && <p aria-busy="true">Loading queues…</p>}
      {r && (
        <>
          <p className="meta">
            <span>
              Checked <Time value={r.checked_at} />
            </span>
            <span>{plural(r.jobs.length, "job")} waiting for a builder</span>
          </p>
          <DataTable
            label="Job queues by resource class"
            caption
            className="queues"
            items={r.queues}
            rowKey={(q) => q.resource_class}
            rowProps={(q) => ({ "data-class": q.resource_class })}
            columns={QUEUE_COLUMNS}
          />
          {r.jobs.length > 0 && (
            <>
              <h3>Waiting jobs, oldest first</h3>
              <DataTable
                label="Jobs waiting for a builder"
                caption
                className="waiting-jobs"
                items={r.jobs}
                rowKey={(j) => j.id}
                columns={WAITING_COLUMNS}
              />
            </>
          )}
        </>
      )}
    </section>
  );
}
