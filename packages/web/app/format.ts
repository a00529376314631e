/** Durations and times as the pages show them. */

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** From `start` to `end` (or to now, while it runs). */
export function between(start: string | null | undefined, end: string | null | undefined, now = Date.now()) {
  if (!start) return "";
  return duration((end ? Date.parse(end) : now) - Date.parse(start));
}

export function ago(time: string | null | undefined, now = Date.now()): string {
  if (!time) return "";
  const s = Math.round((now - Date.parse(time)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** Whether a job or workflow status will not change any more. */
export const settled = (status: string) =>
  ![
    "running",
    "queued",
    "not_running",
    "on_hold",
    "blocked",
    "failing",
    "pending",
    "created",
    "setup-pending",
  ].includes(status);

/**
 * How often a workflow's job list is read again: until the workflow and every job in the last
 * answer have settled (the workflow's own read may settle first, while the list still holds a
 * job's earlier status).
 */
export const jobsRefetch = (
  workflowStatus: string | undefined,
  jobs: { status: string }[] | undefined,
  ms: number,
) =>
  workflowStatus !== undefined && settled(workflowStatus) && jobs?.every((j) => settled(j.status))
    ? false
    : ms;
