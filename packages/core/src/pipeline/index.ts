/**
 * Pipelines: one run of a project's config at one commit. The intake turns a trigger (a push
 * webhook, an API call) into a pipeline with its workflows and jobs, in an order that makes a
 * replay safe: deterministic ids, conditional puts, jobs and workflows before the pipeline
 * item, root jobs started last. An invalid config or a missing file becomes a pipeline in
 * state `errored` carrying the messages, never a crash.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { putNew } from "../aws/dynamo.ts";
import { isConditionFailure } from "../aws/index.ts";
import { compileConfig } from "../config/index.ts";
import type { CompiledConfig, ConfigDiagnostic, PipelineValues } from "../config/plan.ts";
import type { Gyre } from "../context.ts";
import { activeShard, advanceWorkflow, readyStatus, startAllocations } from "../dispatch/index.ts";
import { badRequest, conflict, GyreError, notFound, unauthorized } from "../error.ts";
import { type Ref, readAtRevision, resolveRevision } from "../git/index.ts";
import { deterministicUuid } from "../id.ts";
import { freshAllocations, type Job } from "../job/index.ts";
import { orbResolver } from "../orb/index.ts";
import { getProject, type Project, parseSlug, reserveNumbers } from "../project/index.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import { isSshUrl, preferredCheckoutKey } from "../ssh/index.ts";
import { Index, Keys, padNumber } from "../table.ts";
import {
  readWorkflow,
  TERMINAL_WORKFLOW,
  type Workflow,
  workflowIdsOf,
  workflowStatus,
} from "../workflow/index.ts";

export const CONFIG_PATH = ".circleci/config.yml";

export type PipelineState = "created" | "errored" | "setup-pending" | "setup" | "pending";

export interface PipelineError {
  type: "config" | "config-fetch" | "timeout" | "permission" | "other" | "plugin";
  message: string;
}

export interface TriggerInfo {
  type: "webhook" | "api" | "scheduled_pipeline";
  receivedAt: string;
  actor: string;
}

/** What the intake queue carries: everything needed to create the pipeline, and its id. */
export interface IntakeMessage {
  pipelineId: string;
  projectSlug: string;
  trigger: TriggerInfo;
  ref: Ref;
  parameters?: Record<string, string | number | boolean>;
  /** The pushed commit's message, when the webhook carried it. */
  commit?: { subject: string; body: string };
}

export interface Pipeline {
  id: string;
  number: number;
  projectSlug: string;
  state: PipelineState;
  errors: PipelineError[];
  trigger: TriggerInfo;
  vcs: {
    providerName: string;
    repoUrl: string;
    revision: string;
    branch?: string;
    tag?: string;
    commit?: { subject: string; body: string };
  };
  parameters?: Record<string, string | number | boolean>;
  /** A setup pipeline's accepted continuation (configuration and parameters), by digest. */
  continuationDigest?: string;
  createdAt: string;
  updatedAt: string;
}

