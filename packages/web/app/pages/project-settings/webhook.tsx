/**
 * How GitHub reaches the project: the webhook URL of this installation (`/webhooks/github`),
 * whether Gyre installed the hook itself (a project with a GitHub token), and its secret, which
 * every project has from the moment it was added. Gyre shows a secret only once, when the
 * project is added, and its API has no way to rotate one, so this section says so rather than
 * offering it. An administrator of a project with a token may ask for the pushes GitHub's
 * deliveries missed (`POST /api/gyre/projects/{slug}/github/resync`).
 */
import { api } from "../../api.ts";
import { CopyField, type GyreProject, Outcome, projectPath, Section, useEdits } from "./common.tsx";

interface Resynced {
  triggered: { branch: string; sha: string; pipeline_id: string }[];
  skipped: unknown[];
}

export function WebhookSection({ project, admin }: { project: GyreProject; admin: boolean | undefined }) {
  const url = `${location.origin}/webhooks/github`;
  const github = project.github;
  const { action, done, edit } = useEdits();
  const resync = () =>
    edit(async () => {
      const answer = await api.post<Resynced>(`${projectPath(project.slug)}/github/resync`);
      return answer.triggered.length === 0
        ? "Nothing was missed: every branch head has its pipeline."
        : `Triggered ${answer.triggered.length} pipeline${answer.triggered.length > 1 ? "s" : ""}: ${answer.triggered.map((t) => t.branch).join(", ")}.`;
    });

  return (
    <Section id="webhook" title="GitHub webhook">
      <CopyField label="Payload URL" value={github?.webhook_url ?? url} />
      <dl className="facts">
        <dt>Content type</dt>
        <dd>
          <code>application/json</code>
        </dd>
        <dt>Events</dt>
        <dd>push, pull request, branch or tag creation and deletion</dd>
        <dt>Secret</dt>
        <dd>
          <span className="chip good small">set</span> Every project has one, made when it was added: Gyre
          checks <code>X-Hub-Signature-256</code> with it. It was shown once then (
          <code>gyre project add</code> printed it) and is never shown again; the API offers no way to rotate
          it.
        </dd>
        {github && (
          <>
            <dt>Installed on GitHub</dt>
            <dd>
              {github.has_token ? (
                github.hook_id !== null ? (
                  <>Yes: Gyre installed the webhook (hook {github.hook_id}) with the project's secret.</>
                ) : (
                  <>Gyre has a GitHub token for this project but no hook is recorded.</>
                )
              ) : (
                <>
                  No: Gyre has no GitHub token for this project. Add the webhook by hand in the repository's
                  settings (Settings › Webhooks › Add webhook) with the URL and secret above, or give Gyre a
                  token (<code>PATCH /api/gyre/projects/{project.slug}</code> with{" "}
                  <code>{'{"github": {"token": …}}'}</code>) and it installs the webhook and a deploy key
                  itself.
                </>
              )}
            </dd>
            <dt>GitHub API</dt>
            <dd>
              <code>{github.api_url}</code>
            </dd>
          </>
        )}
      </dl>
      {!github && (
        <p className="hint">
          This project's repository (<code>{project.vcs_info.vcs_url}</code>) is not on GitHub, so no webhook
          delivers its pushes: trigger its pipelines from its page or with{" "}
          <code>gyre trigger {project.slug}</code>.
        </p>
      )}
      {github?.has_token && admin && (
        <p>
          <button type="button" disabled={action.busy} onClick={() => void resync()}>
            Build missed pushes
          </button>{" "}
          <span className="hint">A pipeline for each branch head the webhook's deliveries missed.</span>
        </p>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
