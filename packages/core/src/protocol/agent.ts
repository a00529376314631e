/**
 * The agent protocol, written down once: every request a builder agent sends the server and
 * every answer it gets back, as schemas that `packages/functions` (the server side) and
 * `packages/agent` (the builder) both import. Woodpecker's rpc/peer.go and Buildkite's
 * accept → start → chunks → finish are the models: every call is idempotent, so an agent
 * retries any of them after a network error.
 *
 *   queue message  {taskToken, allocation}         put on the resource class's queue by the
 *                                                   execution waiting for the allocation
 *   POST /register {name, resources, reserved, classes, aws_iam?} → {node_id, credential, heartbeat_seconds}
 *                  with the join token or, on AWS, a signed STS request in aws_iam (node/iam.ts);
 *                  every later call with the node's own credential
 *   POST /claim    {allocation, node_id, task_token} → Assignment   (409: not yours to run;
 *                  423: this node drains, so the message goes back on its queue for another)
 *   POST /heartbeat {node_id, allocations[], allocated, poll_failures?} → {stop[], heartbeat_seconds, drain}
 *                  the node's liveness: a node that stops heartbeating for heartbeat_seconds is
 *                  down, its allocations lost (retried elsewhere, its later writes refused);
 *                  `stop` lists the allocations it holds that are no longer its to run
 *   POST /stops    {node_id, allocations[]} → {stop[]}   read-only, every second while the node
 *                  runs something: a job a user canceled stops within a second or two
 *   POST /output   {allocation, node_id, steps?, chunks}
 *   POST /finish   {allocation, node_id, status, steps?, chunks?}
 *   storage grants (storage routes): {allocation, node_id, ...} → presigned URLs
 *
 * Wire names: the allocation reference is camelCase (it is also the execution's input); the
 * request's own fields are snake_case, as in CircleCI's API.
 */
import { JobPlanSchema } from "../config/plan.ts";
import { CheckoutSourceSchema, JobSchema, PipelineValuesSchema } from "../job/schema.ts";
import { Ids, z } from "./schema.ts";

/** Names one allocation of one attempt of one job: ids, never documents. */
export const AllocationRefSchema = z.object({
  workflowId: Ids.uuid,
  jobName: Ids.name,
  jobId: Ids.uuid,
  attempt: z.number().int().min(1).max(1000),
  index: z.number().int().min(0).max(999),
});
export type AllocationRef = z.infer<typeof AllocationRefSchema>;

export const QueueMessageSchema = z.object({
  taskToken: z.string().min(1).max(4096),
  allocation: AllocationRefSchema,
});
export type QueueMessage = z.infer<typeof QueueMessageSchema>;

const nodeId = Ids.node;

export const ClaimRequestSchema = z.object({
  allocation: AllocationRefSchema,
  node_id: nodeId,
  task_token: z.string().min(1).max(4096),
});
export type ClaimRequest = z.infer<typeof ClaimRequestSchema>;

/** What a builder needs to run its allocation: the job's plan and checkout, never a table item. */
export const AssignedJobSchema = JobSchema.pick({
  id: true,
  number: true,
  name: true,
  projectSlug: true,
  pipelineId: true,
  pipelineNumber: true,
  workflowId: true,
  workflowName: true,
  attempt: true,
  workspaceId: true,
  ssh: true,
}).extend({
  plan: JobPlanSchema,
  checkout: CheckoutSourceSchema,
  pipeline: PipelineValuesSchema,
  parallelism: z.number().int().min(1),
  /** The installation's limits on what the job stores (settings; optional: older servers send none). */
  limits: z
    .object({
      /** A test's output (its failure message) is kept up to this many bytes. */
      max_test_output_bytes: z.number().int().min(1).max(1_000_000_000),
    })
    .optional(),
});
export type AssignedJob = z.infer<typeof AssignedJobSchema>;

export const AssignmentSchema = z.object({
  allocation: AllocationRefSchema,
  job: AssignedJobSchema,
  /** Project and context variables and the continuation key, in clear: masked in output. */
  environment: z.record(z.string(), z.string()),
});
export type Assignment = z.infer<typeof AssignmentSchema>;

/**
 * A node's resources as Nomad counts them: vCPUs (fractions allowed) and memory in MiB. The
 * node's total, what it keeps for itself (the reference keeps 2 vCPU / 4 GB per client for
 * coordination), and what its running allocations take.
 */
