/**
 * Projects (`/projects`): every project the user may see (`GET /api/gyre/projects`), each with
 * its repository and default branch and links to its pipelines, settings and insights; Follow
 * and Unfollow as CircleCI's project list has them (API v1.1 `follow`/`unfollow`, the followed
 * ones read from `GET /api/v1.1/projects`), and a filter to the followed ones (`?followed=true`).
 * Administrators add a project here (its webhook secret shown once) and delete one after
 * confirming; the API checks each change again and its message is shown when it refuses.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { api, query, slugPath } from "../api.ts";
import { Crumbs, Failure, useTitle } from "../layout.tsx";
import { insightsHref, projectHref, projectSettingsHref } from "../links.ts";
import { useUser } from "../session.tsx";
import { DataTable } from "../table.tsx";
import type { ListedProject, ProjectRemoved } from "../types.ts";
import { ConfirmDelete, ErrorText, useEdits } from "./project-settings/common.tsx";
import { AddProject } from "./projects/add.tsx";
import {
  FOLLOWED_KEY,
  followPath,
  invalidateProjects,
  useFollowed,
  useListedProjects,
} from "./projects/queries.ts";
import "./projects/projects.css";

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

export default function ProjectsPage() {
  useTitle("Projects");
  const admin = useUser().role === "admin";
  const client = useQueryClient();
  const [, navigate] = useLocation();
  const followedOnly = new URLSearchParams(useSearch()).get("followed") === "true";
  const projects = useListedProjects();
  const followed = useFollowed();
  // Each change reads again what it changed (a follow, even when refused), so no keys here.
  const { action, done, edit } = useEdits();
  const [name, setName] = useState("");
  const listHeading = useRef<HTMLHeadingElement>(null);
  const ids = { name: useId() };

  const all = projects.items ?? [];
  const following = followed.data;
  const needle = name.trim().toLowerCase();
  const shown = all.filter(
    (p) =>
      (!followedOnly || following?.has(p.slug)) &&
      (!needle || p.slug.toLowerCase().includes(needle) || p.vcs_info.vcs_url.toLowerCase().includes(needle)),
  );
  const followedCount = following ? all.filter((p) => following.has(p.slug)).length : undefined;

  const follow = (p: ListedProject, yes: boolean) =>
    edit(async () => {
      try {
        await api.post(followPath(p.slug, yes));
      } finally {
        await client.invalidateQueries({ queryKey: FOLLOWED_KEY });
      }
      return yes ? `Following ${p.slug}.` : `No longer following ${p.slug}.`;
    });

  const remove = (p: ListedProject) =>
    edit(async () => {
      const answer = await api.delete<ProjectRemoved>(`/api/gyre/projects/${slugPath(p.slug)}`);
      await invalidateProjects(client, p.slug);
      // The row and its button are gone: the list's heading has the focus, not the page's top.
      listHeading.current?.focus();
      return answer.message;
    });

  return (
    <section className="projects-page">
      <Crumbs items={[{ label: "Projects" }]} />
      <h1>Projects</h1>
      {admin && (
        <p className="links">
          <a href="#add-project">Add a project</a>
        </p>
      )}
      <section aria-labelledby="project-list-title">
        <h2 id="project-list-title" ref={listHeading} tabIndex={-1}>
          {followedOnly ? "Followed projects" : "All projects"}
        </h2>
        <form className="filters" aria-label="Filter projects" onSubmit={(e) => e.preventDefault()}>
          <label htmlFor={ids.name}>Name or URL</label>
          <input
            id={ids.name}
            type="search"
            value={name}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setName(e.target.value)}
          />
          <label className="check">
            <input
              type="checkbox"
              checked={followedOnly}
              onChange={(e) =>
                navigate(`/projects${query({ followed: e.target.checked ? "true" : undefined })}`)
              }
            />{" "}
            Followed only
          </label>
        </form>
        {projects.data && (
          <p className="hint">
            {plural(all.length, "project")}
            {followedCount !== undefined && ` · ${followedCount} followed`}
            {shown.length !== all.length && ` · ${shown.length} shown`}
          </p>
        )}
        <ErrorText error={action.error} />
        <p role="status" className="done">
          {done}
        </p>
        {projects.isError && <Failure error={projects.error} />}
        {followed.isError && <Failure error={followed.error} />}
        {(projects.isPending || (followedOnly && followed.isPending)) && (
          <p aria-busy="true">Loading projects…</p>
        )}
        {projects.data && (!followedOnly || following) && (
          <DataTable
            label="Projects"
            caption
            scroll
            items={shown}
            rowKey={(p) => p.slug}
            rowProps={(p) => ({ "data-slug": p.slug })}
            columns={[
              {
                header: "Project",
                rowHeader: true,
                cell: (p) => (
                  <>
                    <Link href={projectHref(p.slug)}>{p.slug}</Link>
                    {following?.has(p.slug) && (
                      <>
                        {" "}
                        <span className="chip good small">following</span>
                      </>
                    )}
                  </>
                ),
              },
              { header: "Repository", cell: (p) => <code className="repo-url">{p.vcs_info.vcs_url}</code> },
              {
                header: "Default branch",
                cell: (p) => <span className="branch">{p.vcs_info.default_branch}</span>,
              },
              {
                header: "Pages",
                cell: (p) => (
                  <span className="project-links">
                    <Link href={projectSettingsHref(p.slug)}>
                      Settings<span className="visually-hidden"> of {p.slug}</span>
                    </Link>
                    <Link href={insightsHref(p.slug)}>
                      Insights<span className="visually-hidden"> of {p.slug}</span>
                    </Link>
                  </span>
                ),
              },
            ]}
            actions={(p) => {
              const on = following?.has(p.slug) ?? false;
              return (
                <span className="project-actions">
                  <button
                    type="button"
                    className="small"
                    // Not `disabled` while a change runs: the focused button would lose the focus.
                    disabled={!following}
                    aria-disabled={action.busy || undefined}
                    onClick={() => !action.busy && void follow(p, !on)}
                  >
                    {on ? "Unfollow" : "Follow"}
                    <span className="visually-hidden"> {p.slug}</span>
                  </button>
                  {admin && (
                    <ConfirmDelete what={p.slug} disabled={action.busy} onConfirm={() => remove(p)} />
                  )}
                </span>
              );
            }}
            empty={
              <p>
                {all.length === 0
                  ? admin
                    ? "No projects yet: add one below."
                    : "No projects you may see yet: an administrator adds them, and grants you access."
                  : followedOnly && followedCount === 0
                    ? "You follow no projects yet: follow one from all projects."
                    : "No project matches."}
              </p>
            }
          />
        )}
      </section>
      {admin && <AddProject />}
    </section>
  );
}
