/**
 * CircleCI API v1.1 shapes (field names and values from CircleCI's v1.1 reference and the
 * clients written against it), built from Gyre's domain types. Routes call these; no route
 * builds a CircleCI shape itself.
 *
 * A v1.1 "build" is one Gyre job. Its `status`, `lifecycle` and `outcome` are v1.1's values,
 * not v2's (`buildState`). Gyre does not record a commit's author or committer, so those fields
 * are null; `subject` and `body` are the commit message the pipeline kept.
 */
import type { User } from "../auth/index.ts";
import type { EnvVarJson } from "../envvar/index.ts";
import type { Job, JobStatus } from "../job/index.ts";
import type { Pipeline } from "../pipeline/model.ts";
import type { Project } from "../project/index.ts";
import type { StepRecord } from "../protocol/agent.ts";
import type { CheckoutKey } from "../ssh/index.ts";
import { type ArtifactListing, artifactUrl } from "../storage/artifacts.ts";
import type { TestCaseResult } from "../test-result/junit.ts";

type ProjectFields = Pick<Project, "slug" | "vcsType" | "org" | "name" | "repoUrl">;

// ---------------------------------------------------------------------------------------------
// Status, lifecycle, outcome

export type V1Lifecycle = "queued" | "scheduled" | "not_run" | "not_running" | "running" | "finished";
export type V1Outcome = "canceled" | "infrastructure_fail" | "timedout" | "failed" | "no_tests" | "success";
export type V1Status =
  | "retried"
  | "canceled"
  | "infrastructure_fail"
  | "timedout"
  | "not_run"
  | "running"
  | "failed"
  | "queued"
  | "scheduled"
  | "not_running"
  | "no_tests"
  | "fixed"
  | "success";

export interface BuildState {
  status: V1Status;
  lifecycle: V1Lifecycle;
  outcome: V1Outcome | null;
}

/**
 * A job's v1.1 state. A job waiting for what it requires, or on hold, is `not_running`; one
 * that may not use its context ended `failed` (v1.1 has no `unauthorized`). A success after a
 * failed previous build is `fixed`, as CircleCI reports it.
 */
export function buildState(job: Pick<Job, "status">, previous?: Pick<Job, "status"> | null): BuildState {
  const finished = (outcome: V1Outcome, status: V1Status = outcome): BuildState => ({
    status,
    lifecycle: "finished",
    outcome,
  });
  switch (job.status) {
    case "blocked":
    case "on_hold":
      return { status: "not_running", lifecycle: "not_running", outcome: null };
    case "queued":
      return { status: "queued", lifecycle: "queued", outcome: null };
    case "running":
      return { status: "running", lifecycle: "running", outcome: null };
    case "not_run":
      return { status: "not_run", lifecycle: "not_run", outcome: null };
    case "success": {
      const before = previous ? buildState(previous).outcome : null;
      const fixed = before === "failed" || before === "timedout" || before === "infrastructure_fail";
      return finished("success", fixed ? "fixed" : "success");
    }
    case "unauthorized":
      return finished("failed");
    default:
      return finished(job.status);
  }
}

/** The jobs a v1.1 `filter` keeps (`completed`, `successful`, `failed`, `running`). */
export const FILTER_STATUSES = {
  completed: ["success", "failed", "infrastructure_fail", "timedout", "canceled", "unauthorized"],
  successful: ["success"],
  failed: ["failed", "infrastructure_fail", "timedout", "unauthorized"],
  running: ["running"],
} as const satisfies Record<string, readonly JobStatus[]>;
export type BuildFilter = keyof typeof FILTER_STATUSES;

// ---------------------------------------------------------------------------------------------
// Builds

/** What a build's summary shows beyond the job itself, read by the route. */
export interface BuildContext {
  project: ProjectFields;
  baseUrl: string;
  /** The job's pipeline: its commit message and who triggered it. */
  pipeline?: Pipeline;
  /** Its previous build (same job, same branch; null: none): `previous`, and `fixed` in `status`. */
  previous: Job | null;
  /**
   * What a full summary adds (absent: a shallow one, CircleCI's `shallow=true`): the ids of the
   * jobs it requires (`workflows.upstream_job_ids`), the number of the build it reruns
   * (`retry_of`; null: none), and with them `previous` and `all_commit_details`.
   */
  deep?: { upstreamJobIds: string[]; retryOf: number | null };
}

