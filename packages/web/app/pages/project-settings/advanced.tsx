/**
 * CircleCI's "Advanced settings" of a project (API v2 `GET|PATCH /project/{slug}/settings`,
 * `{advanced: {...}}`): one checkbox each, saved together; only the ones changed are sent.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { api, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { Outcome, ReadOnly, Section, useEdits } from "./common.tsx";

type Advanced = Record<string, boolean>;

/** What each setting does, in the order shown (core/src/project/settings.ts). */
const SETTINGS: { key: string; label: string; hint: string }[] = [
  {
    key: "autocancel_builds",
    label: "Auto-cancel redundant workflows",
    hint: "A push to a branch other than the default one cancels that branch's workflows still running.",
  },
  {
    key: "build_fork_prs",
    label: "Build forked pull requests",
    hint: "Pull requests from forks of the repository are built.",
  },
  {
    key: "forks_receive_secret_env_vars",
    label: "Pass secrets to builds from forked pull requests",
    hint: "Their jobs get the project's and contexts' variables and SSH keys. Anyone who can open a pull request could read them.",
  },
  {
    key: "build_prs_only",
    label: "Only build pull requests",
    hint: "A push to a branch other than the default one builds only while a pull request is open for it.",
  },
  {
    key: "set_github_status",
    label: "Set GitHub status",
    hint: "Each workflow posts a commit status to GitHub.",
  },
];

export function AdvancedSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const client = useQueryClient();
  const path = `/api/v2/project/${slugPath(slug)}/settings`;
  const key = ["advanced-settings", slug];
  const settings = useQuery({ queryKey: key, queryFn: () => api.get<{ advanced: Advanced }>(path) });
  const [draft, setDraft] = useState<Advanced>({});
  const { action, done, setDone, edit } = useEdits();
  const saved = settings.data?.advanced;
  useEffect(() => {
    if (saved) setDraft(saved);
  }, [saved]);

  const changed = saved ? Object.fromEntries(Object.entries(draft).filter(([k, v]) => saved[k] !== v)) : {};
  const dirty = Object.keys(changed).length > 0;
  // Not a `submit`: the checkboxes are the draft's, not the form's to reset.
  const save = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    await edit(async () => {
      const answer = await api.patch<{ advanced: Advanced }>(path, { advanced: changed });
      client.setQueryData(key, answer);
      return "Saved.";
    });
  };

  // Settings the API answers that this page does not know yet are shown too, by their names.
  const known = new Set(SETTINGS.map((s) => s.key));
  const rows = [
    ...SETTINGS.filter((s) => saved && s.key in saved),
    ...Object.keys(saved ?? {})
      .filter((k) => !known.has(k))
      .map((k) => ({ key: k, label: k.replaceAll("_", " "), hint: "" })),
  ];
  return (
    <Section id="advanced" title="Advanced settings">
      {settings.isError && <Failure error={settings.error} />}
      {settings.isPending && <p aria-busy="true">Loading settings…</p>}
      {saved && (
        <form aria-label="Advanced settings" onSubmit={save} className="advanced">
          <fieldset disabled={!admin || action.busy}>
            <legend className="visually-hidden">Advanced settings</legend>
            {rows.map((s) => (
              <div key={s.key} className="setting">
                <label>
                  <input
                    type="checkbox"
                    name={s.key}
                    checked={draft[s.key] ?? false}
                    aria-describedby={s.hint ? `${s.key}-hint` : undefined}
                    onChange={(e) => {
                      setDone("");
                      setDraft({ ...draft, [s.key]: e.target.checked });
                    }}
                  />
                  {s.label}
                </label>
                {s.hint && (
                  <p id={`${s.key}-hint`} className="hint">
                    {s.hint}
                  </p>
                )}
              </div>
            ))}
          </fieldset>
          {admin && (
            <p className="actions">
              <button type="submit" className="primary" disabled={!dirty || action.busy}>
                Save settings
              </button>
              <button type="button" disabled={!dirty || action.busy} onClick={() => setDraft(saved)}>
                Discard changes
              </button>
            </p>
          )}
        </form>
      )}
      {admin === false && <ReadOnly />}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
