/**
 * Pipelines as the table and the intake queue hold them, with their schemas: a pipeline is one
 * run of a project's config at one commit; an intake message is a trigger on its way to
 * becoming one.
 */

import type { PipelineState } from "../job/transitions.ts";
import {
  CommitMessage,
  OwnerSlug,
  PageToken,
  PipelineParameters,
  RefName,
  Revision,
} from "../protocol/api.ts";
import { Ids, z } from "../protocol/schema.ts";

export type { PipelineState } from "../job/transitions.ts";

export const CONFIG_PATH = ".circleci/config.yml";

export const RefSchema = z.object({
  branch: RefName.optional(),
  tag: RefName.optional(),
  revision: Revision.optional(),
});

export const ParametersSchema = PipelineParameters;
export type Parameters = z.infer<typeof ParametersSchema>;

/** A commit message as a pipeline keeps it: subject and body, each bounded (marked where cut). */
export const CommitSchema = CommitMessage;

/**
 * A pull request a pipeline builds the head of (a GitHub `pull_request` delivery, or a push to a
 * branch with pull requests open): what its jobs see as `CIRCLE_PULL_REQUEST(S)` and, for one
 * from a fork, `CIRCLE_PR_NUMBER`, `CIRCLE_PR_USERNAME` and `CIRCLE_PR_REPONAME`.
 */
export const PullRequestSchema = z.object({
  number: z.number().int().positive(),
  /** Its page (`html_url`): `https://github.com/o/r/pull/2`. */
  url: z.string().max(2048),
  /** Who opened it and the fork's repository name, when its head is in a fork. */
  fork: z.object({ username: z.string().max(255), reponame: z.string().max(255) }).optional(),
});
export type PullRequest = z.infer<typeof PullRequestSchema>;

export const TriggerInfoSchema = z.object({
  type: z.enum(["webhook", "api", "scheduled_pipeline"]),
  receivedAt: z.string(),
  /** The login of who triggered it: the API caller, or the pusher a webhook names. */
  actor: z.string().max(255),
  /**
   * The Gyre user's id (a UUID): the caller of an API trigger; for a webhook, the user whose
   * login is the pusher's, or a stable UUID derived from that login when no user has it
   * (create.ts `withActorId`). What the API's `started_by` carries and `mine` filters on.
   */
  actorId: Ids.uuid.optional(),
  /**
   * The schedule that fired it (schedule/index.ts): `pipeline.schedule.id`/`.name`; a config
   * schedule's `workflow` is the one workflow that runs (`pipeline.trigger_source` `schedule`).
   */
  schedule: z.object({ id: z.string(), name: z.string(), workflow: z.string().optional() }).optional(),
  /** The pull requests it builds for, the one delivered first (at most 20 are kept). */
  pullRequests: z.array(PullRequestSchema).max(20).optional(),
});
export type TriggerInfo = z.infer<typeof TriggerInfoSchema>;

/** What the intake queue carries: everything needed to create the pipeline, and its id. */
export const IntakeMessageSchema = z.object({
  pipelineId: z.string().uuid(),
  projectSlug: z.string().min(1).max(300),
  trigger: TriggerInfoSchema,
  ref: RefSchema,
  parameters: ParametersSchema.optional(),
  /** The pushed commit's message, when the webhook carried it. */
  commit: CommitSchema.optional(),
});
export type IntakeMessage = z.infer<typeof IntakeMessageSchema>;

export const PipelineErrorSchema = z.object({
  type: z.enum(["config", "config-fetch", "timeout", "permission", "other", "plugin"]),
  message: z.string(),
});
export type PipelineError = z.infer<typeof PipelineErrorSchema>;

export const VcsSchema = z.object({
  providerName: z.string(),
  repoUrl: z.string(),
  revision: z.string(),
  branch: z.string().optional(),
  tag: z.string().optional(),
  commit: CommitSchema.optional(),
});

export const PipelineSchema = z.object({
  id: z.string(),
  number: z.number().int(),
  projectSlug: z.string(),
  state: z.enum([
    "pending",
    "created",
    "errored",
    "setup-pending",
    "setup",
  ]) satisfies z.ZodType<PipelineState>,
  errors: z.array(PipelineErrorSchema),
  trigger: TriggerInfoSchema,
  vcs: VcsSchema,
  parameters: ParametersSchema.optional(),
  /** Job numbers reserved with the pipeline's number, when it was triggered through the API. */
  reservedJobs: z.object({ first: z.number().int(), count: z.number().int() }).optional(),
  /** A setup pipeline's accepted continuation (configuration and parameters), by digest. */
  continuationDigest: z.string().optional(),
  /** A setup pipeline's continuation key, sealed. */
  continuation: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Pipeline = z.infer<typeof PipelineSchema>;

export const providerName = (vcsType: string) =>
  vcsType === "github" ? "GitHub" : vcsType === "bitbucket" ? "Bitbucket" : "Local";

/** `POST /project/{slug}/pipeline`'s body (CircleCI's TriggerPipelineParameters). */
export const TriggerBodySchema = z
  .object({
    branch: RefSchema.shape.branch,
    tag: RefSchema.shape.tag,
    parameters: ParametersSchema.optional(),
  })
  .refine((b) => !(b.branch && b.tag), { message: "give a branch or a tag, not both", path: ["tag"] });

/** A client's `Idempotency-Key` header: retries with the same key make one pipeline. */
export const IdempotencyKeySchema = z.string().min(1).max(255, "at most 255 characters");

/**
 * A page token of an organization's pipelines (read.ts `listPipelinesOfProjects`): longer than a
 * project list's, as it holds a cursor for each project read so far (12 bytes each).
 */
export const OrgPageTokenSchema = z.string().max(8192, "at most 8192 characters");

const BooleanParam = z
  .enum(["true", "false"], { error: "expected true or false" })
  .transform((v) => v === "true");

/** `GET /pipeline` (listPipelines). */
export const OrgPipelineListQuerySchema = z.object({
  "org-slug": OwnerSlug.optional(),
  mine: BooleanParam.optional(),
  "page-token": OrgPageTokenSchema.optional(),
});

/** `GET /project/{slug}/pipeline/mine` (listMyPipelines). */
export const MyPipelineListQuerySchema = z.object({ "page-token": PageToken.optional() });