/** Builds the intake message for a trigger; the caller enqueues it. */
export function newIntakeMessage(input: Omit<IntakeMessage, "pipelineId">): IntakeMessage {
  const { ref } = input;
  if (ref.branch !== undefined && ref.tag !== undefined)
    throw badRequest("Give a branch or a tag, not both.");
  for (const name of [ref.branch, ref.tag]) {
    if (name !== undefined && !/^(?!-)(?!.*\.\.)[^\s~^:?*[\\]+$/.test(name))
      throw badRequest(`Invalid ref name "${name}".`);
  }
  return { pipelineId: randomUUID(), ...input };
}

/** Reads an intake queue message; bad_request for anything that is not one. */
export function parseIntakeMessage(body: string): IntakeMessage {
  let m: Partial<IntakeMessage>;
  try {
    m = JSON.parse(body);
  } catch {
    throw badRequest("The intake message is not JSON.");
  }
  if (
    typeof m?.pipelineId !== "string" ||
    typeof m.projectSlug !== "string" ||
    typeof m.ref !== "object" ||
    m.ref === null ||
    typeof m.trigger !== "object"
  ) {
    throw badRequest("The intake message lacks pipelineId, projectSlug, ref or trigger.");
  }
  return m as IntakeMessage;
}

/**
 * One intake message, as both the intake Lambda and the local consumer handle it. A message
 * that can never succeed (malformed, or its project is gone) is logged and dropped; any
 * other failure is thrown so the queue redelivers it (and dead-letters it in the end).
 */
export async function consumeIntakeMessage(
  gyre: Gyre,
  body: string,
  warn: (line: string) => void,
): Promise<void> {
  try {
    await createPipeline(gyre, parseIntakeMessage(body));
  } catch (error) {
    if (error instanceof GyreError && (error.code === "bad_request" || error.code === "not_found")) {
      warn(`intake: dropping a message that cannot succeed: ${error.message}`);
      return;
    }
    throw error;
  }
}

/** Puts a trigger on the intake queue; the intake consumer calls createPipeline with it. */
export async function enqueueIntake(gyre: Gyre, message: IntakeMessage): Promise<void> {
  await gyre.aws.sqs.send(
    new SendMessageCommand({ QueueUrl: gyre.resources.intakeQueueUrl, MessageBody: JSON.stringify(message) }),
  );
}

export async function findPipeline(gyre: Gyre, id: string): Promise<Pipeline | undefined> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: Keys.pipeline(id) }),
  );
  return out.Item as Pipeline | undefined;
}

export async function getPipeline(gyre: Gyre, id: string): Promise<Pipeline> {
  const pipeline = await findPipeline(gyre, id);
  if (!pipeline) throw notFound(`Pipeline ${id} not found.`);
  return pipeline;
}

