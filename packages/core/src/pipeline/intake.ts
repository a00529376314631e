/**
 * The intake: triggers become intake messages; the intake consumer (a Lambda on AWS, a loop in
 * the local runtime) turns each into its pipeline (create.ts). A trigger through the API answers
 * at once with the pipeline's id and number: it reserves the numbers and writes the pipeline in
 * state `pending`, then enqueues; git and the config engine run in the intake, like a push's.
 */
import { createHash, randomUUID } from "node:crypto";
import { sendMessages } from "../aws/sqs.ts";
import type { Gyre } from "../context.ts";
import { badRequest, GyreError } from "../error.ts";
import { reportPipeline } from "../github/statuses.ts";
import { inLane } from "../lane.ts";
import { eventsOf } from "../metrics/events.ts";
import { type Project, reserveNumbers } from "../project/index.ts";
import { parseInput, z } from "../protocol/schema.ts";
import { getItem, putItems, putNew, tryUpdate } from "../store/index.ts";
import { activeShard, Index, Keys, padNumber } from "../table.ts";
import { createPipeline } from "./create.ts";
import {
  type IntakeMessage,
  IntakeMessageSchema,
  type Parameters,
  type Pipeline,
  providerName,
  type TriggerInfo,
} from "./model.ts";
import { findPipeline } from "./read.ts";

/** Builds the intake message for a trigger; the caller enqueues it. */
export function newIntakeMessage(
  input: Omit<IntakeMessage, "pipelineId">,
  pipelineId: string = randomUUID(),
): IntakeMessage {
  if (input.ref.branch !== undefined && input.ref.tag !== undefined)
    throw badRequest("Give a branch or a tag, not both.");
  return parseInput(IntakeMessageSchema, { pipelineId, ...input }, "trigger");
}

/** Reads an intake queue message; bad_request for anything that is not one. */
export function parseIntakeMessage(body: string): IntakeMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw badRequest("The intake message is not JSON.");
  }
  return parseInput(IntakeMessageSchema, value, "intake message");
}

/**
 * Puts a trigger on the intake queue; the intake consumer creates the pipeline from it.
 * Messages that arrive while a send is in flight go together in one SendMessageBatch.
 */
export async function enqueueIntake(gyre: Gyre, message: IntakeMessage): Promise<void> {
  const error = await inLane(gyre, "intake queue", JSON.stringify(message), (bodies) =>
    sendMessages(gyre.aws.sqs, gyre.resources.intakeQueueUrl, bodies),
  );
  if (error) throw error;
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
    const pipeline = await createPipeline(gyre, parseIntakeMessage(body));
    // Its workflows' commit statuses start `pending` now, not when a first job ends
    // (github/statuses.ts: where statuses are posted, once per change); never throws.
    await reportPipeline(gyre, pipeline, warn);
  } catch (error) {
    if (error instanceof GyreError && (error.code === "bad_request" || error.code === "not_found")) {
      eventsOf(gyre).count("intakeErrors", { kind: "dropped" });
      warn(`intake: dropping a message that cannot succeed: ${error.message}`);
      return;
    }
    eventsOf(gyre).count("intakeErrors", { kind: "failed" });
    throw error;
  }
}

export interface TriggerRequest {
  branch?: string;
  tag?: string;
  parameters?: Parameters;
  /** The caller's login. */
  actor: string;
  /** The caller's user id. */
  actorId?: string;
  /** A client's `Idempotency-Key`: the same key within a day answers the same pipeline. */
  idempotencyKey?: string;
  /** Fired by a schedule: trigger type `scheduled_pipeline`. */
  schedule?: TriggerInfo["schedule"];
}

const TriggerRecordSchema = z.object({ pipelineId: z.string(), digest: z.string().optional() });
const IDEMPOTENCY_SECONDS = 24 * 3600;

/**
 * The pipeline id a keyed trigger has, the same for every retry of it. A key is the caller's:
 * it is bound to the actor and the request, and reusing it for another request is a 422.
 */
async function keyedPipelineId(gyre: Gyre, slug: string, key: string, request: unknown): Promise<string> {
  const hash = createHash("sha256").update(key).digest("hex");
  const digest = createHash("sha256").update(JSON.stringify(request)).digest("hex");
  const record = Keys.trigger(slug, hash);
  const check = (found: z.infer<typeof TriggerRecordSchema>) => {
    if (found.digest !== undefined && found.digest !== digest)
      throw new GyreError(
        "unprocessable",
        "This Idempotency-Key was used for a different trigger request: use a new key for a new request.",
      );
    return found.pipelineId;
  };
  const found = await getItem(gyre, record, TriggerRecordSchema, "trigger record");
  if (found) return check(found);
  const pipelineId = randomUUID();
  const expiresAt = Math.floor(gyre.now() / 1000) + IDEMPOTENCY_SECONDS;
  if (
    await putNew(gyre, {
      ...record,
      pipelineId,
      digest,
      createdAt: new Date(gyre.now()).toISOString(),
      expiresAt,
    })
  )
    return pipelineId;
  const winner = await getItem(gyre, record, TriggerRecordSchema, "trigger record");
  return winner ? check(winner) : pipelineId;
}

