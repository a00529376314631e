/**
 * A project's environment variables (API v2 `/project/{slug}/envvar`): listed as the API answers
 * them, masked (`xxxx` and the value's last four characters: the real value never comes back),
 * added with the value in a password field, deleted after asking.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { ConfirmDelete, ENV_NAME, ErrorText, ReadOnly, Section, useAction } from "./common.tsx";

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
      {vars.data &&
        (items.length === 0 ? (
          <p>No environment variables.</p>
        ) : (
          <table className="data" aria-label="Environment variables">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                {admin && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {items.map((v) => (
                <tr key={v.name}>
                  <td>
                    <code>{v.name}</code>
                  </td>
                  <td>
                    <code className="masked">{v.value}</code>
                  </td>
                  {admin && (
                    <td className="row-actions">
                      <ConfirmDelete what={v.name} onConfirm={() => remove(v.name)} disabled={action.busy} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {admin === false && <ReadOnly />}
      {admin && (
        <form className="inline-form" aria-label="Add an environment variable" onSubmit={add}>
          <label>
            Name
            <input
              name="name"
              required
              pattern={ENV_NAME}
              maxLength={256}
              autoComplete="off"
              spellCheck={false}
              title="Letters, digits and underscores, not starting with a digit"
            />
          </label>
          <label>
            Value
            <input name="value" type="password" required autoComplete="new-password" />
          </label>
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
