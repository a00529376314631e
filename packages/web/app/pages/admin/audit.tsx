/**
 * The audit log (`/admin/audit`): records newest first, filtered by action (exact, or a prefix
 * ending in a dot), actor, target (an id or a name) and a time range, the filters kept in the
 * page's address. Pages follow the API's page token (a page of a narrow filter may be short or
 * empty with more to read). Each record opens to its whole JSON; the export links download the
 * same filters' records as CSV or JSON.
 */

import { AUDIT_ACTIONS } from "@gyre/core/audit/actions";
import { useInfiniteQuery } from "@tanstack/react-query";
import { type FormEvent, Fragment, useId, useState } from "react";
import { useLocation, useSearch } from "wouter";
import { api, query } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { plural, Time } from "./common.tsx";
import type { AuditRecord } from "./types.ts";

const FILTERS = ["action", "actor", "target", "from", "to"] as const;
type Filter = (typeof FILTERS)[number];
const PAGE_SIZE = 50;

/** The actions Gyre records, and each family's prefix, offered as the action field's suggestions. */
const ACTIONS = [...new Set(AUDIT_ACTIONS.flatMap((a) => [`${a.split(".")[0]}.`, a]))];

const entity = (e: { id: string; type: string; name?: string }) => (
  <span title={`${e.type} ${e.id}`}>
    {e.name ?? e.id} <span className="muted">({e.type})</span>
  </span>
);

export function AuditSection() {
  const search = new URLSearchParams(useSearch());
  const [location, navigate] = useLocation();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, search.get(f) ?? ""])) as Record<Filter, string>;
  const path = `/api/gyre/audit${query({ ...filters, limit: PAGE_SIZE })}`;
  const records = useInfiniteQuery({
    queryKey: ["admin", "audit", path],
    queryFn: ({ pageParam }) =>
      api.get<{ items: AuditRecord[]; next_page_token: string | null }>(
        pageParam ? `${path}&page-token=${encodeURIComponent(pageParam)}` : path,
      ),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
    refetchOnWindowFocus: false,
  });
  const [open, setOpen] = useState<Set<string>>(new Set());
  const id = useId();
  const ids = Object.fromEntries(FILTERS.map((f) => [f, `${id}-${f}`])) as Record<Filter, string>;

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = Object.fromEntries(FILTERS.map((f) => [f, String(form.get(f) ?? "").trim()]));
    navigate(`${location}${query(next)}`);
  };
  const items = records.data?.pages.flatMap((p) => p.items) ?? [];
  const exportQuery = (format: string) => `/api/gyre/audit/export${query({ ...filters, format })}`;
  const toggle = (id: string) => {
    const next = new Set(open);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpen(next);
  };

  return (
    <>
      <form
        className="filters audit-filters"
        aria-label="Filter audit records"
        onSubmit={apply}
        key={search.toString()}
      >
        <label htmlFor={ids.action}>Action</label>
        <input
          id={ids.action}
          name="action"
          defaultValue={filters.action}
          list={`${ids.action}-list`}
          placeholder="user. or user.suspend"
        />
        <datalist id={`${ids.action}-list`}>
          {ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <label htmlFor={ids.actor}>Actor</label>
        <input id={ids.actor} name="actor" defaultValue={filters.actor} placeholder="id or name" />
        <label htmlFor={ids.target}>Target</label>
        <input id={ids.target} name="target" defaultValue={filters.target} placeholder="id or name" />
        <label htmlFor={ids.from}>From (UTC)</label>
        <input id={ids.from} name="from" type="datetime-local" step="1" defaultValue={filters.from} />
        <label htmlFor={ids.to}>To (UTC)</label>
        <input id={ids.to} name="to" type="datetime-local" step="1" defaultValue={filters.to} />
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={() => navigate(location)}>
          Clear
        </button>
      </form>
      <p className="hint">
        Without From and To: the last 24 hours; at most 31 days at once. An action ending in a dot (
        <code>user.</code>) matches every action it begins.
      </p>
      <p className="links">
        <a href={exportQuery("csv")} download>
          Export CSV
        </a>{" "}
        · <a href={exportQuery("json")}>Export JSON</a>{" "}
        <span className="muted">(the same filters, oldest first, at most 10,000 records)</span>
      </p>
      {records.isError && <Failure error={records.error} />}
      {records.isPending && <p aria-busy="true">Loading audit records…</p>}
      {records.data && (
        <p className="meta" aria-live="polite">
          {plural(items.length, "record")} shown{records.hasNextPage ? "; there may be more" : ""}.
        </p>
      )}
      {items.length > 0 && (
        <table className="data audit">
          <caption className="visually-hidden">Audit records, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Occurred at</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
              <th scope="col">Success</th>
              <th scope="col">Record</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => {
              const expanded = open.has(r.id);
              const detailsId = `audit-${r.id}`;
              return (
                <Fragment key={r.id}>
                  <tr data-action={r.action}>
                    <td>
                      <Time value={r.occurred_at} />
                    </td>
                    <td>
                      <code>{r.action}</code>
                    </td>
                    <td>{entity(r.actor)}</td>
                    <td>{entity(r.target)}</td>
                    <td>{r.success ? "yes" : <strong className="error">no</strong>}</td>
                    <td>
                      <button
                        type="button"
                        className="small"
                        aria-expanded={expanded}
                        aria-controls={expanded ? detailsId : undefined}
                        onClick={() => toggle(r.id)}
                      >
                        {expanded ? "Hide" : "Show"}
                        <span className="visually-hidden">
                          {" "}
                          the record {r.action} of {r.occurred_at}
                        </span>
                      </button>
                    </td>
                  </tr>
                  {expanded && (
                    <tr className="details" id={detailsId}>
                      <td colSpan={6}>
                        <pre className="json">{JSON.stringify(r, null, 2)}</pre>
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
      {records.data && items.length === 0 && !records.hasNextPage && <p>No audit records match.</p>}
      {records.hasNextPage && (
        <p>
          {items.length === 0 && <span className="muted">None found in the hours read so far. </span>}
          <button
            type="button"
            onClick={() => void records.fetchNextPage()}
            disabled={records.isFetchingNextPage}
          >
            Load more
          </button>
        </p>
      )}
    </>
  );
}
