/**
 * Creating a pipeline from an intake message, in an order that makes a replay safe:
 * deterministic ids, conditional writes, jobs and workflows before the pipeline's state moves
 * on, root jobs started last. An invalid config or a missing file becomes a pipeline in state
 * `errored` carrying the messages, never a crash.
 */
import { randomBytes } from "node:crypto";
import { findUserByLogin } from "../auth/index.ts";
import { SCHEDULE_TRIGGER_SOURCE } from "../config/compile.ts";
import { compileConfig } from "../config/index.ts";
import type { CompiledConfig, ConfigDiagnostic, PipelineValues } from "../config/plan.ts";
import type { Gyre } from "../context.ts";
import { advanceWorkflow, readyStatus } from "../dispatch/advance.ts";
import { cancelRedundantWorkflows } from "../dispatch/auto-cancel.ts";
import { startAllocations } from "../dispatch/execution.ts";
import { GyreError } from "../error.ts";
import { readAtRevision, resolveRevision } from "../git/index.ts";
import { deterministicUuid } from "../id.ts";
import { freshAllocations, type Job } from "../job/index.ts";
import { pipelineMove } from "../job/transitions.ts";
import { orbResolver } from "../orb/index.ts";
import { getProject, type Project, rememberJobsPerPipeline, reserveNumbers } from "../project/index.ts";
import { CommitMessage } from "../protocol/api.ts";
import { syncConfigSchedules } from "../schedule/model.ts";
import { encryptSecret } from "../secret/index.ts";
import { isSshUrl, preferredCheckoutKey } from "../ssh/index.ts";
import { putNew, tryUpdate } from "../store/index.ts";
import { activeShard, Index, Keys, padNumber } from "../table.ts";
import { readWorkflow, type WorkflowItem, workflowIdsOf } from "../workflow/index.ts";
import { compiledConfigText, recordPipelineConfig } from "./config.ts";
import {
  CONFIG_PATH,
  type IntakeMessage,
  type Pipeline,
  type PipelineError,
  providerName,
  type TriggerInfo,
} from "./model.ts";
import { findPipeline } from "./read.ts";

export const countJobs = (config: CompiledConfig) => config.workflows.reduce((n, w) => n + w.jobs.length, 0);

export function formatDiagnostic(d: ConfigDiagnostic): string {
  const where =
    d.line !== undefined ? ` (line ${d.line}${d.column !== undefined ? `, column ${d.column}` : ""})` : "";
  return `${d.path ? `${d.path}: ` : ""}${d.message}${where}`;
}

export function pipelineValues(
  project: Project,
  pipeline: Pick<Pipeline, "id" | "number" | "vcs" | "trigger">,
  parameters?: Pipeline["parameters"],
): PipelineValues {
  return {
    id: pipeline.id,
    number: pipeline.number,
    branch: pipeline.vcs.branch,
    tag: pipeline.vcs.tag,
    revision: pipeline.vcs.revision,
    gitUrl: project.repoUrl,
    projectType: project.vcsType,
    // A config schedule's pipeline is CircleCI's legacy scheduled workflow run.
    triggerSource: pipeline.trigger.schedule?.workflow ? SCHEDULE_TRIGGER_SOURCE : pipeline.trigger.type,
    parameters,
    ...(pipeline.trigger.schedule
      ? { schedule: { id: pipeline.trigger.schedule.id, name: pipeline.trigger.schedule.name } }
      : {}),
    ...(pipeline.trigger.schedule?.workflow ? { scheduledWorkflow: pipeline.trigger.schedule.workflow } : {}),
    // What the jobs' CIRCLE_PULL_REQUEST(S) and CIRCLE_PR_* say (agent/src/job.ts).
    ...(pipeline.trigger.pullRequests?.length ? { pullRequests: pipeline.trigger.pullRequests } : {}),
  };
}

/**
 * The trigger with the id of the Gyre user who made it. An API trigger names its caller; a
 * webhook names the pusher's login, which is the user with that login or, when no user has it,
 * a UUID derived from the VCS and the login: the same for every push of theirs, though no user
 * answers to it (`GET /user/{id}` is a 404).
 */
async function withActorId(gyre: Gyre, project: Project, trigger: TriggerInfo): Promise<TriggerInfo> {
  if (trigger.actorId) return trigger;
  const user = await findUserByLogin(gyre, trigger.actor);
  return { ...trigger, actorId: user?.id ?? deterministicUuid("vcs-user", project.vcsType, trigger.actor) };
}

/**
 * The intake: creates the pipeline a trigger asks for (or finishes creating it, when this
 * message was delivered before) and starts its first jobs. A pipeline triggered through the
 * API exists already, `pending`, with its number and a block of job numbers.
 */