export async function listPipelines(
  gyre: Gyre,
  rawSlug: string,
  options: { branch?: string; limit?: number; pageToken?: string } = {},
): Promise<{ items: Pipeline[]; nextPageToken: string | null }> {
  const { slug } = parseSlug(rawSlug);
  let startKey: Record<string, unknown> | undefined;
  if (options.pageToken) {
    try {
      startKey = JSON.parse(Buffer.from(options.pageToken, "base64url").toString("utf8"));
    } catch {
      throw badRequest("Invalid page-token.");
    }
  }
  // Fill the page even when a branch filter drops items: read on until `limit` match or the
  // project's pipelines run out; the page token points just after the last item returned.
  const limit = options.limit ?? 20;
  const items: (Pipeline & Record<string, unknown>)[] = [];
  let more = true;
  while (items.length < limit && more) {
    const out = await gyre.aws.dynamo.send(
      new QueryCommand({
        TableName: gyre.resources.tableName,
        IndexName: "gsi1",
        KeyConditionExpression: "gsi1pk = :p",
        ...(options.branch
          ? {
              FilterExpression: "vcs.branch = :b",
              ExpressionAttributeValues: { ":p": Index.pipelinesOf(slug), ":b": options.branch },
            }
          : { ExpressionAttributeValues: { ":p": Index.pipelinesOf(slug) } }),
        ScanIndexForward: false,
        Limit: limit - items.length,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((out.Items ?? []) as (Pipeline & Record<string, unknown>)[]));
    startKey = out.LastEvaluatedKey;
    more = startKey !== undefined;
  }
  const last = items.at(-1);
  const token =
    more && last ? { pk: last.pk, sk: last.sk, gsi1pk: last.gsi1pk, gsi1sk: last.gsi1sk } : undefined;
  return {
    items: items.slice(0, limit),
    nextPageToken: token ? Buffer.from(JSON.stringify(token)).toString("base64url") : null,
  };
}

/**
 * The intake: creates the pipeline a trigger asks for (or finishes creating it, when this
 * message was delivered before) and starts its first jobs.
 */
export async function createPipeline(
  gyre: Gyre,
  message: IntakeMessage,
  /** `fresh`: the message was made just now (an API trigger), so it cannot be a replay. */
  options: { project?: Project; fresh?: boolean } = {},
): Promise<Pipeline> {
  if (!options.fresh) {
    const existing = await findPipeline(gyre, message.pipelineId);
    if (existing) {
      await startWorkflows(gyre, existing.id);
      return existing;
    }
  }
  const project = options.project ?? (await getProject(gyre, message.projectSlug));
  const base = {
    id: message.pipelineId,
    projectSlug: project.slug,
    trigger: message.trigger,
    parameters: message.parameters,
    createdAt: new Date(gyre.now()).toISOString(),
  };
  const vcs: Pipeline["vcs"] = {
    providerName:
      project.vcsType === "github" ? "GitHub" : project.vcsType === "bitbucket" ? "Bitbucket" : "Local",
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
    vcs.commit ??= { subject: read.subject, body: read.body };
  } catch (error) {
    if (!(error instanceof GyreError)) throw error;
    return writeErrored(gyre, base, vcs, [{ type: "config-fetch", message: error.message }]);
  }
  if (source === undefined) {
    return writeErrored(gyre, base, vcs, [
      { type: "config-fetch", message: `No ${CONFIG_PATH} found at revision ${vcs.revision}.` },
    ]);
  }

  const values = (number: number): PipelineValues => ({
    id: message.pipelineId,
    number,
    branch: vcs.branch,
    tag: vcs.tag,
    revision: vcs.revision,
    gitUrl: project.repoUrl,
    projectType: project.vcsType,
    triggerSource: message.trigger.type,
    parameters: message.parameters,
  });
  // `pipeline.number` can change what compiles; only then is a provisional compile needed to count jobs.
  let compiled = await compileConfig(source, { pipeline: values(0), orbs: orbResolver(gyre) });
  const jobCount = compiled.ok ? countJobs(compiled.config) : 0;
  const { pipelineNumber, firstJobNumber } = await reserveNumbers(gyre, project.slug, jobCount);
  if (source.includes("pipeline.number")) {
    compiled = await compileConfig(source, { pipeline: values(pipelineNumber), orbs: orbResolver(gyre) });
    if (compiled.ok && countJobs(compiled.config) !== jobCount) {
      throw new GyreError(
        "internal",
        "The config compiled to a different set of jobs for the same pipeline.",
      );
    }
  }
  if (!compiled.ok) {
    return writeErrored(
      gyre,
      base,
      vcs,
      compiled.errors.map((e) => ({ type: "config", message: formatDiagnostic(e) })),
      pipelineNumber,
    );
  }

  const setup = compiled.config.setup;
  const pipeline: Pipeline = {
    ...base,
    number: pipelineNumber,
    // A setup pipeline runs its setup workflow, then waits to be continued with its real config.
    state: setup ? "setup" : "created",
    errors: [],
    vcs,
    updatedAt: base.createdAt,
  };
  const continuation = setup ? await sealContinuationKey(gyre, pipeline.id) : undefined;
  const { roots, settled } = await writeWorkflows(
    gyre,
    project,
    pipeline,
    compiled.config,
    values(pipelineNumber),
    firstJobNumber,
    "setup",
  );
  // Jobs and workflows are written: the pipeline item and the first executions can go together.
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
  // A no-op job with nothing to wait for succeeded on creation: let what it unblocks start.
  await Promise.all(settled.map((id) => advanceWorkflow(gyre, id)));
  return pipeline;
}

const countJobs = (config: CompiledConfig) => config.workflows.reduce((n, w) => n + w.jobs.length, 0);

export function formatDiagnostic(d: ConfigDiagnostic): string {
  const where =
    d.line !== undefined ? ` (line ${d.line}${d.column !== undefined ? `, column ${d.column}` : ""})` : "";
  return `${d.path ? `${d.path}: ` : ""}${d.message}${where}`;
}

async function writeErrored(
  gyre: Gyre,
  base: Omit<Pipeline, "number" | "state" | "errors" | "vcs" | "updatedAt">,
  vcs: Pipeline["vcs"],
  errors: PipelineError[],
  reservedNumber?: number,
): Promise<Pipeline> {
  const number = reservedNumber ?? (await reserveNumbers(gyre, base.projectSlug, 0)).pipelineNumber;
  const pipeline: Pipeline = { ...base, number, state: "errored", errors, vcs, updatedAt: base.createdAt };
  await putNew(gyre, {
    ...Keys.pipeline(pipeline.id),
    gsi1pk: Index.pipelinesOf(base.projectSlug),
    gsi1sk: padNumber(number),
    ...pipeline,
  });
  return pipeline;
}

async function writeWorkflows(
  gyre: Gyre,
  project: Project,
  pipeline: Pipeline,
  config: CompiledConfig,
  values: PipelineValues,
  firstJobNumber: number,
  /** `setup`: the config the pipeline was created with; `continuation`: the one a setup job sent. */
  phase: "setup" | "continuation",
): Promise<{ roots: Job[]; settled: string[] }> {
  const now = gyre.now();
  const createdAt = new Date(now).toISOString();
  let number = firstJobNumber;
  const roots: Job[] = [];
  const settled: string[] = [];
  const pending: Promise<boolean>[] = [];
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
      createdAt,
      updatedAt: now,
    }));
    roots.push(...jobs.filter((j) => j.status === "queued"));
    if (jobs.some((j) => j.status === "success")) settled.push(workflowId);
    const writes = jobs.map((job) =>
      putNew(gyre, {
        ...Keys.job(workflowId, job.name),
        gsi1pk: Index.jobsOf(project.slug),
        gsi1sk: padNumber(job.number),
        ...(job.status === "queued"
          ? { gsi2pk: activeShard(job.id), gsi2sk: job.id, queuedAt: createdAt }
          : {}),
        ...job,
      }),
    );
    const workflow: Workflow = {
      id: workflowId,
      name: plan.name,
      pipelineId: pipeline.id,
      pipelineNumber: pipeline.number,
      projectSlug: project.slug,
      status: workflowStatus(jobs),
      createdAt,
      startedBy: pipeline.trigger.actor,
      tag: pipeline.vcs.tag,
      updatedAt: now,
    };
    writes.push(
      putNew(gyre, {
        ...Keys.workflow(workflowId),
        gsi1pk: Index.workflowsOf(pipeline.id),
        gsi1sk: `${createdAt}#${plan.name}`,
        // Only a workflow that can still change is watched by the reconciler.
        ...(TERMINAL_WORKFLOW.has(workflow.status)
          ? {}
          : { gsi2pk: activeShard(workflowId), gsi2sk: workflowId }),
        ...workflow,
      }),
    );
    pending.push(...writes);
  }
  // Every job and workflow item at once; the pipeline item follows only when all exist.
  await Promise.all(pending);
  return { roots, settled };
}

