/**
 * The audit log as the reference downloads it: a CSV file, one row per record, a column for each
 * field the reference lists (`id, action, actor, target, payload, occurred_at, metadata, version,
 * scope, success, request`), nested fields as JSON blobs. RFC 4180: CRLF line ends, a header row,
 * a cell with a comma, a double quote, CR or LF quoted, its quotes doubled. An absent nested field
 * (`scope`, `request` of a record no request caused) is an empty cell.
 */
import { AUDIT_FIELDS, type AuditRecord } from "./index.ts";

/** One RFC 4180 cell. */
export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const cellOf = (value: unknown): string =>
  value === null || value === undefined
    ? ""
    : typeof value === "object"
      ? JSON.stringify(value)
      : String(value);

/** The header row and one row per record, each line ending CRLF. */
export function auditCsv(records: readonly AuditRecord[], header = true): string {
  const rows = records.map((r) =>
    AUDIT_FIELDS.map((f) => csvCell(cellOf((r as unknown as Record<string, unknown>)[f]))).join(","),
  );
  return [...(header ? [AUDIT_FIELDS.join(",")] : []), ...rows].map((line) => `${line}\r\n`).join("");
}
