/**
 * Adding a project (administrators): its repository URL, and optionally its slug (the server
 * derives one from the URL when it is empty), default branch and GitHub connection, sent as
 * `POST /api/gyre/projects`. The answer carries the project's webhook secret, which Gyre never
 * shows again: it is shown here once, with the webhook URL to give GitHub, until dismissed (it
 * lives in this component's state only, not in the query cache). A refusal shows the API's
 * message and leaves the form as it was filled.
 */
import { useEffect, useRef, useState } from "react";
import { Link } from "wouter";
import { api } from "../../api.ts";
import { projectHref, projectSettingsHref } from "../../links.ts";
import type { AddedProject } from "../../types.ts";
import { CopyField, ErrorText, useEdits } from "../project-settings/common.tsx";
import { PROJECTS_KEYS } from "./queries.ts";

export function AddProject() {
  const { action, done, setDone, submit } = useEdits(...PROJECTS_KEYS);
  const [added, setAdded] = useState<AddedProject>();
  const repoUrl = useRef<HTMLInputElement>(null);

  const add = submit(async (data) => {
    const text = (name: string) => String(data.get(name) ?? "").trim();
    const github = Object.fromEntries(
      [
        ["token", text("github_token")],
        ["api_url", text("github_api_url")],
        ["webhook_url", text("github_webhook_url")],
      ].filter(([, v]) => v !== ""),
    );
    const body = {
      repo_url: text("repo_url"),
      ...(text("slug") ? { slug: text("slug") } : {}),
      ...(text("default_branch") ? { default_branch: text("default_branch") } : {}),
      ...(Object.keys(github).length > 0 ? { github } : {}),
    };
    const made = await api.post<AddedProject>("/api/gyre/projects", body);
    setAdded(made);
    return `Added ${made.slug}. Its webhook secret is shown below, this once.`;
  });

  return (
    <section id="add-project" className="add-project" aria-labelledby="add-project-title">
      <h2 id="add-project-title">Add a project</h2>
      <form className="stacked-form" aria-label="Add a project" onSubmit={(e) => void add(e)}>
        <label>
          Repository URL
          <input
            ref={repoUrl}
            name="repo_url"
            required
            maxLength={2048}
            autoComplete="off"
            spellCheck={false}
            aria-describedby="repo-url-hint"
            placeholder="https://github.com/acme/api.git"
          />
        </label>
        <p id="repo-url-hint" className="hint">
          A git URL (<code>https://github.com/acme/api.git</code>, <code>git@github.com:acme/api.git</code>)
          or a path to a repository on the server's machine.
        </p>
        <label>
          Slug (optional)
          <input
            name="slug"
            autoComplete="off"
            spellCheck={false}
            aria-describedby="slug-hint"
            placeholder="derived from the URL"
          />
        </label>
        <p id="slug-hint" className="hint">
          <code>vcs/org/repo</code>, e.g. <code>gh/acme/api</code>. Left empty, the server derives it: a
          GitHub URL gives <code>gh/owner/repo</code>, a path <code>local/dir/repo</code>.
        </p>
        <label>
          Default branch (optional)
          <input name="default_branch" autoComplete="off" spellCheck={false} placeholder="main" />
        </label>
        <details>
          <summary>GitHub connection (optional)</summary>
          <p className="hint">
            With a token (<code>repo</code> scope) Gyre installs the webhook and a deploy key on the GitHub
            repository itself and reports commit statuses. For GitHub projects only.
          </p>
          <label>
            GitHub token
            <input name="github_token" type="password" autoComplete="new-password" spellCheck={false} />
          </label>
          <label>
            GitHub API URL
            <input
              name="github_api_url"
              type="url"
              autoComplete="off"
              spellCheck={false}
              placeholder="https://api.github.com"
            />
          </label>
          <label>
            Webhook URL GitHub delivers to
            <input
              name="github_webhook_url"
              type="url"
              autoComplete="off"
              spellCheck={false}
              placeholder={`${location.origin}/webhooks/github`}
            />
          </label>
        </details>
        <ErrorText error={action.error} />
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? "Adding…" : "Add project"}
        </button>
      </form>
      <p role="status" className="done">
        {done}
      </p>
      {added && (
        <AddedPanel
          project={added}
          onDismiss={() => {
            setAdded(undefined);
            setDone("");
            repoUrl.current?.focus();
          }}
        />
      )}
    </section>
  );
}

/** The added project's webhook URL and secret, shown once; dismissing forgets the secret. */
function AddedPanel({ project, onDismiss }: { project: AddedProject; onDismiss: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const github = project.github;
  const url = github?.webhook_url ?? `${location.origin}/webhooks/github`;
  return (
    <section className="added" aria-labelledby="added-project-title">
      <h3 id="added-project-title" ref={heading} tabIndex={-1}>
        Added {project.slug}
      </h3>
      <p className="notice" role="note">
        <strong>Copy the webhook secret now: it is shown only this once.</strong> Gyre keeps it sealed and
        never shows it again (the API has no way to read or rotate it).
      </p>
      <CopyField label="Webhook secret" value={project.webhook_secret} />
      <CopyField label="Payload URL" value={url} />
      {github ? (
        github.hook_id !== null ? (
          <p>
            Gyre installed the webhook on GitHub itself (hook {github.hook_id}) with this secret
            {github.deploy_key_id !== null ? ", and a deploy key" : ""}: nothing to configure there.
          </p>
        ) : (
          <p>
            On GitHub, in the repository's Settings › Webhooks › Add webhook: the Payload URL above, content
            type <code>application/json</code>, the secret above, and the push, pull request, create and
            delete events.
          </p>
        )
      ) : (
        <p className="hint">
          This repository (<code>{project.vcs_info.vcs_url}</code>) is not on GitHub, so no webhook delivers
          its pushes: trigger its pipelines from its page or with <code>gyre trigger {project.slug}</code>.
        </p>
      )}
      <p className="links">
        <Link href={projectHref(project.slug)}>Open the pipelines of {project.slug}</Link> ·{" "}
        <Link href={projectSettingsHref(project.slug)}>Project settings</Link>
      </p>
      <button type="button" onClick={onDismiss}>
        I have copied the secret
      </button>
    </section>
  );
}
