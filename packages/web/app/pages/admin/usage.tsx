/**
 * Usage statistics (`/admin/usage?week=2026-W48`): one ISO week's build minutes by
 * organization, platform, executor and resource class, its active users, and its jobs by
 * project and status, as tables, with each table's CSV download. Without a week (or `week=this`):
 * the week under way, so far (a new installation's first week is not empty); `week=last`: the
 * last full week.
 */
import { useQuery } from "@tanstack/react-query";
import { useId } from "react";
import { useLocation, useSearch } from "wouter";
import { api, query } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { statusLabel } from "../../status.tsx";
import { type Column, DataTable } from "../../table.tsx";
import { plural, Time, utc } from "./common.tsx";
import type { UsageJson } from "./types.ts";

const REPORTS = [
  { id: "account_usage", label: "Build minutes (CSV)" },
  { id: "job_activity", label: "Job activity (CSV)" },
  { id: "active_users", label: "Active users (CSV)" },
];

const WEEK = /^\d{4}-W\d{2}$/;
const minutes = (m: number) => m.toLocaleString("en-US", { maximumFractionDigits: 2 });

export function UsageSection() {
  const week = new URLSearchParams(useSearch()).get("week") || "this";
  const [location, navigate] = useLocation();
  const usage = useQuery({
    queryKey: ["admin", "usage", week],
    queryFn: () => api.get<UsageJson>(`/api/gyre/usage${query({ week })}`),
    staleTime: 60_000,
    refetchOnWindowFocus: false,
  });
  const pickerId = useId();
  const choose = (next: string) => navigate(`${location}${query({ week: next })}`);
  const u = usage.data;
  // The CSVs of the week answered (not "this" or none, which move as time passes).
  const csv = (report: string) => `/api/gyre/usage${query({ week: u?.week, format: "csv", report })}`;
  return (
    <>
      <form className="filters" aria-label="Choose a week" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={pickerId}>Week</label>
        <input
          id={pickerId}
          type="week"
          value={WEEK.test(week) ? week : (u?.week ?? "")}
          onChange={(e) => {
            if (WEEK.test(e.target.value)) choose(e.target.value);
          }}
        />
        <button type="button" aria-pressed={week === "this"} onClick={() => choose("this")}>
          This week so far
        </button>
        <button type="button" aria-pressed={week === "last"} onClick={() => choose("last")}>
          Last full week
        </button>
      </form>
      {usage.isError && <Failure error={usage.error} />}
      {usage.isPending && <p aria-busy="true">Counting the week…</p>}
      {u && (
        <>
          <h2>
            {u.week}{" "}
            <span className="muted">
              {utc(u.from).slice(0, 10)} to {utc(new Date(Date.parse(u.to) - 1).toISOString()).slice(0, 10)}
              {u.complete ? "" : ", so far"}
            </span>
          </h2>
          {u.note && <p className="hint">{u.note}</p>}
          <p className="meta">
            <span>
              <strong>{minutes(u.totals.build_minutes)}</strong> build minutes
            </span>
            <span>{plural(u.totals.jobs, "job")}</span>
            <span>{plural(u.totals.tasks, "task")}</span>
            <span>{plural(u.active_users.count, "active user")}</span>
            <span>
              projects: {u.projects.total}, {u.projects.building} building, {u.projects.new} new
            </span>
            <span>
              counted <Time value={u.generated_at} />
            </span>
          </p>
          <p className="links">
            Download:{" "}
            {REPORTS.map((r, i) => (
              <span key={r.id}>
                {i > 0 && " · "}
                <a href={csv(r.id)} download>
                  {r.label}
                </a>
              </span>
            ))}
          </p>
          <AccountUsage usage={u} />
          <ActiveUsers usage={u} />
          <JobActivity usage={u} />
        </>
      )}
    </>
  );
}

const ACCOUNT_COLUMNS: Column<UsageJson["account_usage"][number]>[] = [
  { header: "Organization", cell: (r) => r.organization },
  { header: "Platform", cell: (r) => r.platform },
  { header: "Executor", cell: (r) => r.executor },
  { header: "Resource class", cell: (r) => r.resource_class },
  { header: "Jobs", className: "num", cell: (r) => r.jobs },
  { header: "Tasks", className: "num", cell: (r) => r.tasks },
  { header: "Build minutes", className: "num", cell: (r) => minutes(r.build_minutes) },
];

const USER_COLUMNS: Column<UsageJson["active_users"]["users"][number]>[] = [
  { header: "Login", cell: (a) => a.login ?? <span className="muted">unknown</span> },
  { header: "Name", cell: (a) => a.name ?? "" },
  { header: "Has an account", cell: (a) => (a.registered ? "yes" : "no") },
  { header: "Pipelines", className: "num", cell: (a) => a.pipelines },
  { header: "Reruns", className: "num", cell: (a) => a.reruns },
  { header: "Approvals", className: "num", cell: (a) => a.approvals },
];

function AccountUsage({ usage: u }: { usage: UsageJson }) {
  return (
    <section aria-labelledby="usage-minutes">
      <h3 id="usage-minutes">Build minutes by resource class and platform</h3>
      <DataTable
        className="usage-table"
        items={u.account_usage}
        rowKey={(r) => `${r.organization}/${r.platform}/${r.executor}/${r.resource_class}`}
        columns={ACCOUNT_COLUMNS}
        empty={<p className="muted">No build ran this week.</p>}
      />
    </section>
  );
}

function ActiveUsers({ usage: u }: { usage: UsageJson }) {
  return (
    <section aria-labelledby="usage-users">
      <h3 id="usage-users">Active users ({u.active_users.count})</h3>
      <DataTable
        className="usage-table"
        items={u.active_users.users}
        rowKey={(a) => a.id}
        columns={USER_COLUMNS}
        empty={<p className="muted">Nobody made work run this week.</p>}
      />
    </section>
  );
}

function JobActivity({ usage: u }: { usage: UsageJson }) {
  // Only the statuses some project's jobs ended in this week get a column.
  const statuses = [
    ...new Set(u.job_activity.flatMap((r) => Object.keys(r.by_status).filter((s) => r.by_status[s]! > 0))),
  ];
  return (
    <section aria-labelledby="usage-jobs">
      <h3 id="usage-jobs">Jobs by status and project</h3>
      <DataTable
        className="usage-table"
        items={u.job_activity}
        rowKey={(r) => r.project}
        columns={[
          { header: "Project", rowHeader: true, cell: (r) => r.project },
          { header: "Jobs", className: "num", cell: (r) => r.jobs },
          ...statuses.map(
            (s): Column<UsageJson["job_activity"][number]> => ({
              key: s,
              header: statusLabel(s),
              className: "num",
              cell: (r) => r.by_status[s] ?? 0,
            }),
          ),
          { header: "Build minutes", className: "num", cell: (r) => minutes(r.build_minutes) },
        ]}
        empty={<p className="muted">No project had jobs this week.</p>}
      />
    </section>
  );
}
