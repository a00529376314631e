/**
 * A project's environment variables (API v2 `/project/{slug}/envvar`): listed as the API answers
 * them, masked (`xxxx` and the value's last four characters: the real value never comes back),
 * added with the value in a password field, deleted after asking.
 */
import { useQuery } from "@tanstack/react-query";
import { api, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { DataTable } from "../../table.tsx";
import { ConfirmDelete, Outcome, ReadOnly, Section, useEdits, VariableFields } from "./common.tsx";

interface EnvVar {
  name: string;
  value: string;
}

export function EnvVarsSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const path = `/api/v2/project/${slugPath(slug)}/envvar`;
  const key = ["envvars", slug];
  const vars = useQuery({
    queryKey: key,
    queryFn: () => api.get<{ items: EnvVar[] }>(path),
  });
  const { action, done, edit, submit } = useEdits(key);

  const add = submit(async (data) => {
    const name = String(data.get("name") ?? "").trim();
    const value = String(data.get("value") ?? "");
    const replaced = vars.data?.items.some((v) => v.name === name);
    await api.post(path, { name, value });
    return `${replaced ? "Replaced" : "Added"} ${name}.`;
  });
  const remove = (name: string) =>
    edit(async () => {
      await api.delete(`${path}/${encodeURIComponent(name)}`);
      return `Deleted ${name}.`;
    });

  const items = vars.data?.items ?? [];
  return (
    <Section id="environment-variables" title="Environment variables">
      <p className="hint">
        Every job of the project gets these. Values are sealed at rest, masked in job output, and never shown
        again: the list shows the last four characters only.
      </p>
      {vars.isError && <Failure error={vars.error} />}
      {vars.isPending && <p aria-busy="true">Loading variables…</p>}
      {vars.data && (
        <DataTable
          label="Environment variables"
          items={items}
          rowKey={(v) => v.name}
          columns={[
            { header: "Name", cell: (v) => <code>{v.name}</code> },
            { header: "Value", cell: (v) => <code className="masked">{v.value}</code> },
          ]}
          actions={
            admin
              ? (v) => <ConfirmDelete what={v.name} onConfirm={() => remove(v.name)} disabled={action.busy} />
              : undefined
          }
          empty={<p>No environment variables.</p>}
        />
      )}
      {admin === false && <ReadOnly />}
      {admin && (
        <form className="inline-form" aria-label="Add an environment variable" onSubmit={add}>
          <VariableFields />
          <button type="submit" className="primary" disabled={action.busy}>
            Add variable
          </button>
        </form>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
