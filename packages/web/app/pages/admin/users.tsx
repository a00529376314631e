/**
 * Users (`/admin/users`): every person with an account, their state and role, the seats they
 * take, and the reference's procedures, one button each: suspend, activate or reactivate, make
 * or remove an administrator, delete (the hard-to-undo ones ask first). A user's details and
 * tokens open beneath their row; a token can be revoked there. The API refuses what may not be
 * done (yourself, the last administrator) and its message is shown.
 */
import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { useUser } from "../../session.tsx";
import { DataTable } from "../../table.tsx";
import { ConfirmButton, Outcome, plural, Time, useAction } from "./common.tsx";
import type { AdminUser, TokenInfo, UserList, UserState } from "./types.ts";

const USERS_KEY = ["admin", "users"];
const STATES: UserState[] = ["active", "inactive", "suspended", "suspended-new"];
const STATE_KIND: Record<UserState, string> = {
  active: "good",
  inactive: "off",
  suspended: "bad",
  "suspended-new": "waiting",
};

const userPath = (u: AdminUser) => `/api/gyre/users/${encodeURIComponent(u.id)}`;

export function UsersSection() {
  const users = useQuery({ queryKey: USERS_KEY, queryFn: () => api.get<UserList>("/api/gyre/users") });
  const [state, setState] = useState<UserState | "">("");
  const [open, setOpen] = useState<string>();
  const action = useAction([USERS_KEY]);
  const filterId = useId();
  const list = users.data;
  const shown = list?.items.filter((u) => !state || u.state === state) ?? [];
  return (
    <>
      <p className="meta">
        {list && (
          <>
            <span>{plural(list.seats, "seat")} in use</span>
            {STATES.map((s) => (
              <span key={s}>
                {list.counts[s] ?? 0} {s}
              </span>
            ))}
          </>
        )}
      </p>
      <form className="filters" aria-label="Filter users" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={filterId}>State</label>
        <select id={filterId} value={state} onChange={(e) => setState(e.target.value as UserState | "")}>
          <option value="">Every state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </form>
      <Outcome error={action.error} done={action.done} />
      {users.isError && <Failure error={users.error} />}
      {users.isPending && <p aria-busy="true">Loading users…</p>}
      {list && (
        <table className="data users">
          <caption className="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">Login</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">Provider</th>
              <th scope="col">Last seen</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((u) => (
              <UserRows
                key={u.id}
                user={u}
                open={open === u.id}
                toggle={() => setOpen(open === u.id ? undefined : u.id)}
                action={action}
              />
            ))}
          </tbody>
        </table>
      )}
      {list && shown.length === 0 && <p>No {state || ""} users.</p>}
    </>
  );
}

