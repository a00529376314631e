/**
 * Commit statuses: each workflow's state on its commit, on GitHub or GitHub Enterprise, as
 * `ci/circleci: <workflow name>` (CircleCI's `ci/circleci: <name>` format; CircleCI names one
 * per job, Gyre one per workflow), linking to the workflow's page. Only for a GitHub project
 * with a token and `set_github_status` on (the default).
 *
 * Where it runs, and why once per change. A workflow's status is derived from its jobs, never
 * written (workflow/index.ts), and every change of it passes through `advanceWorkflow`:
 * Finalize after each allocation, a cancel or an approval, a rerun's new workflow, the
 * reconciler's repairs. So `advanceWorkflow` calls `reportWorkflow` with the status it
 * computed, and the intake calls it once for each workflow it created (`reportPipeline`), which
 * gives `pending` at once rather than when the first job ends. Several of these run at once for
 * one workflow (allocations finishing together, a replayed message): the GitHub state each
 * posts is first recorded on the workflow item with a conditional write (`githubStatus`:
 * `pending` only where none was recorded; a final state only over none or `pending`), and only
 * the writer that won posts. So each workflow posts `pending` once and its final state once,
 * and a late `pending` never overwrites a final state.
 *
 * A post never fails nor holds up the build: the jobs a change released were started before
 * this runs, errors are caught and logged (without the token), and the caller waits at most
 * `FOREGROUND_MS`: a post GitHub is slow to take (a rate limit being waited out, retries after
 * a 5xx) goes on in the background, bounded by the client's retries (github/client.ts), and is
 * logged if it fails in the end. (On AWS a post still retrying when the function returns goes
 * on when the function's container next runs, or is lost; then GitHub shows the previous state.)
 */
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import type { Pipeline } from "../pipeline/model.ts";
import { githubConnection } from "../project/github.ts";
import { findProject, type StoredProject } from "../project/index.ts";
import { type Condition, tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { readWorkflow, type WorkflowStatus, workflowIdsOf } from "../workflow/index.ts";
import { describeGithubError } from "./errors.ts";

export type GithubState = "pending" | "success" | "failure" | "error";

/** How long a caller waits for a post before leaving it to finish in the background. */
export const FOREGROUND_MS = 3000;

/** GitHub's state for a workflow's status. */
export function githubState(status: WorkflowStatus): GithubState {
  switch (status) {
    case "running":
    case "failing":
    case "on_hold":
      return "pending";
    case "success":
      return "success";
    case "failed":
      return "failure";
    default:
      // canceled, error, unauthorized, not_run: it ended without a verdict on the code.
      return "error";
  }
}

/** What GitHub shows beside the state (at most 140 characters). */
export function statusDescription(status: WorkflowStatus): string {
  switch (status) {
    case "running":
      return "Your tests are running on Gyre";
    case "failing":
      return "A job failed; the others are still running";
    case "on_hold":
      return "Waiting for approval";
    case "success":
      return "Your tests passed on Gyre!";
    case "failed":
      return "Your tests failed on Gyre";
    case "canceled":
      return "The workflow was canceled";
    case "unauthorized":
      return "The workflow was not authorized to run";
    case "not_run":
      return "No job of the workflow ran";
    default:
      return "The workflow could not run";
  }
}

export const statusContext = (workflowName: string) => `ci/circleci: ${workflowName}`;
/** CircleCI's context for a pipeline whose config could not be read or compiled. */
export const BUILD_ERROR_CONTEXT = "ci/circleci: Build Error";

const REVISION = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** The project, when statuses are to be posted for it. */
async function reporting(gyre: Gyre, slug: string): Promise<StoredProject | undefined> {
  if (!slug.startsWith("gh/")) return undefined;
  const project = await findProject(gyre, slug);
  return project?.settings.setGithubStatus && project.github?.hasToken ? project : undefined;
}

/** The conditional write that makes one caller, and one only, post `state`. */
const claim = (state: GithubState): Condition[] => [
  { path: "pk", exists: true },
  state === "pending"
    ? { path: "githubStatus", exists: false }
    : {
        or: [
          { path: "githubStatus", exists: false },
          { path: "githubStatus", eq: "pending" },
        ],
      },
];

export interface StatusPost {
  slug: string;
  sha: string;
  state: GithubState;
  context: string;
  description: string;
  targetUrl?: string;
}

/** Posts one status with the project's connection; logs (never throws) when it fails. */
export async function postStatus(gyre: Gyre, post: StatusPost, log = defaultLog): Promise<boolean> {
  const [, owner, repo] = post.slug.split("/");
  try {
    const connection = await githubConnection(gyre, post.slug);
    if (!connection) return false;
    const { githubClient } = await import("./client.ts");
    await githubClient(connection, { log }).rest.repos.createCommitStatus({
      owner: owner!,
      repo: repo!,
      sha: post.sha,
      state: post.state,
      context: post.context,
      description: post.description.slice(0, 140),
      ...(post.targetUrl ? { target_url: post.targetUrl } : {}),
    });
    return true;
  } catch (error) {
    log(
      `github: the ${post.state} status "${post.context}" of ${post.slug}@${post.sha.slice(0, 12)} was not posted: ${describeGithubError(error)}`,
    );
    return false;
  }
}

const defaultLog = (line: string) => console.warn(line);

/** Waits for `work` at most `ms`; past that it goes on alone (its own errors are its own). */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work,
    new Promise<void>((ok) => {
      timer = setTimeout(ok, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

export interface WorkflowRef {
  id: string;
  name: string;
  projectSlug: string;
  pipelineNumber: number;
}

/**
 * Posts the workflow's GitHub state if it changed (see the top of this file); never throws.
 * `jobs` give the commit (every job of a workflow checks out the pipeline's revision).
 */
export async function reportWorkflow(
  gyre: Gyre,
  workflow: WorkflowRef,
  jobs: readonly Pick<Job, "checkout">[],
  status: WorkflowStatus,
  log = defaultLog,
): Promise<void> {
  try {
    const sha = jobs[0]?.checkout.revision;
    if (!sha || !REVISION.test(sha)) return;
    const project = await reporting(gyre, workflow.projectSlug);
    if (!project) return;
    const state = githubState(status);
    if (
      !(await tryUpdate(gyre, Keys.workflow(workflow.id), {
        set: { githubStatus: state },
        when: claim(state),
      }))
    )
      return;
    const base = gyre.resources.apiUrl;
    const post = postStatus(
      gyre,
      {
        slug: project.slug,
        sha,
        state,
        context: statusContext(workflow.name),
        description: statusDescription(status),
        ...(base
          ? {
              targetUrl: `${base}/pipelines/${project.slug}/${workflow.pipelineNumber}/workflows/${workflow.id}`,
            }
          : {}),
      },
      log,
    );
    await atMost(post, FOREGROUND_MS);
  } catch (error) {
    log(`github: status of workflow ${workflow.id} not posted: ${(error as Error).message}`);
  }
}

/**
 * The intake's report of a pipeline it created: `pending` (or where it already ended, its
 * final state) for each of its workflows; a pipeline whose config could not be read or
 * compiled is a failure `ci/circleci: Build Error`, as CircleCI posts it. Never throws.
 */
export async function reportPipeline(gyre: Gyre, pipeline: Pipeline, log = defaultLog): Promise<void> {
  try {
    const project = await reporting(gyre, pipeline.projectSlug);
    if (!project) return;
    if (pipeline.state === "errored") {
      const sha = pipeline.vcs.revision;
      if (!REVISION.test(sha)) return;
      if (
        !(await tryUpdate(gyre, Keys.pipeline(pipeline.id), {
          set: { githubStatus: "failure" },
          when: claim("failure"),
        }))
      )
        return;
      const base = gyre.resources.apiUrl;
      await atMost(
        postStatus(
          gyre,
          {
            slug: project.slug,
            sha,
            state: "failure",
            context: BUILD_ERROR_CONTEXT,
            description: pipeline.errors[0]?.message ?? "The pipeline could not be created",
            ...(base ? { targetUrl: `${base}/pipelines/${project.slug}/${pipeline.number}` } : {}),
          },
          log,
        ),
        FOREGROUND_MS,
      );
      return;
    }
    await Promise.all(
      (await workflowIdsOf(gyre, pipeline.id)).map(async (id) => {
        const { workflow, jobs } = await readWorkflow(gyre, id);
        await reportWorkflow(gyre, workflow, jobs, workflow.status, log);
      }),
    );
  } catch (error) {
    log(`github: statuses of pipeline ${pipeline.id} not posted: ${(error as Error).message}`);
  }
}
