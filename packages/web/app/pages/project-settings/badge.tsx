/**
 * The project's status badge, where CircleCI serves it (`/{vcs}/{org}/{repo}.svg`, badges.ts):
 * its image URL and a Markdown snippet for a README. Every Gyre project is private, so the image
 * needs a token of scope `status` in its URL (`circle-token`); an administrator of the project
 * makes one here (v1.1 `POST /project/{slug}/token`), shown once and put into the snippet.
 * The preview beside it is read with the user's own session.
 */
import { type FormEvent, useId, useState } from "react";
import { api, slugPath } from "../../api.ts";
import { projectHref } from "../../links.ts";
import { DataTable } from "../../table.tsx";
import {
  ConfirmDelete,
  CopyField,
  ErrorText,
  type GyreProject,
  type ProjectToken,
  ReadOnly,
  Section,
  tokensKey,
  tokensPath,
  useEdits,
  when,
} from "./common.tsx";

const BADGE_VCS = new Set(["gh", "github", "bb", "bitbucket", "local"]);
const PLACEHOLDER = "STATUS_TOKEN";

export function badgeUrl(
  origin: string,
  slug: string,
  options: { branch?: string; style?: string; token?: string },
) {
  const params = new URLSearchParams();
  if (options.branch) params.set("branch", options.branch);
  if (options.style && options.style !== "svg") params.set("style", options.style);
  const q = params.toString();
  // The token last and as it is, so a placeholder reads plainly in the snippet.
  const token = `circle-token=${options.token ? encodeURIComponent(options.token) : PLACEHOLDER}`;
  return `${origin}/${slugPath(slug)}.svg?${q ? `${q}&` : ""}${token}`;
}

export function BadgeSection(props: {
  project: GyreProject;
  admin: boolean | undefined;
  tokens: ProjectToken[] | null | undefined;
}) {
  const { project, admin, tokens } = props;
  const slug = project.slug;
  const defaultBranch = project.vcs_info.default_branch;
  const [branch, setBranch] = useState(defaultBranch);
  const [style, setStyle] = useState("svg");
  const [token, setToken] = useState<string>();
  // No status line: a new token shows in the snippet.
  const { action, edit } = useEdits(tokensKey(slug));
  const ids = { branch: useId(), style: useId() };

  if (!BADGE_VCS.has(slug.split("/")[0]!))
    return (
      <Section id="badge" title="Status badge">
        <p>Badges are served for GitHub, Bitbucket and local projects only.</p>
      </Section>
    );

  const chosenBranch = branch.trim() && branch.trim() !== defaultBranch ? branch.trim() : undefined;
  const url = badgeUrl(location.origin, slug, { branch: chosenBranch, style, token });
  const markdown = `[![CircleCI](${url})](${location.origin}${projectHref(slug)})`;
  const previewQuery = new URLSearchParams({
    ...(chosenBranch ? { branch: chosenBranch } : {}),
    ...(style !== "svg" ? { style } : {}),
  }).toString();
  const preview = `/${slugPath(slug)}.svg${previewQuery ? `?${previewQuery}` : ""}`;
  const statusTokens = (tokens ?? []).filter((t) => t.scope === "status");

  // Not a `submit`: the label typed stays for the next token.
  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const label = String(new FormData(event.currentTarget).get("label") ?? "").trim() || "status badge";
    await edit(async () => {
      const made = await api.post<ProjectToken & { token: string }>(tokensPath(slug), {
        label,
        scope: "status",
      });
      setToken(made.token);
      return "";
    });
  };
  const revoke = (t: ProjectToken) =>
    edit(async () => {
      await api.delete(`${tokensPath(slug)}/${encodeURIComponent(t.id)}`);
      return "";
    });

  return (
    <Section id="badge" title="Status badge">
      <p className="hint">
        The status of the branch's latest pipeline. Gyre's projects are private: the image URL carries a token
        of scope <code>status</code>, which shows the badge and nothing else.
      </p>
      <div className="badge-preview">
        <span className="hint">Preview:</span>
        <img
          src={preview}
          alt={`Status badge of ${slug}${chosenBranch ? ` on ${chosenBranch}` : ""}`}
          height={20}
        />
      </div>
      <form className="inline-form" aria-label="Badge options" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={ids.branch}>Branch</label>
        <input
          id={ids.branch}
          value={branch}
          onChange={(e) => setBranch(e.target.value)}
          spellCheck={false}
        />
        <label htmlFor={ids.style}>Style</label>
        <select id={ids.style} value={style} onChange={(e) => setStyle(e.target.value)}>
          <option value="svg">CircleCI</option>
          <option value="shield">shields.io</option>
        </select>
      </form>
      <CopyField label="Markdown" value={markdown} multiline />
      <CopyField label="Image URL" value={url} />
      {token ? (
        <p className="hint" role="status">
          The new token is in the snippet above. Copy it now: Gyre does not show a token again.
        </p>
      ) : (
        <p className="hint">
          Replace <code>{PLACEHOLDER}</code> with a status token's value
          {admin ? ", or create one below." : ": an administrator of the project creates them."}
        </p>
      )}
      {admin && statusTokens.length > 0 && (
        <DataTable
          label="Status tokens"
          items={statusTokens}
          rowKey={(t) => t.id}
          columns={[
            { header: "Label", cell: (t) => t.label },
            { header: "Created", cell: (t) => when(t.time) },
            { header: "Last used", cell: (t) => when(t.last_used_at) || "never" },
          ]}
          actions={(t) => (
            <ConfirmDelete
              label="Revoke"
              what={`the token ${t.label}`}
              onConfirm={() => revoke(t)}
              disabled={action.busy}
            />
          )}
        />
      )}
      {admin && (
        <form className="inline-form" aria-label="Create a status token" onSubmit={create}>
          <label>
            Token label
            <input name="label" defaultValue="status badge" maxLength={100} autoComplete="off" />
          </label>
          <button type="submit" disabled={action.busy}>
            Create status token
          </button>
        </form>
      )}
      {admin === false && (
        <ReadOnly>Read only: status tokens are made by an administrator of the project.</ReadOnly>
      )}
      <ErrorText error={action.error} />
    </Section>
  );
}