const ms = (from?: string, to?: string) => (from && to ? Date.parse(to) - Date.parse(from) : null);

const buildUrl = (base: string, job: Job) =>
  `${base}/pipelines/${job.projectSlug}/${job.pipelineNumber}/workflows/${job.workflowId}/jobs/${job.number}`;

/** Why a build ran, in v1.1's words: `github` (a push), `api`, `retry`, `scheduled_pipeline`. */
function why(project: ProjectFields, pipeline: Pipeline | undefined, rerun: boolean): string | null {
  if (rerun) return "retry";
  switch (pipeline?.trigger.type) {
    case "webhook":
      return project.vcsType === "bitbucket" ? "bitbucket" : "github";
    case "api":
      return "api";
    case "scheduled_pipeline":
      return "scheduled_pipeline";
    default:
      return null;
  }
}

/** Who triggered it: the API caller or the pusher (a schedule is not a user). */
const userJson = (project: ProjectFields, pipeline: Pipeline | undefined) =>
  pipeline
    ? {
        is_user: pipeline.trigger.type !== "scheduled_pipeline",
        login: pipeline.trigger.actor,
        name: null,
        avatar_url: null,
        vcs_type: project.vcsType,
      }
    : null;

/** Author and committer: not recorded by Gyre. */
const PEOPLE = {
  committer_name: null,
  committer_email: null,
  committer_date: null,
  author_name: null,
  author_email: null,
  author_date: null,
} as const;

const previousJson = (previous: Job) => ({
  build_num: previous.number,
  status: buildState(previous).status,
  build_time_millis: ms(previous.startedAt, previous.stoppedAt),
});

/** A build summary: an item of the recent-builds lists (and the head of a build's details). */
export function buildSummaryJson(job: Job, ctx: BuildContext) {
  const { project, pipeline } = ctx;
  const commit = pipeline?.vcs.commit;
  const rerun = job.workspaceId !== undefined && job.workspaceId !== job.workflowId;
  return {
    vcs_url: project.repoUrl,
    build_url: buildUrl(ctx.baseUrl, job),
    build_num: job.number,
    branch: job.checkout.branch ?? null,
    vcs_revision: job.checkout.revision,
    vcs_tag: job.checkout.tag ?? null,
    vcs_type: project.vcsType,
    username: project.org,
    reponame: project.name,
    ...PEOPLE,
    subject: commit?.subject ?? null,
    body: commit?.body ?? null,
    ...(ctx.deep && commit
      ? {
          all_commit_details: [
            { commit: job.checkout.revision, branch: job.checkout.branch ?? null, ...PEOPLE, ...commit },
          ],
        }
      : {}),
    why: why(project, pipeline, rerun),
    dont_build: null,
    queued_at: job.queuedAt ?? job.createdAt,
    usage_queued_at: job.createdAt,
    start_time: job.startedAt ?? null,
    stop_time: job.stoppedAt ?? null,
    build_time_millis: ms(job.startedAt, job.stoppedAt),
    ...buildState(job, ctx.previous),
    canceled: job.status === "canceled",
    failed: job.status === "failed" || job.status === "unauthorized" ? true : null,
    infrastructure_fail: job.status === "infrastructure_fail",
    timedout: job.status === "timedout",
    parallel: job.plan?.parallelism ?? 1,
    platform: "2.0",
    user: userJson(project, pipeline),
    job_name: job.name,
    build_parameters: { CIRCLE_JOB: job.name },
    messages: (job.messages ?? []).map((m) => ({ type: m.type, message: m.message })),
    workflows: {
      job_name: job.name,
      job_id: job.id,
      workflow_id: job.workflowId,
      workflow_name: job.workflowName,
      workspace_id: job.workspaceId ?? job.workflowId,
      ...(ctx.deep ? { upstream_job_ids: ctx.deep.upstreamJobIds } : {}),
      upstream_concurrency_map: {},
      pipeline_id: job.pipelineId,
    },
    ...(ctx.deep
      ? { retry_of: ctx.deep.retryOf, previous: ctx.previous ? previousJson(ctx.previous) : null }
      : {}),
  };
}

