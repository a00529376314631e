/**
 * The signed-in user's API tokens (`/api/gyre/me/tokens`): listed by label with when each was
 * made and last used (never the token: only its digest is stored), made with a label (the
 * answer holds the token this once, shown to copy with a note that it will not be shown again),
 * revoked after asking. A personal token acts as its user: it is what CircleCI's API clients
 * send as `Circle-Token`. Administrators may make operator tokens too (the Nomad API and
 * metrics, nothing else); the API refuses them to anyone else.
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { SESSION_KEY, useUser } from "../../session.tsx";
import { DataTable } from "../../table.tsx";
import type { ApiToken, NewApiToken } from "../../types.ts";
import { ConfirmDelete, CopyField, Outcome, Section, useEdits, when } from "../project-settings/common.tsx";

const PATH = "/api/gyre/me/tokens";
const KEY = ["me", "tokens"];

const KINDS: Record<string, string> = { personal: "Personal", operator: "Operator", project: "Project" };

export function TokensSection() {
  const admin = useUser().role === "admin";
  const tokens = useQuery({ queryKey: KEY, queryFn: () => api.get<{ items: ApiToken[] }>(PATH) });
  // The session is read again after a change: revoking the token it was made from ends it, and
  // the page then asks to sign in again instead of failing with 401s.
  const { action, done, edit, submit } = useEdits(KEY, SESSION_KEY);
  const [made, setMade] = useState<NewApiToken>();
  const shown = useRef<HTMLElement>(null);
  const labelField = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (made) shown.current?.focus();
  }, [made]);

  const create = submit(async (data) => {
    const label = String(data.get("label") ?? "").trim();
    const kind = String(data.get("kind") ?? "personal");
    setMade(undefined);
    const token = await api.post<NewApiToken>(PATH, { label, kind });
    setMade(token);
    return `Created the token ${token.label}: copy it now, it is shown only this once.`;
  });
  const revoke = (t: ApiToken) =>
    edit(async () => {
      const answer = await api.delete<{ message: string }>(`${PATH}/${encodeURIComponent(t.id)}`);
      setMade((m) => (m?.id === t.id ? undefined : m));
      return answer.message;
    });
  const dismiss = () => {
    setMade(undefined);
    labelField.current?.focus();
  };

  return (
    <Section id="api-tokens" title="Personal API tokens">
      <p className="hint">
        A personal token acts as you: CircleCI's API clients and CLI send it in a <code>Circle-Token</code>{" "}
        header (or as the user name of HTTP basic auth). Gyre keeps only a digest of each token, so a token is
        shown once, when it is made. Revoking the token you signed in with ends this session.
      </p>
      {tokens.isError && <Failure error={tokens.error} />}
      {tokens.isPending && <p aria-busy="true">Loading tokens…</p>}
      {tokens.data && (
        <DataTable
          label="Your API tokens"
          items={tokens.data.items}
          rowKey={(t) => t.id}
          columns={[
            { header: "Label", rowHeader: true, cell: (t) => t.label },
            { header: "Kind", cell: (t) => KINDS[t.kind] ?? t.kind },
            { header: "Created", cell: (t) => when(t.created_at) },
            {
              header: "Last used",
              cell: (t) => (t.last_used_at ? when(t.last_used_at) : <span className="hint">never</span>),
            },
          ]}
          actions={(t) => (
            <ConfirmDelete
              label="Revoke"
              what={`the token ${t.label}`}
              onConfirm={() => revoke(t)}
              disabled={action.busy}
            />
          )}
          empty={<p>No tokens yet.</p>}
        />
      )}
      <form className="inline-form" aria-label="Create a token" onSubmit={create}>
        <label>
          Label
          <input
            name="label"
            ref={labelField}
            required
            maxLength={100}
            autoComplete="off"
            spellCheck={false}
            placeholder="laptop CLI"
          />
        </label>
        {admin && (
          <label>
            Kind
            <select name="kind" defaultValue="personal">
              <option value="personal">Personal: acts as you</option>
              <option value="operator">Operator: the Nomad API and metrics only</option>
            </select>
          </label>
        )}
        <button type="submit" className="primary" disabled={action.busy}>
          Create token
        </button>
      </form>
      {made && (
        <section className="new-token" ref={shown} tabIndex={-1} aria-labelledby="new-token-title">
          <h3 id="new-token-title">Your new token {made.label}</h3>
          <p className="notice" role="note">
            <strong>Copy it now: you will not see it again.</strong> Gyre keeps only its digest; a token you
            lose can only be revoked and made anew.
          </p>
          <CopyField label={`Token ${made.label}`} value={made.token} />
          <button type="button" className="small" onClick={dismiss}>
            I have copied it
          </button>
        </section>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
