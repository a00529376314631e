/**
 * Usage statistics (the reference's "Detailed Usage Statistics": weekly account usage and weekly
 * job activity), computed from Gyre's own records for an ISO week (week.ts, report.ts), given
 * as JSON and CSV (format.ts) by `GET /api/gyre/usage` and `gyre usage`, and written to the
 * bucket once a week (delivery.ts). docs/operations.md "Usage statistics" says what counts.
 */
export * from "./delivery.ts";
export * from "./format.ts";
export * from "./report.ts";
export * from "./week.ts";
