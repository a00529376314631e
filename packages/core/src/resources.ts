/**
 * What the handlers need to know about the world: names and addresses of the table, bucket,
 * queues and state machine. On AWS these come from SST links (`SST_RESOURCE_<Name>` JSON
 * environment variables, the same thing `Resource.<Name>` reads); locally the runtime builds
 * the same object and adds the stand-ins' endpoints.
 */
import type { BuilderIamSettings } from "./node/iam.ts";
import type { FleetGroup } from "./node/scaling.ts";

export interface Resources {
  region: string;
  tableName: string;
  bucketName: string;
  intakeQueueUrl: string;
  /** Resource class name → the SQS queue its builders long-poll. */
  jobQueueUrls: Record<string, string>;
  stateMachineArn: string;
  /** KMS key for envelope encryption (AWS); absent locally, where a data key file is used. */
  kmsKeyId?: string;
  /** Seconds a builder node may go silent before it is down and its allocations are lost. */
  heartbeatSeconds: number;
  /** Seconds an allocation may wait in its queue for a builder before it ends with a message. */
  queueTimeoutSeconds: number;
  /** Seconds a job may run (CircleCI's 5 h); bounds an execution's life with the queue timeout. */
  maxJobSeconds: number;
  /** Endpoints of local stand-ins; absent on AWS. */
  endpoints?: { dynamodb?: string; sqs?: string; s3?: string; sfn?: string };
  /** Public base URL of the API (output URLs, agent callbacks). */
  apiUrl?: string;
  /** Builders may register with their instance role (node/iam.ts); absent: join token only. */
  builderIam?: BuilderIamSettings;
  /** The builder groups the scaler sizes (node/scaling.ts); AWS only. */
  fleet?: FleetSettings;
  /** The SST stage (Settings `stage`): the `Env` dimension of every metric Gyre emits; AWS only. */
  stage?: string;
  /** Forward the metrics to a StatsD / Telegraf endpoint over UDP (metrics/statsd.ts); off when absent. */
  statsd?: StatsdSettings;
}

/** Where StatsD lines go (Settings `statsd`, or the local runtime's `statsd` option). */
export interface StatsdSettings {
  host: string;
  port: number;
  /** Prepended to every name (`gyre.` gives `gyre.circle.nomad...`); none by default. */
  prefix?: string;
  /** Tags on every line (DogStatsD `|#k:v`, which Telegraf reads with datadog_extensions). */
  tags?: Record<string, string>;
}

/** The builder fleet on AWS (Settings `fleet`, from infra/fleet.ts). */
export interface FleetSettings {
  /** The groups the scaler sizes (node/scaling.ts). */
  groups: FleetGroup[];
  /** An idle builder is let go after this long. */
  idleSeconds: number;
  /** The agent bundle's key in the bucket, served to booting instances at /agent/v1/bundle. */
  agentBundleKey?: string;
}

/** The SST link names, shared with infra/. */
export const LinkNames = {
  table: "Table",
  bucket: "Bucket",
  intakeQueue: "IntakeQueue",
  jobQueues: "JobQueues",
  stateMachine: "JobStateMachine",
  dataKey: "DataKey",
  settings: "Settings",
} as const;

function link<T>(env: NodeJS.ProcessEnv, name: string): T {
  const raw = env[`SST_RESOURCE_${name}`];
  if (!raw) throw new Error(`SST_RESOURCE_${name} is not set: is "${name}" linked to this function?`);
  return JSON.parse(raw) as T;
}

/**
 * Reads the linked resources of a deployed function. Each link is read when first used, so a
 * function needs exactly the links it uses (finalize has no bucket, for instance) and a
 * missing one fails with a message naming it.
 */
export function resourcesFromEnv(env: NodeJS.ProcessEnv = process.env): Resources {
  const settings = () =>
    link<{
      heartbeatSeconds?: number;
      queueTimeoutSeconds?: number;
      maxJobSeconds?: number;
      apiUrl?: string;
      builderIam?: BuilderIamSettings;
      fleet?: FleetSettings;
      stage?: string;
      statsd?: StatsdSettings;
    }>(env, LinkNames.settings);
  const resources = { region: env.AWS_REGION ?? "us-east-1" } as Resources;
  const lazy = <K extends keyof Resources>(key: K, read: () => Resources[K]) =>
    Object.defineProperty(resources, key, { get: read, enumerable: true });
  lazy("tableName", () => link<{ name: string }>(env, LinkNames.table).name);
  lazy("bucketName", () => link<{ name: string }>(env, LinkNames.bucket).name);
  lazy("intakeQueueUrl", () => link<{ url: string }>(env, LinkNames.intakeQueue).url);
  lazy("jobQueueUrls", () => link<{ urls: Record<string, string> }>(env, LinkNames.jobQueues).urls);
  lazy("stateMachineArn", () => link<{ arn: string }>(env, LinkNames.stateMachine).arn);
  lazy("kmsKeyId", () => link<{ id: string }>(env, LinkNames.dataKey).id);
  lazy("heartbeatSeconds", () => settings().heartbeatSeconds ?? 60);
  lazy("queueTimeoutSeconds", () => settings().queueTimeoutSeconds ?? DEFAULT_QUEUE_TIMEOUT_SECONDS);
  lazy("maxJobSeconds", () => settings().maxJobSeconds ?? DEFAULT_MAX_JOB_SECONDS);
  lazy("apiUrl", () => settings().apiUrl);
  lazy("builderIam", () => settings().builderIam);
  lazy("fleet", () => settings().fleet);
  lazy("stage", () => settings().stage);
  lazy("statsd", () => settings().statsd);
  return resources;
}

/** How long an allocation may wait for a builder by default: a day. */
export const DEFAULT_QUEUE_TIMEOUT_SECONDS = 24 * 3600;
/** CircleCI's maximum job run time. */
export const DEFAULT_MAX_JOB_SECONDS = 5 * 3600;

/** The resource classes CircleCI Server offers by default, smallest first. */
export const DEFAULT_RESOURCE_CLASSES = ["small", "medium", "medium+", "large", "xlarge", "2xlarge"] as const;

/** Queue key for a resource class (queue names cannot hold `+` or `.`). */
export function queueKey(resourceClass: string): string {
  return resourceClass.replace(/\+/g, "-plus").replace(/[^A-Za-z0-9_-]/g, "-");
}