/** Replay of an intake message: start whatever the first delivery did not get to. */
async function startWorkflows(gyre: Gyre, pipelineId: string): Promise<void> {
  await Promise.all(
    (await workflowIdsOf(gyre, pipelineId)).map(async (id) => {
      const { jobs } = await readWorkflow(gyre, id);
      await Promise.all(jobs.filter((j) => j.status === "queued").map((j) => startAllocations(gyre, j)));
      await advanceWorkflow(gyre, id);
    }),
  );
}

const continuationAad = (pipelineId: string) => `pipeline:${pipelineId}:continuation-key`;

/** A setup pipeline's continuation key: `<pipeline id>.<random>`, stored sealed on the pipeline. */
async function sealContinuationKey(gyre: Gyre, pipelineId: string): Promise<string> {
  const key = `${pipelineId}.${randomBytes(24).toString("hex")}`;
  return encryptSecret(gyre.keys, key, continuationAad(pipelineId));
}

/** The continuation key of a setup pipeline, for the builder running one of its setup jobs. */
export async function continuationKey(gyre: Gyre, pipelineId: string): Promise<string | undefined> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: Keys.pipeline(pipelineId) }),
  );
  const sealed = out.Item?.continuation as string | undefined;
  return sealed ? decryptSecret(gyre.keys, sealed, continuationAad(pipelineId)) : undefined;
}

/**
 * `POST /pipeline/continue`: a setup job hands over the pipeline's real configuration. The key
 * is the credential; a pipeline is continued once; the continuation is compiled with the
 * pipeline's values and the given parameters, and its workflows join the same pipeline. An
 * invalid continuation errors the pipeline, as in CircleCI.
 */
