/**
 * The audit log: one module writes every record, with the fields the reference lists (`id`,
 * `action`, `actor`, `target`, `payload`, `occurred_at`, `metadata`, `version`, `scope`,
 * `success`, `request`). Records are kept by the hour they occurred in (the hourly files and
 * the listing of the administration issue read them so); an `id` is unique per event, so a
 * consumer can drop the duplicates a retried action may write, as the reference warns.
 *
 * A record never holds a secret value: payloads name variables, never their values. A write
 * that fails is retried once, then parked: put whole in the bucket (`audit-logs/parked/<id>.json`),
 * from where the hourly delivery (delivery.ts) puts it back into the table before it writes the
 * hour's file. Only when the bucket refuses it too is the whole record logged on one line
 * (`gyre audit: ...`), kept in the function's log. The action it records stands either way.
 *
 *   pk AUDIT#<yyyy-mm-ddThh>   sk <occurred_at>#<id>
 *
 * Reading them: query.ts (the admin API's listing and export), delivery.ts (the hourly files),
 * csv.ts (the CSV download).
 */
import { randomUUID } from "node:crypto";
import { putJson } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { organizationOf } from "../project/organization.ts";
import { z } from "../protocol/schema.ts";
import { putItem } from "../store/index.ts";
import { Keys } from "../table.ts";

export { AUDIT_ACTIONS, type AuditAction } from "./actions.ts";

import type { AuditAction } from "./actions.ts";

/** An entity in a record: always `id` and `type`, and a `name` when it has one. */
export interface AuditEntity {
  id: string;
  type: string;
  name?: string;
}

/** The external request an event came from (captured once per request, http/app.ts). */
export interface AuditRequest {
  id: string;
  ip_address?: string;
  client_trace_id?: string;
}

export interface AuditEvent {
  action: AuditAction;
  actor: AuditEntity;
  target: AuditEntity;
  scope?: AuditEntity;
  payload?: Record<string, unknown>;
  metadata?: Record<string, string>;
  success?: boolean;
  request?: AuditRequest;
}

export interface AuditRecord {
  id: string;
  action: AuditAction;
  actor: AuditEntity;
  target: AuditEntity;
  payload: Record<string, unknown>;
  occurred_at: string;
  metadata: Record<string, string>;
  version: 1;
  scope: AuditEntity | null;
  success: boolean;
  request: AuditRequest | null;
}

/** Who acts when no user does: dispatch moving a job (its start, its finish). */
export const SYSTEM_ACTOR: AuditEntity = {
  id: "00000000-0000-0000-0000-000000000000",
  type: "system",
  name: "gyre",
};

export function auditRecord(gyre: Gyre, event: AuditEvent): AuditRecord {
  return {
    id: randomUUID(),
    action: event.action,
    actor: event.actor,
    target: event.target,
    payload: event.payload ?? {},
    occurred_at: new Date(gyre.now()).toISOString(),
    metadata: event.metadata ?? {},
    version: 1,
    scope: event.scope ?? null,
    success: event.success ?? true,
    request: event.request ?? null,
  };
}

/** Where the audit log keeps objects in the bucket: parked records, the hourly files, their marker. */
export const AuditObjects = {
  /** A record the table would not take (see the module's header), until the delivery re-delivers it. */
  parkedPrefix: "audit-logs/parked/",
  parked: (id: string) => `audit-logs/parked/${id}.json`,
  /** The hourly files as the reference delivers them: one per hour that has records. */
  filesPrefix: "audit-logs/audit_log/v1/",
  /** `hour` is `<yyyy-mm-ddThh>` (UTC), as in the record's partition. */
  hourFile: (hour: string) =>
    `audit-logs/audit_log/v1/${hour.slice(0, 4)}/${hour.slice(5, 7)}/${hour.slice(8, 10)}/${hour.slice(11, 13)}/${hour}.json`,
  /** The last hour the delivery wrote files through (delivery.ts). */
  marker: "audit-logs/delivered.json",
} as const;

/** The record's item in the table: in its hour's partition, by time then id (a re-put is a no-op). */
export const auditItem = (record: AuditRecord) => ({
  ...Keys.audit(record.occurred_at, record.id),
  record,
});

