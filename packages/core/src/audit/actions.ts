/**
 * Every action an audit record may name: CircleCI Server's where it has one, Gyre's own marked.
 * No imports, so the web app's audit page offers the same list (packages/web/app/pages/admin).
 */
export const AUDIT_ACTIONS = [
  "context.create",
  "context.delete",
  "context.env_var.delete",
  "context.env_var.store",
  /** Gyre's own: a backup restored into this installation (backup/restored.ts), by the system. */
  "installation.restore",
  "project.env_var.create",
  "project.env_var.delete",
  "project.settings.update",
  /** Gyre's own: a project added, removed, or its GitHub connection changed (no token or webhook secret). */
  "project.create",
  "project.delete",
  "project.github.update",
  /** Gyre's own: a project API token made or deleted (its label and scope, never the token). */
  "project.token.create",
  "project.token.delete",
  /** A scheduled pipeline made, changed or deleted (API v2's `/schedule`). */
  "schedule.create",
  "schedule.update",
  "schedule.delete",
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
  /** Gyre's own: a user's SSH public key for SSH reruns added or removed (its fingerprint and title). */
  "user.ssh_key.create",
  "user.ssh_key.delete",
  "workflow.job.approve",
  /** Gyre's own: an administrator deleted a build (its records and output: job/delete.ts). */
  "workflow.job.delete",
  "workflow.job.finish",
  "workflow.job.scheduled",
  "workflow.job.start",
  /** Gyre's own: a rerun with SSH, whose sessions see the job's secrets. */
  "workflow.job.ssh",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
