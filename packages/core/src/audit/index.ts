/**
 * The audit log: one module writes every record, with the fields the reference lists (`id`,
 * `action`, `actor`, `target`, `payload`, `occurred_at`, `metadata`, `version`, `scope`,
 * `success`, `request`). Records are kept by the hour they occurred in (the hourly files and
 * the listing of the administration issue read them so); an `id` is unique per event, so a
 * consumer can drop the duplicates a retried action may write, as the reference warns.
 *
 * A record never holds a secret value: payloads name variables, never their values. A write
 * that fails is retried once, then the whole record is logged on one line (`gyre audit: ...`)
 * so it is kept in the function's log; the action it records stands either way.
 *
 *   pk AUDIT#<yyyy-mm-ddThh>   sk <occurred_at>#<id>
 */
import { randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { organizationOf } from "../project/organization.ts";
import { putItem } from "../store/index.ts";
import { Keys } from "../table.ts";

export const AUDIT_ACTIONS = [
  "context.create",
  "context.delete",
  "context.env_var.delete",
  "context.env_var.store",
  "project.env_var.create",
  "project.env_var.delete",
  "project.settings.update",
  /** Gyre's own: a project API token made or deleted (its label and scope, never the token). */
  "project.token.create",
  "project.token.delete",
  /** Gyre's own: the installation's settings changed (before and after, secrets never shown). */
  "settings.update",
  "user.create",
  "user.logged_in",
  "user.logged_out",
  /** Gyre's own, an administrator's procedures on users (Managing User Accounts). */
  "user.suspend",
  "user.activate",
  "user.role.update",
  "user.delete",
  /** Gyre's own: a GitHub account connected after an LDAP sign-in. */
  "user.github.connect",
  /** Gyre's own: a personal or operator token made or revoked (its label, never the token). */
  "user.token.create",
  "user.token.revoke",
  "workflow.job.approve",
  "workflow.job.finish",
  "workflow.job.scheduled",
  "workflow.job.start",
  /** Gyre's own: a rerun with SSH, whose sessions see the job's secrets. */
  "workflow.job.ssh",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

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

/** Writes one record (see the module's header for what happens when it cannot). */
export async function audit(gyre: Gyre, event: AuditEvent): Promise<AuditRecord> {
  const record = auditRecord(gyre, event);
  const item = { ...Keys.audit(record.occurred_at, record.id), record };
  for (let attempt = 0; ; attempt++) {
    try {
      await putItem(gyre, item);
      return record;
    } catch (error) {
      if (attempt === 0) continue;
      console.error(
        `gyre audit: could not record (${(error as Error).name}: ${(error as Error).message}): ${JSON.stringify(record)}`,
      );
      return record;
    }
  }
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