export async function createPipeline(gyre: Gyre, message: IntakeMessage): Promise<Pipeline> {
  const existing = await findPipeline(gyre, message.pipelineId);
  if (existing && existing.state !== "pending") {
    await startWorkflows(gyre, existing.id);
    return existing;
  }
  const project = await getProject(gyre, message.projectSlug).catch(async (error: unknown) => {
    // The project was removed after an API trigger: its pending pipeline ends errored instead of
    // waiting for an intake that can never succeed (the message itself is dropped).
    if (existing && error instanceof GyreError && error.code === "not_found") {
      const now = new Date(gyre.now()).toISOString();
      await tryUpdate(
        gyre,
        Keys.pipeline(existing.id),
        pipelineMove(
          existing.id,
          "compile",
          "errored",
          { errors: [{ type: "other", message: error.message }] },
          now,
        ),
      );
    }
    throw error;
  });
  const now = new Date(gyre.now()).toISOString();
  const base = {
    id: message.pipelineId,
    projectSlug: project.slug,
    trigger: await withActorId(gyre, project, message.trigger),
    ...(message.parameters ? { parameters: message.parameters } : {}),
    createdAt: existing?.createdAt ?? now,
  };
  const vcs: Pipeline["vcs"] = {
    providerName: providerName(project.vcsType),
    repoUrl: project.repoUrl,
    revision: message.ref.revision ?? "",
    branch: message.ref.branch,
    tag: message.ref.tag,
    commit: message.commit,
  };

  let source: string | undefined;
  try {
    // Over SSH the server reads with the project's checkout key, as its jobs check out.
    const sshKey = isSshUrl(project.repoUrl)
      ? (await preferredCheckoutKey(gyre, project.slug))?.privateKey
      : undefined;
    const repo = { url: project.repoUrl, sshKey };
    vcs.revision = await resolveRevision(gyre.scratchDir, repo, message.ref);
    const read = await readAtRevision(gyre.scratchDir, repo, vcs.revision, CONFIG_PATH);
    source = read.file;
    vcs.commit ??= CommitMessage.parse({ subject: read.subject, body: read.body });
  } catch (error) {
    if (!(error instanceof GyreError)) throw error;
    return settleErrored(gyre, existing, base, vcs, [{ type: "config-fetch", message: error.message }]);
  }
  if (source === undefined) {
    return settleErrored(gyre, existing, base, vcs, [
      { type: "config-fetch", message: `No ${CONFIG_PATH} found at revision ${vcs.revision}.` },
    ]);
  }

  const values = (number: number) => pipelineValues(project, { ...base, number, vcs }, message.parameters);
  // `pipeline.number` can change what compiles: compile with the number when it is known.
  let compiled = await compileConfig(source, {
    pipeline: values(existing?.number ?? 0),
    orbs: orbResolver(gyre),
  });
  const jobCount = compiled.ok ? countJobs(compiled.config) : 0;
  const { pipelineNumber, firstJobNumber } = await numbersFor(gyre, project, existing, jobCount);
  if (!existing && source.includes("pipeline.number")) {
    compiled = await compileConfig(source, { pipeline: values(pipelineNumber), orbs: orbResolver(gyre) });
    if (compiled.ok && countJobs(compiled.config) !== jobCount) {
      throw new GyreError(
        "internal",
        "The config compiled to a different set of jobs for the same pipeline.",
      );
    }
  }
  if (!compiled.ok) {
    await recordPipelineConfig(gyre, base.id, "created", { source, compiled: "", setup: false });
    return settleErrored(
      gyre,
      existing,
      base,
      vcs,
      compiled.errors.map((e) => ({ type: "config", message: formatDiagnostic(e) })),
      pipelineNumber,
    );
  }

  // The default branch's config says which workflows run on a cron (CircleCI reads them there).
  if (vcs.branch === project.defaultBranch && !message.trigger.schedule)
    await syncConfigSchedules(gyre, project, compiled.config.scheduledWorkflows ?? []);

  const setup = compiled.config.setup;
  const pipeline: Pipeline = {
    ...base,
    number: pipelineNumber,
    // A setup pipeline runs its setup workflow, then waits to be continued with its real config.
    state: setup ? "setup" : "created",
    errors: [],
    vcs,
    updatedAt: now,
  };
  const continuation = setup ? await sealContinuationKey(gyre, pipeline.id) : undefined;
  // The config is kept with the jobs and workflows, before the pipeline's state moves on.
  const options = { pipeline: values(pipelineNumber), orbs: orbResolver(gyre) };
  const [{ roots, settled, written }] = await Promise.all([
    writeWorkflows(gyre, project, pipeline, compiled.config, options.pipeline, firstJobNumber, "setup"),
    compiledConfigText(source, options).then((text) =>
      recordPipelineConfig(gyre, pipeline.id, "created", { source, compiled: text, setup: Boolean(setup) }),
    ),
  ]);
  // Jobs and workflows are written: the pipeline's state moves on with the first executions. A
  // delivery starts only the jobs it wrote itself, and the others only if its move won (a
  // concurrent duplicate of the message may have compiled another revision, or errored).
  if (existing) {
    // The jobs this delivery wrote start with the state's move (one round trip on every
    // pipeline's path); the rest (a replay after a crash) only once this delivery's move won.
    const ours = roots.filter((job) => written.has(job.id));
    const [moved] = await Promise.all([
      tryUpdate(
        gyre,
        Keys.pipeline(pipeline.id),
        pipelineMove(
          pipeline.id,
          "compile",
          pipeline.state,
          { vcs, errors: [], ...(continuation ? { continuation } : {}) },
          now,
        ),
      ),
      ...ours.map((job) => startAllocations(gyre, job)),
    ]);
    if (!moved) {
      await startWorkflows(gyre, pipeline.id);
      return (await findPipeline(gyre, pipeline.id)) ?? pipeline;
    }
    await Promise.all(roots.filter((job) => !written.has(job.id)).map((job) => startAllocations(gyre, job)));
  } else {
    await Promise.all([
      putNew(gyre, {
        ...Keys.pipeline(pipeline.id),
        gsi1pk: Index.pipelinesOf(project.slug),
        gsi1sk: padNumber(pipelineNumber),
        ...pipeline,
        ...(continuation ? { continuation } : {}),
      }),
      ...roots.map((job) => startAllocations(gyre, job)),
    ]);
  }
  // The branch's older workflows still running are redundant now (project setting autocancel_builds).
  await cancelRedundantWorkflows(gyre, project, pipeline);
  // A no-op job with nothing to wait for succeeded on creation: let what it unblocks start.
  await Promise.all(settled.map((id) => advanceWorkflow(gyre, id)));
  return pipeline;
}

