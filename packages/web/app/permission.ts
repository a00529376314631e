/**
 * What the signed-in user may do on a project, as the API says it (`permission` of
 * `GET /api/gyre/projects/{slug}`: view, write or admin): pages offer triggers, reruns, cancels
 * and approvals only with write, settings changes only with admin. The API checks every one of
 * them again; this only keeps the page from offering what would be refused.
 */
import { useQuery } from "@tanstack/react-query";
import { api, slugPath } from "./api.ts";
import type { GithubConnection } from "./types.ts";

export type Permission = "status" | "view" | "write" | "admin";

/** `GET /api/gyre/projects/{slug}`: CircleCI's project fields, Gyre's settings, its GitHub connection. */
export interface GyreProject {
  slug: string;
  name: string;
  organization_slug: string;
  vcs_info: { vcs_url: string; provider: string; default_branch: string };
  github?: GithubConnection;
  permission: Permission;
}

export const projectPath = (slug: string) => `/api/gyre/projects/${slugPath(slug)}`;

export function useProject(slug: string | undefined) {
  return useQuery({
    queryKey: ["gyre-project", slug],
    queryFn: () => api.get<GyreProject>(projectPath(slug!)),
    enabled: slug !== undefined,
    staleTime: 30_000,
  });
}

const RANK: Record<Permission, number> = { status: 1, view: 2, write: 3, admin: 4 };

/** Whether the user may do what needs `level` on the project (false until the API has said). */
export function useMay(slug: string | undefined, level: Permission): boolean {
  const project = useProject(slug);
  return project.data ? RANK[project.data.permission] >= RANK[level] : false;
}
