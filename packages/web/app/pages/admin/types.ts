/** The admin API's shapes as the admin pages read them (the fields they use). */

export type UserState = "active" | "inactive" | "suspended" | "suspended-new";

/** `GET /api/gyre/users` item (core/src/auth/users.ts `userAdminJson`). */
export interface AdminUser {
  id: string;
  login: string;
  name: string;
  email: string | null;
  role: "admin" | "normal";
  state: UserState;
  provider: "local" | "github" | "ldap";
  github_login: string | null;
  ldap_dn: string | null;
  created_at: string;
  last_seen_at: string | null;
}

export interface UserList {
  items: AdminUser[];
  seats: number;
  counts: Record<UserState, number>;
}

/** `GET /api/gyre/users/{id}/tokens` item. */
export interface TokenInfo {
  id: string;
  label: string;
  kind: string;
  created_at: string;
  last_used_at: string | null;
}

/** `GET /v1/nodes` item: Nomad's NodeListStub. */
export interface NomadNodeStub {
  ID: string;
  Name: string;
  Status: string;
  StatusDescription: string;
  Drain: boolean;
  SchedulingEligibility: "eligible" | "ineligible";
  Datacenter: string;
  NodePool: string;
  NodeClass: string;
  Version: string;
  Attributes: Record<string, string>;
}

interface NomadResources {
  Cpu: { CpuShares: number };
  Memory: { MemoryMB: number };
}

/** `GET /v1/node/{id}`: Nomad's Node. */
export interface NomadNode extends NomadNodeStub {
  DrainStrategy: { Deadline: number; ForceDeadline: string; StartedAt: string } | null;
  NodeResources: NomadResources;
  ReservedResources: NomadResources;
  StatusUpdatedAt: number;
}

/** `GET /v1/node/{id}/allocations` item: Nomad's Allocation. */
export interface NomadAllocation {
  ID: string;
  Name: string;
  JobID: string;
  ClientStatus: string;
  Resources: { CPU: number; MemoryMB: number };
  Job: { Meta: { project?: string; job_name?: string; job_number?: string } };
  TaskStates: { build?: { State: string; StartedAt: string } };
}

/** `GET /api/gyre/queues` (packages/functions/src/http/queues.ts). */
export interface QueueReport {
  checked_at: string;
  queues: {
    resource_class: string;
    queue: string | null;
    waiting: number;
    in_flight: number;
    delayed: number;
    dead_letter: { queue: string; waiting: number } | null;
    error: string | null;
    jobs_waiting: number;
    oldest_queued_at: string | null;
    reason: { cause: string; message: string } | null;
  }[];
  jobs: {
    id: string;
    project_slug: string;
    pipeline_number: number;
    workflow_id: string;
    workflow_name: string;
    number: number;
    name: string;
    status: string;
    resource_class: string;
    queue_class: string;
    queued_at: string;
    waited_seconds: number;
    allocations_waiting: number;
  }[];
}

/** `GET /api/gyre/audit` item (core/src/audit). */
export interface AuditRecord {
  id: string;
  action: string;
  actor: { id: string; type: string; name?: string };
  target: { id: string; type: string; name?: string };
  payload: unknown;
  occurred_at: string;
  metadata: unknown;
  version: number;
  scope?: { id: string; type: string; name?: string };
  success: boolean;
  request?: { id: string; ip_address?: string; client_trace_id?: string };
}

/** `GET /api/gyre/usage` (core/src/usage/format.ts `usageJson`). */
export interface UsageJson {
  week: string;
  from: string;
  to: string;
  complete: boolean;
  generated_at: string;
  installed_at: string | null;
  note: string | null;
  totals: { jobs: number; tasks: number; build_seconds: number; build_minutes: number };
  account_usage: {
    organization: string;
    organization_id: string;
    platform: string;
    executor: string;
    resource_class: string;
    jobs: number;
    tasks: number;
    build_seconds: number;
    build_minutes: number;
  }[];
  active_users: {
    count: number;
    users: {
      id: string;
      login: string | null;
      name: string | null;
      registered: boolean;
      pipelines: number;
      reruns: number;
      approvals: number;
    }[];
  };
  job_activity: {
    project: string;
    organization: string;
    jobs: number;
    by_status: Record<string, number>;
    build_seconds: number;
    build_minutes: number;
  }[];
  projects: { total: number; building: number; new: number };
}

/** `POST /api/gyre/settings/ldap/test`. */
export interface LdapTestReport {
  ok: boolean;
  steps: { step: string; ok: boolean; detail: string }[];
}
