/**
 * A project's environment variables (API v2 `/project/{slug}/envvar`): listed as the API answers
 * them, masked (`xxxx` and the value's last four characters: the real value never comes back),
 * added with the value in a password field, deleted after asking.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { DataTable } from "../../table.tsx";
import { ConfirmDelete, ErrorText, ReadOnly, Section, useAction, VariableFields } from "./common.tsx";

interface EnvVar {
  name: string;
  value: string;
}

export function EnvVarsSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const client = useQueryClient();
  const path = `/api/v2/project/${slugPath(slug)}/envvar`;
  const key = ["envvars", slug];
  const vars = useQuery({
    queryKey: key,
    queryFn: () => api.get<{ items: EnvVar[] }>(path),
  });
  const action = useAction();
  const [done, setDone] = useState("");
  const refresh = () => client.invalidateQueries({ queryKey: key });

  const add = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const name = String(data.get("name") ?? "").trim();
    const value = String(data.get("value") ?? "");
    const replaced = vars.data?.items.some((v) => v.name === name);
    setDone("");
    if (await action.run(() => api.post(path, { name, value }))) {
      form.reset();
      setDone(`${replaced ? "Replaced" : "Added"} ${name}.`);
      await refresh();
    }
  };
  const remove = (name: string) =>
    action.run(async () => {
      setDone("");
      await api.delete(`${path}/${encodeURIComponent(name)}`);
      setDone(`Deleted ${name}.`);
      await refresh();
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
      <ErrorText error={action.error} />
      <p role="status" className="hint">
        {done}
      </p>
    </Section>
  );
}
