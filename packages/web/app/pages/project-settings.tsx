/**
 * A project's settings: environment variables, the organization's contexts, SSH and checkout
 * keys, the GitHub webhook, advanced settings and the status badge, each read and changed
 * through the public API. Whether the user may change them is the API's answer (admin
 * permission on the project); without it every section is read only and says so, and a project
 * the user may not see reads as not found, as the API answers it.
 */
import { Link, useParams } from "wouter";
import { ApiError } from "../api.ts";
import { Crumbs, Failure, useTitle } from "../layout.tsx";
import { insightsHref, projectHref, slugOf } from "../links.ts";
import { AdvancedSection } from "./project-settings/advanced.tsx";
import { BadgeSection } from "./project-settings/badge.tsx";
import { useProject, useProjectAdmin } from "./project-settings/common.tsx";
import { ContextsSection } from "./project-settings/contexts.tsx";
import { EnvVarsSection } from "./project-settings/env-vars.tsx";
import { CheckoutKeysSection, SshKeysSection } from "./project-settings/keys.tsx";
import { SchedulesSection } from "./project-settings/schedules.tsx";
import { WebhookSection } from "./project-settings/webhook.tsx";
import "./project-settings/settings.css";

const CONTENTS = [
  { id: "environment-variables", label: "Environment variables" },
  { id: "triggers", label: "Triggers" },
  { id: "contexts", label: "Contexts" },
  { id: "ssh-keys", label: "SSH keys" },
  { id: "checkout-keys", label: "Checkout keys" },
  { id: "webhook", label: "Webhook" },
  { id: "advanced", label: "Advanced" },
  { id: "badge", label: "Status badge" },
];

export default function ProjectSettingsPage() {
  const params = useParams<{ vcs: string; org: string; repo: string }>();
  const slug = slugOf(params)!;
  useTitle(`${slug} settings`);
  const project = useProject(slug);
  const { admin, tokens } = useProjectAdmin(slug);
  const owner = slug.split("/").slice(0, 2).join("/");

  return (
    <section className="project-settings">
      <Crumbs
        items={[
          { label: "Pipelines", href: "/" },
          { label: slug, href: projectHref(slug) },
          { label: "Project settings" },
        ]}
      />
      <h1>Project settings: {slug}</h1>
      {project.isPending && <p aria-busy="true">Loading the project…</p>}
      {project.isError &&
        (project.error instanceof ApiError && project.error.status === 404 ? (
          <p role="alert" className="error">
            Project {slug} was not found, or you may not see it.
          </p>
        ) : (
          <Failure error={project.error} />
        ))}
      {project.data && (
        <>
          <p className="links">
            <Link href={projectHref(slug)}>Pipelines</Link> · <Link href={insightsHref(slug)}>Insights</Link>
          </p>
          {admin === false && (
            <p className="notice" role="note">
              {project.data.permission === "write"
                ? "You may change this project's triggers; its other settings need admin permission on the repository."
                : "You may view this project's settings but not change them: that needs admin permission on the repository."}
            </p>
          )}
          {tokens.isError && <Failure error={tokens.error} />}
          <div className="settings-layout">
            <nav aria-label="Settings sections" className="settings-nav">
              <ul>
                {CONTENTS.map((c) => (
                  <li key={c.id}>
                    <a href={`#${c.id}`}>{c.label}</a>
                  </li>
                ))}
              </ul>
            </nav>
            <div className="settings-body">
              <EnvVarsSection slug={slug} admin={admin} />
              <SchedulesSection slug={slug} admin={admin} />
              <ContextsSection owner={owner} />
              <SshKeysSection slug={slug} admin={admin} />
              <CheckoutKeysSection slug={slug} admin={admin} />
              <WebhookSection project={project.data} admin={admin} />
              <AdvancedSection slug={slug} admin={admin} />
              <BadgeSection project={project.data} admin={admin} tokens={tokens.data} />
            </div>
          </div>
        </>
      )}
    </section>
  );
}
