/**
 * Reads more than one module starts: the job page's, which main.tsx also starts while the
 * session is checked when a visit opens on a job (the page then finds them under way or done).
 */
import { api, slugPath } from "./api.ts";
import type { Build, JobDetails } from "./types.ts";

/**
 * Fresh for a second (the job page reads a running job again at that pace): a read main.tsx
 * started is not sent again when the page mounts a moment later.
 */
const FRESH_MS = 1000;

export const jobQuery = (slug: string, number: number) => ({
  queryKey: ["job", slug, number],
  staleTime: FRESH_MS,
  queryFn: () => api.get<JobDetails>(`/api/v2/project/${slugPath(slug)}/job/${number}`),
});

export const buildQuery = (slug: string, number: number) => ({
  queryKey: ["build", slug, number],
  staleTime: FRESH_MS,
  queryFn: () => api.get<Build>(`/api/v1.1/project/${slugPath(slug)}/${number}`),
});

/** The job a path names (`/pipelines/{vcs}/{org}/{repo}/{n}/workflows/{id}/jobs/{job}`), if any. */
export function jobOfPath(path: string): { slug: string; number: number } | undefined {
  const m =
    /^\/pipelines\/([^/]+\/[^/]+\/[^/]+)\/[1-9][0-9]*\/workflows\/[^/]+\/jobs\/([1-9][0-9]{0,11})$/.exec(
      path,
    );
  return m ? { slug: decodeURIComponent(m[1]!), number: Number(m[2]) } : undefined;
}
