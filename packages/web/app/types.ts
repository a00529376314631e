/** The API's shapes as the web app reads them (the fields it uses). */

export interface User {
  id: string;
  login: string;
  name?: string;
  role: "admin" | "normal";
  provider?: string;
}

export interface Session {
  user: User;
  csrf_token: string;
  expires_at: string;
}

export interface SignInMethods {
  github: boolean;
  ldap: boolean;
  github_connect: boolean;
  token: boolean;
}

export interface Page<T> {
  items: T[];
  next_page_token: string | null;
}

export interface Pipeline {
  id: string;
  number: number;
  project_slug: string;
  state: string;
  created_at: string;
  errors?: { type: string; message: string }[];
  trigger: { type: string; received_at?: string; actor?: { login: string } };
  vcs?: {
    branch?: string;
    tag?: string;
    revision?: string;
    commit?: { subject?: string; body?: string };
  };
}

export interface Workflow {
  id: string;
  name: string;
  status: string;
  pipeline_id: string;
  pipeline_number: number;
  project_slug: string;
  created_at: string;
  stopped_at: string | null;
}

export interface WorkflowJob {
  id: string;
  name: string;
  type: "build" | "approval";
  status: string;
  job_number?: number;
  started_at: string | null;
  stopped_at: string | null;
  dependencies: string[];
  approval_request_id?: string;
  approved_by?: string;
  /** Gyre's addition: the job's parallel runs (absent for an approval job). */
  parallelism?: number;
}

export interface StepAction {
  index: number;
  step: number;
  name: string;
  type: string;
  status: string;
  background: boolean;
  start_time: string;
  end_time: string | null;
  run_time_millis: number | null;
  exit_code: number | null;
}

export interface Build {
  build_num: number;
  build_url: string;
  status: string;
  lifecycle: string;
  job_name: string;
  branch: string | null;
  vcs_revision: string;
  subject: string | null;
  queued_at: string | null;
  start_time: string | null;
  stop_time: string | null;
  build_time_millis: number | null;
  parallel: number;
  messages: { type: string; message: string }[];
  workflows: { workflow_id: string; workflow_name: string; pipeline_id: string };
  steps: { name: string; actions: StepAction[] }[];
}

export interface JobDetails {
  web_url: string;
  name: string;
  number: number;
  status: string;
  started_at: string | null;
  stopped_at: string | null;
  queued_at?: string | null;
  parallelism: number;
  executor: { type: string; resource_class: string };
  /** `node`, `started_at` and `stopped_at` are Gyre's additions: where and when each run ran. */
  parallel_runs: {
    index: number;
    status: string;
    node?: { id: string; name: string | null };
    started_at?: string | null;
    stopped_at?: string | null;
  }[];
  latest_workflow: { id: string; name: string };
  pipeline: { id: string };
  messages?: { type: string; message: string; reason?: string }[];
  duration?: number | null;
}

export interface OutputChunk {
  seq: number;
  at: string;
  data: string;
}

export interface OutputRead {
  chunks: OutputChunk[];
  next: number;
  more: boolean;
  complete: boolean;
}

/** `GET /api/gyre/me/tokens` item: one of the caller's API tokens, never its value. */
export interface ApiToken {
  id: string;
  label: string;
  /** personal: acts as its user (CircleCI's personal API token); operator: the Nomad API and metrics only. */
  kind: "personal" | "operator" | "project";
  created_at: string | null;
  last_used_at: string | null;
}

/** `POST /api/gyre/me/tokens`'s answer (201): the token as listed, and its value, this once. */
export interface NewApiToken extends ApiToken {
  token: string;
}

/** `GET /api/gyre/me/ssh-keys` item: a public key an SSH rerun lets its user log in with. */
export interface UserSshKey {
  /** SHA-256, as `ssh-keygen -l` prints it: `SHA256:…`. */
  fingerprint: string;
  public_key: string;
  title: string;
  created_at: string;
}

/** A day of the week as a schedule's timetable names it. */
export type ScheduleDay = "SUN" | "MON" | "TUE" | "WED" | "THU" | "FRI" | "SAT";

export type ScheduleMonth =
  | "JAN"
  | "FEB"
  | "MAR"
  | "APR"
  | "MAY"
  | "JUN"
  | "JUL"
  | "AUG"
  | "SEP"
  | "OCT"
  | "NOV"
  | "DEC";

/**
 * When a scheduled pipeline fires, in UTC: `per-hour` times an hour at `hours-of-day`, on
 * `days-of-week` or on `days-of-month`, in `months` (every month when absent).
 */
export interface ScheduleTimetable {
  "per-hour": number;
  "hours-of-day": number[];
  "days-of-week"?: ScheduleDay[];
  "days-of-month"?: number[];
  months?: ScheduleMonth[];
}

export type PipelineParameterValue = string | number | boolean;

/** A scheduled pipeline (API v2 `/project/{slug}/schedule`, `/schedule/{id}`). */
export interface Schedule {
  id: string;
  name: string;
  description: string | null;
  "project-slug": string;
  timetable: ScheduleTimetable;
  /** The pipeline's parameters, with `branch` or `tag`. */
  parameters: Record<string, PipelineParameterValue>;
  "attribution-actor": "current" | "system";
  actor: { id: string; login: string; name: string };
  "created-at": string;
  "updated-at": string;
}

/** `GET /api/gyre/projects`: each project the user may see, in CircleCI's project shape. */
export interface ListedProject {
  slug: string;
  name: string;
  id: string;
  organization_name: string;
  organization_slug: string;
  organization_id: string;
  vcs_info: { vcs_url: string; provider: string; default_branch: string };
}

/** `GET /api/v1.1/projects`: a project the user follows, in v1.1's shape (no slug: vcs, org, repo). */
export interface FollowedProject {
  vcs_url: string;
  vcs_type: string;
  username: string;
  reponame: string;
  default_branch: string;
  followed: boolean;
}

/** `POST /api/gyre/projects` (201): the project, its settings, its GitHub connection, and its webhook secret (only here). */
export interface AddedProject extends ListedProject {
  settings: Record<string, boolean>;
  github?: GithubConnection;
  webhook_secret: string;
}

/** A project's GitHub connection as Gyre answers it (never its token). */
export interface GithubConnection {
  api_url: string;
  has_token: boolean;
  webhook_url: string | null;
  hook_id: number | null;
  deploy_key_id: number | null;
  /** Only in the answer that installed the key. */
  deploy_key_fingerprint?: string;
}

/** `DELETE /api/gyre/projects/{slug}`: what went (the project's pipelines and their output stay). */
export interface ProjectRemoved {
  message: string;
  github: { hook_removed: boolean; deploy_key_removed: boolean };
}