export const NodeResourcesSchema = z.object({
  cpus: z.number().min(0).max(100_000),
  memory_mb: z.number().int().min(0).max(1_000_000_000),
});
export type NodeResources = z.infer<typeof NodeResourcesSchema>;

export const HeartbeatRequestSchema = z.object({
  node_id: nodeId,
  /** The allocations this node is running now. */
  allocations: z.array(AllocationRefSchema).max(1000),
  /** What those allocations take of the node's capacity (their resource classes' sizes). */
  allocated: NodeResourcesSchema.optional(),
  /**
   * Queue receives and claims that failed on this node since it registered, a running total
   * (a retried heartbeat repeats it, never doubles it). Optional: older agents send none.
   */
  poll_failures: z.number().int().min(0).max(1_000_000_000).optional(),
  /**
   * Messages it has taken and is claiming, not running yet: a terminating instance waits for
   * them too (node/termination.ts). Optional: older agents send none.
   */
  claiming: z.number().int().min(0).max(10_000).optional(),
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

/** Which of the allocations a node runs it must stop (a user canceled them, or they ended). */
export const StopsRequestSchema = HeartbeatRequestSchema.pick({ node_id: true, allocations: true });
export type StopsRequest = z.infer<typeof StopsRequestSchema>;
export const StopsAnswerSchema = z.object({ stop: z.array(AllocationRefSchema) });

/** A drained node leaving: it runs nothing any more. */
export const LeaveRequestSchema = z.object({ node_id: nodeId });
export type LeaveRequest = z.infer<typeof LeaveRequestSchema>;

const ClassName = z.string().regex(/^[A-Za-z0-9_.+-]{1,64}$/, "a resource class name");

/**
 * A signed STS GetCallerIdentity request (node/iam.ts): an AWS builder's proof of its instance
 * role, sent instead of the join token. The server forwards it to STS; it never sees a credential.
 */
export const IamRegistrationSchema = z.object({
  url: z.string().max(200),
  headers: z
    .record(z.string().max(100), z.string().max(4096))
    .refine((h) => Object.keys(h).length <= 30, "at most 30 headers"),
  body: z.string().max(200),
});
export type IamRegistration = z.infer<typeof IamRegistrationSchema>;

/**
 * A builder's registration, with the join token or an IAM proof (`aws_iam`): what it calls
 * itself and what it offers.
 */
export const RegisterRequestSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "1-128 characters of A-Z a-z 0-9 _ . : -"),
  version: z.string().min(1).max(64).optional(),
  /** The host's resources, and the part of them kept for the agent itself. */
  resources: NodeResourcesSchema.optional(),
  reserved: NodeResourcesSchema.optional(),
  /** The resource classes this node runs (those that fit what it has left), with their sizes. */
  classes: z
    .record(ClassName, NodeResourcesSchema)
    .refine((c) => Object.keys(c).length <= 100, "at most 100 resource classes")
    .optional(),
  aws_iam: IamRegistrationSchema.optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

/** The node's id and its own credential (shown once), for every later call. */
export const RegisterAnswerSchema = z.object({
  node_id: Ids.node,
  credential: z.string().startsWith("gyre-node."),
  heartbeat_seconds: z.number().positive(),
});
export type RegisterAnswer = z.infer<typeof RegisterAnswerSchema>;

export const HeartbeatAnswerSchema = z.object({
  /** Allocations this node must stop: they ended, were retried, or are no longer its. */
  stop: z.array(AllocationRefSchema),
  /** The node is down when it has not heartbeated for this long. */
  heartbeat_seconds: z.number().positive(),
  /** An operator drains this node: take no new allocation, let the running ones finish. */
  drain: z.boolean().optional(),
});
export type HeartbeatAnswer = z.infer<typeof HeartbeatAnswerSchema>;

export const STEP_STATUSES = ["running", "success", "failed", "canceled", "timedout"] as const;
export const StepRecordSchema = z.object({
  /** Position in the job's step list, from 0. */
  index: z.number().int().min(0).max(100_000),
  name: z.string().max(10_000),
  type: z.string().max(100),
  status: z.enum(STEP_STATUSES),
  startedAt: z.string().max(40),
  endedAt: z.string().max(40).optional(),
  exitCode: z.number().int().nullable().optional(),
  background: z.boolean().optional(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;
export type StepStatus = StepRecord["status"];

/** Largest chunk accepted from a builder (it flushes far smaller ones). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

export const OutputChunkSchema = z.object({
  step: z.number().int().min(0).max(100_000),
  seq: z.number().int().min(0).max(1_000_000_000),
  data: z.string().refine((d) => Buffer.byteLength(d) <= MAX_CHUNK_BYTES, `at most ${MAX_CHUNK_BYTES} bytes`),
});
export type OutputChunk = z.infer<typeof OutputChunkSchema>;

export const OutputRequestSchema = z.object({
  allocation: AllocationRefSchema,
  node_id: nodeId,
  steps: z.array(StepRecordSchema).max(100_000).optional(),
  chunks: z.array(OutputChunkSchema).max(10_000).default([]),
});
export type OutputRequest = z.input<typeof OutputRequestSchema>;

export const FINISHED_STATUSES = ["success", "failed", "timedout", "canceled"] as const;
export const FinishRequestSchema = OutputRequestSchema.extend({
  status: z.enum(FINISHED_STATUSES),
});
export type FinishRequest = z.input<typeof FinishRequestSchema>;

/** The part of every storage request that says whose it is. */
export const AllocationBodySchema = z.object({ allocation: AllocationRefSchema, node_id: nodeId });

// Storage: presigned URLs for the objects of a running allocation (functions/src/http/storage.ts).
// Keys are computed by the server from the job; the agent only names the kind and, for artifacts
// and caches, the name.

export const STORAGE_KINDS = ["artifact", "test_results", "workspace", "cache"] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits");
const Bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const UploadRequestSchema = AllocationBodySchema.extend({
  kind: z.enum(STORAGE_KINDS),
  /** The artifact's path or the rendered cache key (the server bounds it by its storage key). */
  name: z.string().optional(),
  content_type: z.string().min(1).max(255).optional(),
});
export type UploadRequest = z.infer<typeof UploadRequestSchema>;

export const CommitRequestSchema = AllocationBodySchema.extend({
  kind: z.enum(["cache", "workspace"]),
  name: z.string().optional(),
  sha256: Sha256,
  bytes: Bytes,
  root: z.string().startsWith("/", "an absolute path").max(1024).optional(),
});
export type CommitRequest = z.infer<typeof CommitRequestSchema>;

/** Keys a `restore_cache` step may try (CircleCI documents no limit; configs use a handful). */
export const MAX_RESTORE_KEYS = 50;
export const CacheLookupRequestSchema = AllocationBodySchema.extend({
  /** Each is checked as a cache key (validateCacheKey, with its own messages). */
  keys: z.array(z.string()).min(1).max(MAX_RESTORE_KEYS),
});

export const GrantSchema = z.object({
  url: z.string().url(),
  method: z.enum(["PUT", "GET"]),
  headers: z.record(z.string(), z.string()),
  expires_at: z.string(),
});
export type GrantJson = z.infer<typeof GrantSchema>;

export const UploadAnswerSchema = z.discriminatedUnion("exists", [
  GrantSchema.extend({ exists: z.literal(false) }),
  z.object({ exists: z.literal(true), created_at: z.string() }),
]);
export type UploadAnswer = z.infer<typeof UploadAnswerSchema>;

export const CommitAnswerSchema = z.object({ stored: z.boolean() });

export const CacheLookupAnswerSchema = z.object({
  matched_key: z.string().nullable(),
  cache: GrantSchema.extend({
    key: z.string(),
    sha256: Sha256,
    bytes: Bytes,
    created_at: z.string(),
    job_number: z.number().int(),
    root: z.string().nullable(),
  }).nullable(),
});
export type CacheLookupAnswer = z.infer<typeof CacheLookupAnswerSchema>;

export const WorkspaceLayersAnswerSchema = z.object({
  layers: z.array(
    GrantSchema.extend({
      job: z.string(),
      index: z.number().int().min(0),
      sha256: Sha256,
      bytes: Bytes,
      created_at: z.string(),
    }),
  ),
});
export type WorkspaceLayer = z.infer<typeof WorkspaceLayersAnswerSchema>["layers"][number];

const Seconds = z.record(z.string(), z.number());
export const TimingsAnswerSchema = z.object({
  filename: Seconds,
  classname: Seconds,
  testname: Seconds,
  source: z.object({ job_number: z.number().int(), branch: z.string().nullable() }).nullable(),
});

const WireKeySchema = z.object({
  hostname: z.string(),
  fingerprint: z.string(),
  sha256: z.string(),
  private_key: z.string(),
});
export const JobKeysAnswerSchema = z.object({
  checkout_key: WireKeySchema.nullable(),
  keys: z.array(WireKeySchema),
});
export type JobKeysAnswer = z.infer<typeof JobKeysAnswerSchema>;
