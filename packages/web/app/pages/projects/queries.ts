/**
 * The projects page's reads: the projects the user may see (the pipelines page's `["projects"]`
 * query, shared), the ones they follow (`GET /api/v1.1/projects`, v1.1's shape, which names a
 * project by VCS type, organization and repository rather than by slug), and what a change
 * reads again.
 */
import { type QueryClient, type QueryKey, useQuery } from "@tanstack/react-query";
import { api, slugPath } from "../../api.ts";
import type { FollowedProject, ListedProject } from "../../types.ts";
import { useProjects } from "../pipelines.tsx";

export const FOLLOWED_KEY = ["followed-projects"];

/** Every project the user may see, with the fields the pipelines page's reader leaves out of its type. */
export function useListedProjects() {
  const projects = useProjects();
  return { ...projects, items: projects.data?.items as ListedProject[] | undefined };
}

const SHORT: Record<string, string> = { github: "gh", bitbucket: "bb" };

/** A v1.1 project's slug: `github`, `acme`, `api` → `gh/acme/api`. */
export const followedSlug = (p: FollowedProject) =>
  `${SHORT[p.vcs_type] ?? p.vcs_type}/${p.username}/${p.reponame}`;

/**
 * The slugs of the projects the user follows. The answer is costly (the server reads each
 * followed project's recent builds with it): read when the page opens and after a change, not on
 * every return to the tab.
 */
export function useFollowed() {
  return useQuery({
    queryKey: FOLLOWED_KEY,
    staleTime: 60_000,
    refetchOnWindowFocus: false,
    queryFn: async () =>
      new Set(
        (await api.get<FollowedProject[]>("/api/v1.1/projects")).map(followedSlug),
      ) as ReadonlySet<string>,
  });
}

export const followPath = (slug: string, follow: boolean) =>
  `/api/v1.1/project/${slugPath(slug)}/${follow ? "follow" : "unfollow"}`;

/**
 * What is read again after a project is added or removed: the lists that name projects (this
 * page's, the pipelines page's project picker, the followed ones) and every project's own answer.
 */
export const PROJECTS_KEYS: QueryKey[] = [["projects"], FOLLOWED_KEY, ["gyre-project"]];

/** After a project is removed: its own answer is forgotten, and `PROJECTS_KEYS` read again. */
export async function invalidateProjects(client: QueryClient, removed: string) {
  client.removeQueries({ queryKey: ["gyre-project", removed] });
  await Promise.all(PROJECTS_KEYS.map((queryKey) => client.invalidateQueries({ queryKey })));
}
