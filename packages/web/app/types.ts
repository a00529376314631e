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
  parallel_runs: { index: number; status: string }[];
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