export async function continuePipeline(
  gyre: Gyre,
  input: { key: string; configuration: string; parameters?: Record<string, string | number | boolean> },
): Promise<void> {
  const pipelineId = input.key.split(".")[0] ?? "";
  const pipeline = /^[0-9a-f-]{36}$/.test(pipelineId) ? await findPipeline(gyre, pipelineId) : undefined;
  const expected = pipeline && (await continuationKey(gyre, pipeline.id));
  if (!pipeline || !expected || !safeEqual(expected, input.key))
    throw unauthorized("Invalid continuation key.");
  // The same continuation sent again (its first attempt failed part-way, or its answer was lost)
  // finishes what the first began; any other after the first is refused.
  const digest = createHash("sha256")
    .update(`${input.configuration}\u0000${JSON.stringify(input.parameters ?? {})}`)
    .digest("hex");
  const replay = pipeline.state === "created" && pipeline.continuationDigest === digest;
  if (pipeline.state !== "setup" && !replay) throw conflict("This pipeline has already been continued.");
  const project = await getProject(gyre, pipeline.projectSlug);
  const values: PipelineValues = {
    id: pipeline.id,
    number: pipeline.number,
    branch: pipeline.vcs.branch,
    tag: pipeline.vcs.tag,
    revision: pipeline.vcs.revision,
    gitUrl: project.repoUrl,
    projectType: project.vcsType,
    triggerSource: pipeline.trigger.type,
    parameters: input.parameters,
  };
  const compiled = await compileConfig(input.configuration, { pipeline: values, orbs: orbResolver(gyre) });
  const errors: PipelineError[] = compiled.ok
    ? compiled.config.setup
      ? [
          {
            type: "config",
            message: "A continuation configuration cannot be a setup configuration (setup: true).",
          },
        ]
      : []
    : compiled.errors.map((e) => ({ type: "config", message: formatDiagnostic(e) }));
  // One continuation wins: the state moves on before anything is written for it.
  await claimContinuation(gyre, pipeline.id, errors, digest);
  if (!compiled.ok || errors.length > 0) {
    throw badRequest(`The continuation configuration is invalid: ${errors.map((e) => e.message).join("; ")}`);
  }
  const { firstJobNumber } = await reserveNumbers(gyre, project.slug, countJobs(compiled.config), 0);
  const { roots, settled } = await writeWorkflows(
    gyre,
    project,
    pipeline,
    compiled.config,
    values,
    firstJobNumber,
    "continuation",
  );
  await Promise.all(roots.map((job) => startAllocations(gyre, job)));
  await Promise.all(settled.map((id) => advanceWorkflow(gyre, id)));
}

async function claimContinuation(
  gyre: Gyre,
  pipelineId: string,
  errors: PipelineError[],
  digest: string,
): Promise<void> {
  try {
    await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: Keys.pipeline(pipelineId),
        UpdateExpression:
          "SET #state = :next, errors = :errors, continuationDigest = :digest, updatedAt = :now",
        ConditionExpression: "#state = :setup OR (#state = :created AND continuationDigest = :digest)",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ":next": errors.length > 0 ? "errored" : "created",
          ":errors": errors,
          ":digest": digest,
          ":created": "created",
          ":setup": "setup",
          ":now": new Date(gyre.now()).toISOString(),
        },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw conflict("This pipeline has already been continued.");
    throw error;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** CircleCI API v2 `Pipeline` shape. */
export function pipelineJson(p: Pipeline) {
  return {
    id: p.id,
    errors: p.errors,
    project_slug: p.projectSlug,
    updated_at: p.updatedAt,
    number: p.number,
    ...(p.parameters ? { trigger_parameters: p.parameters } : {}),
    state: p.state,
    created_at: p.createdAt,
    trigger: {
      type: p.trigger.type,
      received_at: p.trigger.receivedAt,
      actor: { login: p.trigger.actor, avatar_url: null },
    },
    vcs: {
      provider_name: p.vcs.providerName,
      origin_repository_url: p.vcs.repoUrl,
      target_repository_url: p.vcs.repoUrl,
      revision: p.vcs.revision,
      ...(p.vcs.branch !== undefined ? { branch: p.vcs.branch } : {}),
      ...(p.vcs.tag !== undefined ? { tag: p.vcs.tag } : {}),
      ...(p.vcs.commit ? { commit: p.vcs.commit } : {}),
    },
  };
}