/** The partition of one hour (`<yyyy-mm-ddThh>`), from the same key builder as the records'. */
export const auditPartition = (hour: string) => Keys.audit(hour, "").pk;

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** Writes one record (see the module's header for what happens when it cannot). */
export async function audit(gyre: Gyre, event: AuditEvent): Promise<AuditRecord> {
  const record = auditRecord(gyre, event);
  let failure: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await putItem(gyre, auditItem(record));
      return record;
    } catch (error) {
      failure = error;
    }
  }
  try {
    await putJson(gyre, AuditObjects.parked(record.id), record);
    console.error(
      `gyre audit: parked record ${record.id} (${record.action}) in the bucket, the table refused it (${describeError(failure)}); the hourly delivery puts it back`,
    );
  } catch (parking) {
    console.error(
      `gyre audit: could not record (${describeError(failure)}; parking: ${describeError(parking)}): ${JSON.stringify(record)}`,
    );
  }
  return record;
}

const EntitySchema = z.object({ id: z.string(), type: z.string(), name: z.string().optional() });

/** A record as Gyre stored it (table item's `record`, a parked object), every field the reference lists. */
export const AuditRecordSchema = z.object({
  id: z.string().min(1).max(100),
  action: z.string().min(1).max(100),
  actor: EntitySchema,
  target: EntitySchema,
  payload: z.record(z.string(), z.unknown()),
  occurred_at: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/),
  metadata: z.record(z.string(), z.string()),
  version: z.number(),
  scope: EntitySchema.nullable(),
  success: z.boolean(),
  request: z
    .object({ id: z.string(), ip_address: z.string().optional(), client_trace_id: z.string().optional() })
    .nullable(),
});

/** The reference's fields, in its order: the order of the hourly files' keys and the CSV's columns. */
export const AUDIT_FIELDS = [
  "id",
  "action",
  "actor",
  "target",
  "payload",
  "occurred_at",
  "metadata",
  "version",
  "scope",
  "success",
  "request",
] as const;

/** Objects with their keys sorted, all the way down: the same record always serializes the same. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
  );
}

/**
 * A record read back, in one canonical shape: the reference's fields in its order, nested keys
 * sorted (DynamoDB hands a map's attributes back in no set order), so a rewritten hourly file is
 * byte for byte the same file.
 */
export function canonicalRecord(stored: z.output<typeof AuditRecordSchema>): AuditRecord {
  const out: Record<string, unknown> = {};
  for (const field of AUDIT_FIELDS) out[field] = sorted(stored[field]);
  return out as unknown as AuditRecord;
}

/** The organization a project slug belongs to, as a record's scope. */
export const projectScope = (slug: string, organizationId?: string): AuditEntity => {
  const [vcs = "", org = ""] = slug.split("/");
  return { id: organizationId ?? `${vcs}/${org}`, type: "organization", name: org };
};

/**
 * The scope of a record about something of project `slug`: its organization by its UUID, as the
 * API's routes give it (read once per process, project/organization.ts), or by slug if it has none.
 */
export async function scopeOf(gyre: Gyre, slug: string): Promise<AuditEntity> {
  const [vcs = "", org = ""] = slug.split("/");
  // `slug` may be an organization's own (`gh/acme`, a context's owner): its projects' organization.
  const vcsType = vcs === "gh" ? "github" : vcs === "bb" ? "bitbucket" : vcs;
  const organization = await organizationOf(gyre, { slug, vcsType, org }).catch(() => undefined);
  return projectScope(slug, organization?.id);
}

/** A job's own record (`workflow.job.scheduled|start|finish`), by dispatch: its workflow, number, status. */
export const auditJob = async (
  gyre: Gyre,
  action: "workflow.job.scheduled" | "workflow.job.start" | "workflow.job.finish",
  job: {
    id: string;
    name: string;
    number: number;
    status: string;
    workflowId: string;
    projectSlug: string;
    attempt: number;
  },
  actor: AuditEntity = SYSTEM_ACTOR,
) =>
  await audit(gyre, {
    action,
    actor,
    target: { id: job.id, type: "job", name: job.name },
    scope: await scopeOf(gyre, job.projectSlug),
    payload: {
      workflow_id: job.workflowId,
      job_number: job.number,
      attempt: job.attempt,
      status: job.status,
      project_slug: job.projectSlug,
    },
  });
