/**
 * The contexts of the project's organization (API v2 `/context?owner-slug=`): every project of
 * the organization may name them in a workflow. Their variables are listed by name only (a
 * context's values never come out of the API). Anyone may look; creating and deleting contexts
 * and their variables is for administrators (a context's secrets reach every project of it).
 */
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, query } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { useUser } from "../../session.tsx";
import { DataTable } from "../../table.tsx";
import type { Page } from "../../types.ts";
import { ConfirmDelete, Outcome, ReadOnly, Section, useEdits, VariableFields, when } from "./common.tsx";

interface CiContext {
  id: string;
  name: string;
  created_at: string;
}

interface ContextVariable {
  variable: string;
  created_at: string;
  context_id: string;
}

const contextsKey = (owner: string) => ["contexts", owner];

export function ContextsSection({ owner }: { owner: string }) {
  const admin = useUser().role === "admin";
  const contexts = useInfiniteQuery({
    queryKey: contextsKey(owner),
    queryFn: ({ pageParam }) =>
      api.get<Page<CiContext>>(`/api/v2/context${query({ "owner-slug": owner, "page-token": pageParam })}`),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_page_token ?? undefined,
  });
  const { action, done, refresh, submit } = useEdits(contextsKey(owner));

  const create = submit(async (data) => {
    const name = String(data.get("name") ?? "").trim();
    await api.post("/api/v2/context", { name, owner: { slug: owner, type: "organization" } });
    return `Created context ${name}.`;
  });

  const items = contexts.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Section id="contexts" title="Contexts">
      <p className="hint">
        Contexts belong to the organization <code>{owner}</code>: a workflow of any of its projects names one
        (<code>context: name</code> on a job) to give that job the context's variables.
      </p>
      {contexts.isError && <Failure error={contexts.error} />}
      {contexts.isPending && <p aria-busy="true">Loading contexts…</p>}
      {contexts.data && items.length === 0 && <p>No contexts in {owner}.</p>}
      <ul className="contexts">
        {items.map((c) => (
          <li key={c.id}>
            <ContextCard context={c} admin={admin} onDeleted={refresh} />
          </li>
        ))}
      </ul>
      {contexts.hasNextPage && (
        <button
          type="button"
          onClick={() => void contexts.fetchNextPage()}
          disabled={contexts.isFetchingNextPage}
        >
          More contexts
        </button>
      )}
      {!admin && <ReadOnly>Read only: only an administrator creates, changes and deletes contexts.</ReadOnly>}
      {admin && (
        <form className="inline-form" aria-label="Create a context" onSubmit={create}>
          <label>
            Context name
            <input name="name" required maxLength={256} autoComplete="off" />
          </label>
          <button type="submit" className="primary" disabled={action.busy}>
            Create context
          </button>
        </form>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}

function ContextCard(props: { context: CiContext; admin: boolean; onDeleted: () => Promise<unknown> }) {
  const { context, admin, onDeleted } = props;
  const path = `/api/v2/context/${encodeURIComponent(context.id)}/environment-variable`;
  const key = ["context-variables", context.id];
  const variables = useQuery({
    queryKey: key,
    queryFn: () => api.get<Page<ContextVariable>>(path),
  });
  const { action, done, edit, submit } = useEdits(key);
  const headingId = `context-${context.id}`;

  const add = submit(async (data) => {
    const name = String(data.get("name") ?? "").trim();
    await api.put(`${path}/${encodeURIComponent(name)}`, { value: String(data.get("value")) });
    return `Stored ${name} in ${context.name}.`;
  });
  const removeVariable = (name: string) =>
    edit(async () => {
      await api.delete(`${path}/${encodeURIComponent(name)}`);
      return `Removed ${name} from ${context.name}.`;
    });
  // Not an edit: the card goes with its context, and the list it is in is read again.
  const removeContext = () =>
    action.run(async () => {
      await api.delete(`/api/v2/context/${encodeURIComponent(context.id)}`);
      await onDeleted();
    });

  const items = variables.data?.items ?? [];
  return (
    <article className="context" aria-labelledby={headingId}>
      <header>
        <h3 id={headingId}>{context.name}</h3>
        <span className="hint">created {when(context.created_at)}</span>
        {admin && (
          <ConfirmDelete what={`context ${context.name}`} onConfirm={removeContext} disabled={action.busy} />
        )}
      </header>
      {variables.isError && <Failure error={variables.error} />}
      {variables.data && (
        <DataTable
          label={`Variables of ${context.name}`}
          items={items}
          rowKey={(v) => v.variable}
          columns={[
            { header: "Name", cell: (v) => <code>{v.variable}</code> },
            {
              header: "Value",
              cell: () => (
                <code className="masked" title="A context's values are never shown">
                  ••••••••
                </code>
              ),
            },
            { header: "Added", cell: (v) => when(v.created_at) },
          ]}
          actions={
            admin
              ? (v) => (
                  <ConfirmDelete
                    label="Remove"
                    what={`${v.variable} from ${context.name}`}
                    onConfirm={() => removeVariable(v.variable)}
                    disabled={action.busy}
                  />
                )
              : undefined
          }
          empty={<p className="hint">No variables.</p>}
        />
      )}
      {admin && (
        <form className="inline-form" aria-label={`Add a variable to ${context.name}`} onSubmit={add}>
          <VariableFields />
          <button type="submit" disabled={action.busy}>
            Add variable<span className="visually-hidden"> to {context.name}</span>
          </button>
        </form>
      )}
      <Outcome error={action.error} done={done} />
    </article>
  );
}
