/**
 * Pipelines as the table and the intake queue hold them, with their schemas: a pipeline is one
 * run of a project's config at one commit; an intake message is a trigger on its way to
 * becoming one.
 */

import type { PipelineState } from "../job/transitions.ts";
import { CommitMessage, PipelineParameters, RefName, Revision } from "../protocol/api.ts";
import { z } from "../protocol/schema.ts";

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

export const TriggerInfoSchema = z.object({
  type: z.enum(["webhook", "api", "scheduled_pipeline"]),
  receivedAt: z.string(),
  actor: z.string().max(255),
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