/** One allocation's step records, and the node index it ran as. */
export interface AllocationSteps {
  node: number;
  steps: StepRecord[];
}

/**
 * `GET /project/{slug}/{build_num}`: the summary with `steps[].actions[]`, one action per node
 * that ran the step (a node that stopped early has fewer), each with its output URL.
 */
export function buildJson(
  job: Job,
  ctx: BuildContext,
  allocations: AllocationSteps[],
  outputUrl: (step: number, node: number) => string,
) {
  const byStep = new Map<number, { name: string; actions: (StepRecord & { node: number })[] }>();
  for (const { node, steps } of allocations) {
    for (const s of steps) {
      const entry = byStep.get(s.index) ?? { name: s.name, actions: [] };
      entry.actions.push({ ...s, node });
      byStep.set(s.index, entry);
    }
  }
  const steps = [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, { name, actions }]) => ({
      name,
      actions: actions.map((a) => ({
        index: a.node,
        step,
        name: a.name,
        type: a.type,
        status: a.status,
        background: a.background ?? false,
        parallel: job.plan !== undefined && job.plan.parallelism > 1,
        start_time: a.startedAt,
        end_time: a.endedAt ?? null,
        run_time_millis: ms(a.startedAt, a.endedAt),
        exit_code: a.exitCode ?? null,
        failed: a.status === "failed" ? true : null,
        canceled: a.status === "canceled" ? true : null,
        timedout: a.status === "timedout" ? true : null,
        messages: [],
        has_output: true,
        output_url: outputUrl(step, a.node),
      })),
    }));
  return { ...buildSummaryJson(job, ctx), steps };
}

/**
 * The answer to a v1.1 trigger whose pipeline has no build to show: its config had errors
 * (`failed`, the errors as messages), no workflow of it ran (`not_run`), or the intake has not
 * read it yet (`not_running`).
 */
export function pipelineBuildJson(pipeline: Pipeline, project: ProjectFields, baseUrl: string) {
  const state: BuildState =
    pipeline.state === "errored"
      ? { status: "failed", lifecycle: "finished", outcome: "failed" }
      : pipeline.state === "pending"
        ? { status: "not_running", lifecycle: "not_running", outcome: null }
        : { status: "not_run", lifecycle: "not_run", outcome: null };
  const messages =
    pipeline.state === "errored"
      ? pipeline.errors.map((e) => ({ type: "error", message: e.message }))
      : pipeline.state === "pending"
        ? [{ type: "info", message: "The pipeline's config has not been read yet." }]
        : [{ type: "warning", message: "No workflow of the config ran for this pipeline." }];
  return {
    vcs_url: project.repoUrl,
    build_url: `${baseUrl}/pipelines/${project.slug}/${pipeline.number}`,
    build_num: null,
    branch: pipeline.vcs.branch ?? null,
    vcs_revision: pipeline.vcs.revision || null,
    vcs_tag: pipeline.vcs.tag ?? null,
    vcs_type: project.vcsType,
    username: project.org,
    reponame: project.name,
    ...PEOPLE,
    subject: pipeline.vcs.commit?.subject ?? null,
    body: pipeline.vcs.commit?.body ?? null,
    why: why(project, pipeline, false),
    dont_build: null,
    queued_at: null,
    usage_queued_at: pipeline.createdAt,
    start_time: null,
    stop_time: null,
    build_time_millis: null,
    ...state,
    canceled: false,
    failed: pipeline.state === "errored" ? true : null,
    infrastructure_fail: false,
    timedout: false,
    platform: "2.0",
    user: userJson(project, pipeline),
    messages,
    workflows: null,
  };
}

/** `GET .../{build_num}/output/{step}/{index}`: the action's whole output as one message. */
export const actionOutputJson = (message: string, time: string) => [
  { type: "out", time, message, truncated: false },
];

