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

/**
 * The job a path names (`/pipelines/{vcs}/{org}/{repo}/{n}/workflows/{id}/jobs/{job}`), if any:
 * only slug parts a project can have (letters, digits, `_ . -`; never `.` or `..`), so a crafted
 * path cannot make the reads started for it ask for anything but a job.
 */
export function jobOfPath(path: string): { slug: string; number: number } | undefined {
  const m =
    /^\/pipelines\/((?:gh|github|bb|bitbucket|local)\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+)\/[1-9][0-9]*\/workflows\/[^/]+\/jobs\/([1-9][0-9]{0,11})$/.exec(
      path,
    );
  if (!m || m[1]!.split("/").some((part) => part === "." || part === "..")) return undefined;
  return { slug: m[1]!, number: Number(m[2]) };
}
