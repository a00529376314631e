/**
 * The AWS SDK v3 clients Gyre's adapters use, built lazily from Resources (a Lambda that
 * never touches S3 never pays for an S3 client). Locally the same clients point at the
 * stand-ins through `resources.endpoints`. An optional observer sees every request by
 * service and operation: the benchmark counts requests per job with it. Requests go through the
 * environment's proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY; never for loopback) and trust its
 * private CAs (GYRE_CA_BUNDLE, NODE_EXTRA_CA_CERTS): see network/.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type NodeAgents, nodeAgents, processAgents } from "../network/agents.ts";
import type { Resources } from "../resources.ts";

export type RequestObserver = (service: string, operation: string) => void;

export interface AwsClients {
  readonly dynamo: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  /** The builder fleet's groups (lifecycle actions); AWS only, there is no local stand-in. */
  readonly autoScaling: AutoScalingClient;
}

// s3rver accepts only its well-known local key pair; the other stand-ins accept any.
const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

interface Observable {
  middlewareStack: { add: (...args: never[]) => void };
}

function observe(client: Observable, service: string, observer: RequestObserver | undefined): void {
  if (!observer) return;
  const add = client.middlewareStack.add as unknown as (
    mw: (
      next: (a: unknown) => Promise<unknown>,
      ctx: { commandName?: string },
    ) => (a: unknown) => Promise<unknown>,
    opts: { step: string; name: string },
  ) => void;
  add(
    (next, ctx) => (args) => {
      observer(service, (ctx.commandName ?? "Unknown").replace(/Command$/, ""));
      return next(args);
    },
    { step: "initialize", name: "gyreRequestObserver" },
  );
}

/**
 * Every call is bounded: a stalled connection or answer fails (and is retried) instead of
 * holding its request for ever,
 * and a busy server is not throttled by the SDK's default pool of 50 sockets: with a fleet's
 * claims, heartbeats and finishes in flight at once, heartbeats queued behind that pool
 * answered so late that live nodes were declared down (bench:fleet, 200 nodes).
 */
const POOL = { keepAlive: true, maxSockets: 512 };
const REQUEST_HANDLER = {
  connectionTimeout: 5_000,
  // Fails the call (the SDK retries it) instead of only logging that it is late.
  requestTimeout: 30_000,
  throwOnRequestTimeout: true,
  httpAgent: POOL,
  httpsAgent: POOL,
};

/**
 * The SDK's request handler options: the bounded, pooled defaults above, with agents through
 * the proxy and trusting the private CAs when `env` names any (`agents` reuses some made already).
 */
export function requestHandlerOptions(env: NodeJS.ProcessEnv = process.env, agents?: NodeAgents) {
  const routed = agents ?? (env === process.env ? processAgents(POOL) : nodeAgents(env, POOL));
  return routed ? { ...REQUEST_HANDLER, ...routed } : REQUEST_HANDLER;
}

/** `env`: where the proxy and CA settings are read (default: this process's environment). */
export function createAwsClients(
  resources: Resources,
  observer?: RequestObserver,
  env: NodeJS.ProcessEnv = process.env,
): AwsClients {
  const local = resources.endpoints;
  // One set of agents for all the clients (and, for this process's environment, all Gyres):
  // sockets are pooled per host inside them.
  const requestHandler = requestHandlerOptions(env);
  const base = (endpoint: string | undefined) => ({
    region: resources.region,
    requestHandler,
    ...(endpoint ? { endpoint, credentials: LOCAL_CREDENTIALS } : {}),
  });
  let dynamo: DynamoDBDocumentClient | undefined;
  let sqs: SQSClient | undefined;
  let s3: S3Client | undefined;
  let sfn: SFNClient | undefined;
  let autoScaling: AutoScalingClient | undefined;
  return {
    get dynamo() {
      if (!dynamo) {
        const raw = new DynamoDBClient(base(local?.dynamodb));
        observe(raw, "DynamoDB", observer);
        dynamo = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
      }
      return dynamo;
    },
    get sqs() {
      if (!sqs) {
        sqs = new SQSClient(base(local?.sqs));
        observe(sqs, "SQS", observer);
      }
      return sqs;
    },
    get s3() {
      if (!s3) {
        s3 = new S3Client({ ...base(local?.s3), forcePathStyle: Boolean(local?.s3) });
        observe(s3, "S3", observer);
      }
      return s3;
    },
    get sfn() {
      if (!sfn) {
        sfn = new SFNClient(base(local?.sfn));
        observe(sfn, "StepFunctions", observer);
      }
      return sfn;
    },
    get autoScaling() {
      if (!autoScaling) {
        autoScaling = new AutoScalingClient({ region: resources.region, requestHandler });
        observe(autoScaling, "AutoScaling", observer);
      }
      return autoScaling;
    },
  };
}

/** True when a DynamoDB write lost its condition (someone else got there first). */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}