/**
 * `POST /project/{slug}/pipeline`: answers with the pipeline in state `pending`, at once. Two
 * writes (the numbers, the pipeline item) and a queue message, each shared with the triggers
 * that arrive while it is in flight (lane.ts); a lost message is re-sent by the reconciler,
 * which watches pending pipelines.
 */
export async function triggerPipeline(
  gyre: Gyre,
  project: Project,
  request: TriggerRequest,
): Promise<Pipeline> {
  const branch = request.branch ?? (request.tag ? undefined : project.defaultBranch);
  const now = new Date(gyre.now()).toISOString();
  const trigger: TriggerInfo = {
    type: request.schedule ? "scheduled_pipeline" : "api",
    ...(request.schedule ? { schedule: request.schedule } : {}),
    receivedAt: now,
    actor: request.actor,
    ...(request.actorId ? { actorId: request.actorId } : {}),
  };
  const pipelineId: string = request.idempotencyKey
    ? await keyedPipelineId(gyre, project.slug, request.idempotencyKey, {
        actor: request.actor,
        branch: request.branch,
        tag: request.tag,
        parameters: request.parameters,
      })
    : randomUUID();
  const message = newIntakeMessage(
    { projectSlug: project.slug, trigger, ref: { branch, tag: request.tag }, parameters: request.parameters },
    pipelineId,
  );
  if (request.idempotencyKey) {
    const existing = await findPipeline(gyre, pipelineId);
    if (existing) return existing;
  }
  const block = project.jobsPerPipeline ?? 1;
  const numbers = await reserveNumbers(gyre, project.slug, block);
  const pipeline: Pipeline = {
    id: pipelineId,
    number: numbers.pipelineNumber,
    projectSlug: project.slug,
    state: "pending",
    errors: [],
    trigger,
    vcs: {
      providerName: providerName(project.vcsType),
      repoUrl: project.repoUrl,
      revision: "",
      branch,
      tag: request.tag,
    },
    ...(request.parameters ? { parameters: request.parameters } : {}),
    reservedJobs: { first: numbers.firstJobNumber, count: block },
    createdAt: now,
    updatedAt: now,
  };
  const item = {
    ...Keys.pipeline(pipeline.id),
    gsi1pk: Index.pipelinesOf(project.slug),
    gsi1sk: padNumber(pipeline.number),
    gsi2pk: activeShard(pipeline.id),
    gsi2sk: pipeline.id,
    ...pipeline,
  };
  if (request.idempotencyKey) {
    // A retry of the same keyed trigger that raced this one: the first pipeline is the answer.
    if (!(await putNew(gyre, item))) return (await findPipeline(gyre, pipelineId)) ?? pipeline;
  } else {
    // A fresh random id: nobody else writes this item, so triggers that arrive while a write is
    // in flight are written together (BatchWriteItem).
    const error = await inLane(gyre, "pipeline writes", item, (items) => putItems(gyre, items));
    if (error) throw error;
  }
  await enqueueIntake(gyre, message).catch(() => undefined); // the reconciler re-sends it
  return pipeline;
}

/** The reconciler's repair for a pending pipeline whose intake message was lost. */
export async function enqueuePending(gyre: Gyre, pipeline: Pipeline): Promise<boolean> {
  const touched = await tryUpdate(gyre, Keys.pipeline(pipeline.id), {
    set: { updatedAt: new Date(gyre.now()).toISOString() },
    // Only the reconciler that read this version re-sends it (two passes never both do).
    when: [
      { path: "state", eq: "pending" },
      { path: "updatedAt", eq: pipeline.updatedAt },
    ],
  });
  if (!touched) return false;
  await enqueueIntake(gyre, {
    pipelineId: pipeline.id,
    projectSlug: pipeline.projectSlug,
    trigger: pipeline.trigger,
    ref: { branch: pipeline.vcs.branch, tag: pipeline.vcs.tag },
    ...(pipeline.parameters ? { parameters: pipeline.parameters } : {}),
  });
  return true;
}
