/** A status as a chip: its word always shown (never color alone), its color from its kind. */

const KIND: Record<string, string> = {
  success: "good",
  fixed: "good",
  failed: "bad",
  error: "bad",
  errored: "bad",
  infrastructure_fail: "bad",
  timedout: "bad",
  unauthorized: "bad",
  "terminated-unknown": "bad",
  failing: "running",
  running: "running",
  on_hold: "hold",
  queued: "waiting",
  not_running: "waiting",
  blocked: "waiting",
  pending: "waiting",
  created: "waiting",
  canceled: "off",
  not_run: "off",
  retried: "off",
};

export const statusKind = (status: string) => KIND[status] ?? "off";

export const statusLabel = (status: string) => status.replaceAll("_", " ").replaceAll("-", " ");

export function StatusChip({ status, small }: { status: string; small?: boolean }) {
  return (
    <span className={`chip ${statusKind(status)}${small ? " small" : ""}`} data-status={status}>
      {statusLabel(status)}
    </span>
  );
}