/**
 * The pipeline's number and its first job number. A pending pipeline has both already; when
 * its config needs more job numbers than were reserved, the rest are reserved now, and the
 * project remembers the count for the next trigger.
 */
async function numbersFor(
  gyre: Gyre,
  project: Project,
  pending: Pipeline | undefined,
  jobs: number,
): Promise<{ pipelineNumber: number; firstJobNumber: number }> {
  if (!pending)
    return reserveNumbers(gyre, project.slug, jobs, 1, jobs === project.jobsPerPipeline ? undefined : jobs);
  const reserved = pending.reservedJobs ?? { first: 0, count: 0 };
  if (jobs <= reserved.count) {
    if (jobs !== reserved.count && jobs > 0) await rememberJobsPerPipeline(gyre, project.slug, jobs);
    return { pipelineNumber: pending.number, firstJobNumber: reserved.first };
  }
  // Too few: a fresh contiguous block for every job (the reserved one is left as a gap).
  const more = await reserveNumbers(gyre, project.slug, jobs, 0, jobs);
  return { pipelineNumber: pending.number, firstJobNumber: more.firstJobNumber };
}

async function settleErrored(
  gyre: Gyre,
  pending: Pipeline | undefined,
  base: Pick<Pipeline, "id" | "projectSlug" | "trigger" | "parameters" | "createdAt">,
  vcs: Pipeline["vcs"],
  errors: PipelineError[],
  reservedNumber?: number,
): Promise<Pipeline> {
  const now = new Date(gyre.now()).toISOString();
  if (pending) {
    await tryUpdate(
      gyre,
      Keys.pipeline(pending.id),
      pipelineMove(pending.id, "compile", "errored", { vcs, errors }, now),
    );
    return { ...pending, state: "errored", errors, vcs, updatedAt: now };
  }
  const number = reservedNumber ?? (await reserveNumbers(gyre, base.projectSlug, 0)).pipelineNumber;
  const pipeline: Pipeline = { ...base, number, state: "errored", errors, vcs, updatedAt: now };
  await putNew(gyre, {
    ...Keys.pipeline(pipeline.id),
    gsi1pk: Index.pipelinesOf(base.projectSlug),
    gsi1sk: padNumber(number),
    ...pipeline,
  });
  return pipeline;
}