function UserRows({
  user: u,
  open,
  toggle,
  action,
}: {
  user: AdminUser;
  open: boolean;
  toggle: () => void;
  action: ReturnType<typeof useAction>;
}) {
  const me = useUser();
  const self = me.id === u.id;
  const detailsId = useId();
  const suspended = u.state === "suspended" || u.state === "suspended-new";
  const { busy, run } = action;
  return (
    <>
      <tr data-login={u.login}>
        <th scope="row">
          <button
            type="button"
            className="link"
            aria-expanded={open}
            aria-controls={open ? detailsId : undefined}
            onClick={toggle}
            title="Details and tokens"
          >
            {u.login}
          </button>
          {self && <span className="muted"> (you)</span>}
        </th>
        <td>{u.name}</td>
        <td>{u.role === "admin" ? <strong>admin</strong> : "normal"}</td>
        <td>
          <span className={`chip ${STATE_KIND[u.state]}`} data-state={u.state}>
            {u.state}
          </span>
        </td>
        <td>{u.provider}</td>
        <td>
          <Time value={u.last_seen_at} />
        </td>
        <td>
          <div className="row-actions">
            {suspended ? (
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  void run(() => api.post(`${userPath(u)}/activate`), `${u.login} is active again.`)
                }
              >
                {u.state === "suspended-new" ? "Activate" : "Reactivate"}
                <span className="visually-hidden"> {u.login}</span>
              </button>
            ) : (
              !self && (
                <ConfirmButton
                  label="Suspend"
                  target={u.login}
                  question={`Suspend ${u.login}? Their sessions end and their tokens are refused.`}
                  confirm={`Suspend ${u.login}`}
                  disabled={busy}
                  onConfirm={() =>
                    void run(() => api.post(`${userPath(u)}/suspend`), `${u.login} is suspended.`)
                  }
                />
              )
            )}
            {u.role === "normal" ? (
              <button
                type="button"
                disabled={busy}
                onClick={() =>
                  void run(() => api.patch(userPath(u), { role: "admin" }), `${u.login} is an administrator.`)
                }
              >
                Make admin<span className="visually-hidden"> {u.login}</span>
              </button>
            ) : (
              !self && (
                <ConfirmButton
                  label="Remove admin"
                  target={u.login}
                  question={`Make ${u.login} a normal user? Their operator tokens are revoked.`}
                  confirm={`Remove admin role of ${u.login}`}
                  disabled={busy}
                  onConfirm={() =>
                    void run(() => api.patch(userPath(u), { role: "normal" }), `${u.login} is a normal user.`)
                  }
                />
              )
            )}
            {!self && (
              <ConfirmButton
                label="Delete"
                target={u.login}
                className="danger"
                question={`Delete ${u.login}? Their tokens, sessions, sign-in identities and SSH keys go; their pipelines stay.`}
                confirm={`Delete ${u.login}`}
                disabled={busy}
                onConfirm={() => void run(() => api.delete(userPath(u)), `${u.login} is deleted.`)}
              />
            )}
          </div>
        </td>
      </tr>
      {open && (
        <tr className="details" id={detailsId}>
          <td colSpan={7}>
            <UserDetails user={u} />
          </td>
        </tr>
      )}
    </>
  );
}

function UserDetails({ user: u }: { user: AdminUser }) {
  const key = ["admin", "user-tokens", u.id];
  const tokens = useQuery({
    queryKey: key,
    queryFn: () => api.get<{ items: TokenInfo[] }>(`${userPath(u)}/tokens`),
  });
  const action = useAction([key]);
  return (
    <div className="user-details">
      <dl className="resources">
        <dt>ID</dt>
        <dd>
          <code>{u.id}</code>
        </dd>
        <dt>Email</dt>
        <dd>{u.email ?? <span className="muted">none</span>}</dd>
        <dt>GitHub</dt>
        <dd>{u.github_login ?? <span className="muted">not connected</span>}</dd>
        {u.ldap_dn && (
          <>
            <dt>LDAP DN</dt>
            <dd>
              <code>{u.ldap_dn}</code>
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>
          <Time value={u.created_at} />
        </dd>
      </dl>
      <h2 className="sub">Tokens of {u.login}</h2>
      <Outcome error={action.error} done={action.done} />
      {tokens.isError && <Failure error={tokens.error} />}
      {tokens.data && (
        <DataTable
          label={`Tokens of ${u.login}`}
          caption
          items={tokens.data.items}
          rowKey={(t) => t.id}
          columns={[
            { header: "Label", cell: (t) => t.label },
            { header: "Kind", cell: (t) => t.kind },
            { header: "Created", cell: (t) => <Time value={t.created_at} /> },
            { header: "Last used", cell: (t) => <Time value={t.last_used_at} /> },
            {
              header: "Actions",
              cell: (t) => (
                <ConfirmButton
                  label="Revoke"
                  target={`token ${t.label}`}
                  question={`Revoke ${u.login}'s token ${t.label}? It stops working at once.`}
                  confirm={`Revoke ${t.label}`}
                  disabled={action.busy}
                  onConfirm={() =>
                    void action.run(
                      () => api.delete(`${userPath(u)}/tokens/${encodeURIComponent(t.id)}`),
                      `Token ${t.label} revoked.`,
                    )
                  }
                />
              ),
            },
          ]}
          empty={<p className="muted">No tokens.</p>}
        />
      )}
    </div>
  );
}