/** `GET .../{build_num}/artifacts`. */
export function artifactsJson(
  artifacts: ArtifactListing[],
  job: Pick<Job, "projectSlug" | "number" | "attempt">,
  baseUrl: string,
) {
  return artifacts.map((a) => ({
    path: a.path,
    pretty_path: a.path,
    node_index: a.nodeIndex,
    url: artifactUrl(baseUrl, job, a.nodeIndex, a.path),
  }));
}

/** `GET .../{build_num}/tests`. */
export const testsJson = (tests: TestCaseResult[]) => ({
  tests: tests.map((t) => ({
    classname: t.classname,
    file: t.file,
    name: t.name,
    result: t.result,
    run_time: t.run_time,
    message: t.message,
    source: t.source,
  })),
});

// ---------------------------------------------------------------------------------------------
// Users and projects

const followedProjects = (followed: ProjectFields[]) =>
  Object.fromEntries(followed.map((p) => [p.repoUrl, { on_dashboard: true, emails: "default" }]));

/** `GET /me`: the caller, with the projects they follow. */
export function meJson(user: User, followed: ProjectFields[]) {
  return {
    login: user.login,
    name: user.name,
    admin: user.admin,
    avatar_url: null,
    basic_email_prefs: "smart",
    selected_email: null,
    all_emails: [],
    created_at: user.createdAt,
    sign_in_count: 0,
    projects: followedProjects(followed),
  };
}

const branchBuildJson = (job: Job, previous: Job | undefined) => {
  const { status, outcome } = buildState(job, previous);
  return {
    build_num: job.number,
    status,
    outcome,
    vcs_revision: job.checkout.revision,
    pushed_at: job.createdAt,
    added_at: job.createdAt,
  };
};

/** How many of a branch's builds `projects` shows (CircleCI's five). */
export const BRANCH_RECENT_BUILDS = 5;

/**
 * An item of `GET /projects`: a followed project with its branches' builds, from its recent
 * jobs (newest first). Branch names are keys URL-encoded, as CircleCI sends them.
 */
export function followedProjectJson(project: Project, recent: Job[]) {
  const branches = new Map<string, Job[]>();
  for (const job of recent) {
    const branch = job.checkout.branch;
    if (branch === undefined) continue;
    branches.set(branch, [...(branches.get(branch) ?? []), job]);
  }
  const previousIn = (jobs: Job[], i: number) => jobs.slice(i + 1).find((j) => j.name === jobs[i]!.name);
  const summary = (jobs: Job[], job: Job | undefined) =>
    job ? branchBuildJson(job, previousIn(jobs, jobs.indexOf(job))) : null;
  return {
    vcs_url: project.repoUrl,
    vcs_type: project.vcsType,
    username: project.org,
    reponame: project.name,
    default_branch: project.defaultBranch,
    followed: true,
    branches: Object.fromEntries(
      [...branches.entries()].map(([branch, jobs]) => [
        encodeURIComponent(branch),
        {
          recent_builds: jobs
            .slice(0, BRANCH_RECENT_BUILDS)
            .map((j) => branchBuildJson(j, previousIn(jobs, jobs.indexOf(j)))),
          running_builds: jobs.filter((j) => j.status === "running").map((j) => summary(jobs, j)),
          last_success: summary(
            jobs,
            jobs.find((j) => j.status === "success"),
          ),
          last_non_success: summary(
            jobs,
            jobs.find((j) => buildState(j).lifecycle === "finished" && j.status !== "success"),
          ),
        },
      ]),
    ),
  };
}

/** `POST .../follow` and `.../unfollow`. */
export const followJson = (followed: boolean) => (followed ? { followed, first_build: null } : { followed });

// ---------------------------------------------------------------------------------------------
// Project settings

/** `GET/POST .../envvar` (values masked: `xxxx` and the last four characters). */
export const envVarJson = (v: EnvVarJson) => ({ name: v.name, value: v.value });

/** `DELETE .../build-cache`, as CircleCI answers it. */
export const cacheClearedJson = { status: "build caches deleted" } as const;

/** `GET/POST .../checkout-key`: v1.1's `CheckoutKey` (`time` is when it was made). */
export const checkoutKeyJson = (k: CheckoutKey) => ({
  public_key: k.publicKey,
  type: k.type,
  fingerprint: k.fingerprint,
  preferred: k.preferred,
  time: k.createdAt,
  login: null,
});