/** Writes the jobs and workflow items of a compiled config; returns the jobs to start. */
export async function writeWorkflows(
  gyre: Gyre,
  project: Project,
  pipeline: Pipeline,
  config: CompiledConfig,
  values: PipelineValues,
  firstJobNumber: number,
  /** `setup`: the config the pipeline was created with; `continuation`: the one a setup job sent. */
  phase: "setup" | "continuation",
): Promise<{ roots: Job[]; settled: string[]; written: Set<string> }> {
  const now = gyre.now();
  const createdAt = new Date(now).toISOString();
  let number = firstJobNumber;
  const roots: Job[] = [];
  const settled: string[] = [];
  const writes: Promise<boolean>[] = [];
  /** Ids of the jobs this call created (a concurrent or earlier delivery wrote the others). */
  const written = new Set<string>();
  for (const plan of config.workflows) {
    const workflowId = deterministicUuid(pipeline.id, phase, "workflow", plan.name);
    const jobs: Job[] = plan.jobs.map((wj) => ({
      id: deterministicUuid(workflowId, "job", wj.name),
      number: number++,
      name: wj.name,
      type: wj.type,
      // Jobs with nothing to wait for start queued (approvals on hold); the rest wait blocked.
      status: wj.requires.length > 0 ? "blocked" : readyStatus(wj.type),
      projectSlug: project.slug,
      pipelineId: pipeline.id,
      pipelineNumber: pipeline.number,
      workflowId,
      workflowName: plan.name,
      requires: wj.requires,
      ...(wj.requiredStatuses ? { requiredStatuses: wj.requiredStatuses } : {}),
      contexts: wj.contexts,
      plan: wj.plan,
      ...(config.setup ? { setup: true } : {}),
      checkout: {
        repoUrl: project.repoUrl,
        revision: pipeline.vcs.revision,
        branch: pipeline.vcs.branch,
        tag: pipeline.vcs.tag,
      },
      pipeline: values,
      attempt: 1,
      retries: 0,
      allocations: freshAllocations(wj.plan?.parallelism ?? 1),
      ...(wj.requires.length === 0 && wj.type === "build" ? { queuedAt: createdAt } : {}),
      ...(wj.requires.length === 0 && wj.type === "no-op"
        ? { startedAt: createdAt, stoppedAt: createdAt }
        : {}),
      createdAt,
      updatedAt: now,
    }));
    roots.push(...jobs.filter((j) => j.status === "queued"));
    if (jobs.some((j) => j.status === "success")) settled.push(workflowId);
    // The move `create`: blocked and queued jobs are active (the reconciler watches them).
    for (const job of jobs) {
      const active = job.status === "blocked" || job.status === "queued";
      writes.push(
        putNew(gyre, {
          ...Keys.job(workflowId, job.name),
          gsi1pk: Index.jobsOf(project.slug),
          gsi1sk: padNumber(job.number),
          ...(active ? { gsi2pk: activeShard(job.id), gsi2sk: job.id } : {}),
          ...job,
        }).then((created) => {
          if (created) written.add(job.id);
          return created;
        }),
      );
    }
    const workflow: WorkflowItem = {
      id: workflowId,
      name: plan.name,
      pipelineId: pipeline.id,
      pipelineNumber: pipeline.number,
      projectSlug: project.slug,
      createdAt,
      // The user's id (API `started_by` is a UUID); pipelines from before ids were kept name a login.
      startedBy: pipeline.trigger.actorId ?? pipeline.trigger.actor,
      // The spec's `tag`: "setup" marks a setup workflow (never the git tag).
      ...(config.setup ? { tag: "setup" } : {}),
    };
    writes.push(
      putNew(gyre, {
        ...Keys.workflow(workflowId),
        gsi1pk: Index.workflowsOf(pipeline.id),
        gsi1sk: `${createdAt}#${plan.name}`,
        ...workflow,
      }),
    );
  }
  // Every job and workflow item at once; the pipeline's state moves on only when all exist.
  await Promise.all(writes);
  return { roots, settled, written };
}

/** Replay of an intake message: start whatever the first delivery did not get to. */
export async function startWorkflows(gyre: Gyre, pipelineId: string): Promise<void> {
  await Promise.all(
    (await workflowIdsOf(gyre, pipelineId)).map(async (id) => {
      const { jobs } = await readWorkflow(gyre, id);
      await Promise.all(jobs.filter((j) => j.status === "queued").map((j) => startAllocations(gyre, j)));
      await advanceWorkflow(gyre, id);
    }),
  );
}

export const continuationAad = (pipelineId: string) => `pipeline:${pipelineId}:continuation-key`;

/** A setup pipeline's continuation key: `<pipeline id>.<random>`, stored sealed on the pipeline. */
async function sealContinuationKey(gyre: Gyre, pipelineId: string): Promise<string> {
  const key = `${pipelineId}.${randomBytes(24).toString("hex")}`;
  return encryptSecret(gyre.keys, key, continuationAad(pipelineId));
}
