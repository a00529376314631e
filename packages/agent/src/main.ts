/**
 * The builder agent: long-polls its resource class's queue, claims an allocation through the
 * API (one winner), runs it while heartbeating, and reports the outcome. It holds no
 * credentials beyond its queue and its builder token.
 *
 * Environment: GYRE_URL, GYRE_AGENT_TOKEN, GYRE_QUEUE_URL (comma-separated for several
 * classes), GYRE_WORK_DIR, GYRE_NODE_ID, and GYRE_SQS_ENDPOINT for a local SQS stand-in;
 * the job sandbox's GYRE_SANDBOX_NETWORK, GYRE_ALLOW_UNSANDBOXED and GYRE_RESOURCE_CLASSES
 * (sandbox/index.ts).
 */
import { hostname } from "node:os";
import { DeleteMessageCommand, type Message, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { AllocationRef } from "@gyre/core/dispatch/index";
import type { Job } from "@gyre/core/job/index";
import { AllocationLost, GyreApi } from "./api.ts";
import { type HealthCheck, healthCheckFromEnv, reportHealth } from "./health.ts";

/** How often an unhealthy builder checks whether it can take work again. */
const HEALTH_RECHECK_MS = 5000;

import { defaultWorkDir, runAllocation } from "./job.ts";
import { OutputStream } from "./output.ts";
import { type SandboxPolicy, sandboxPolicyFromEnv } from "./sandbox/index.ts";

interface AgentConfig {
  url: string;
  token: string;
  queueUrls: string[];
  workDir: string;
  nodeId: string;
  sqsEndpoint?: string;
  /** A job running longer than this is stopped and ends `timedout` (CircleCI's 5 h by default). */
  maxJobSeconds: number;
}

export const DEFAULT_MAX_JOB_SECONDS = 5 * 3600;

function positiveSeconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${name} must be a positive number of seconds, not "${value}".`);
  return n;
}

function configFromEnv(env = process.env): AgentConfig {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new Error(`${name} is not set.`);
    return v;
  };
  return {
    url: need("GYRE_URL"),
    token: need("GYRE_AGENT_TOKEN"),
    queueUrls: need("GYRE_QUEUE_URL").split(",").filter(Boolean),
    workDir: env.GYRE_WORK_DIR ?? defaultWorkDir(),
    nodeId: env.GYRE_NODE_ID ?? `${hostname()}-${process.pid}`,
    sqsEndpoint: env.GYRE_SQS_ENDPOINT,
    maxJobSeconds: positiveSeconds(env.GYRE_MAX_JOB_SECONDS, "GYRE_MAX_JOB_SECONDS", DEFAULT_MAX_JOB_SECONDS),
  };
}

interface QueueMessage {
  taskToken: string;
  allocation: AllocationRef;
}

export class Agent {
  private readonly api: GyreApi;
  private readonly healthCheck: HealthCheck = healthCheckFromEnv();
  private readonly sqs: SQSClient;
  private readonly stopping = new AbortController();
  private current?: AbortController;
  /** Read once at start: a bad GYRE_SANDBOX_NETWORK or GYRE_RESOURCE_CLASSES stops the agent. */
  private readonly sandbox: SandboxPolicy;

  constructor(private readonly config: AgentConfig) {
    this.sandbox = sandboxPolicyFromEnv(config.workDir);
    this.api = new GyreApi(config.url, config.token);
    this.sqs = new SQSClient(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {});
  }

  async run(): Promise<void> {
    let next = 0;
    let wasHealthy: boolean | undefined;
    while (!this.stopping.signal.aborted) {
      // An unhealthy builder takes no work: its jobs wait for a healthy one.
      const health = await this.healthCheck();
      if (health.healthy !== wasHealthy) {
        // Logged on changes only: unhealthy, and healthy again after that.
        if (!health.healthy)
          console.error(`agent ${this.config.nodeId}: unhealthy, taking no jobs: ${health.reason}`);
        else if (wasHealthy === false)
          console.error(`agent ${this.config.nodeId}: healthy again, taking jobs`);
        wasHealthy = health.healthy;
        await reportHealth(process.env.GYRE_HEALTH_FILE, health).catch(() => undefined);
      }
      if (!health.healthy) {
        await new Promise((r) => setTimeout(r, HEALTH_RECHECK_MS));
        continue;
      }
      const queueUrl = this.config.queueUrls[next++ % this.config.queueUrls.length]!;
      let messages: Message[] = [];
      try {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 20 }),
          { abortSignal: this.stopping.signal },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        console.error(`agent ${this.config.nodeId}: receive failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      for (const message of messages) await this.handle(queueUrl, message);
    }
  }

  private async handle(queueUrl: string, message: Message): Promise<void> {
    const remove = () =>
      this.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    let body: QueueMessage;
    try {
      body = JSON.parse(message.Body ?? "");
    } catch {
      await remove();
      return;
    }
    let job: Job;
    let environment: Record<string, string>;
    try {
      ({ job, environment } = await this.api.post<{ job: Job; environment: Record<string, string> }>(
        "/claim",
        {
          allocation: body.allocation,
          node_id: this.config.nodeId,
        },
      ));
    } catch (error) {
      // Lost the claim (someone else has it, or the attempt moved on): the message is spent.
      if (error instanceof AllocationLost) await remove();
      else console.error(`agent ${this.config.nodeId}: claim failed: ${(error as Error).message}`);
      return;
    }
    // The message is spent; deleting it need not delay the job.
    remove().catch((error) =>
      console.error(`agent ${this.config.nodeId}: delete failed: ${(error as Error).message}`),
    );
    await this.execute(job, body, environment);
  }

  private async execute(job: Job, message: QueueMessage, environment: Record<string, string>): Promise<void> {
    const { allocation, taskToken } = message;
    const cancel = new AbortController();
    this.current = cancel;
    // Every project variable's value is masked in the output, wherever and however it appears.
    const output = new OutputStream(this.api, allocation, this.config.nodeId, Object.values(environment));
    const heartbeatMs = Math.max(1000, (Number(process.env.GYRE_HEARTBEAT_SECONDS) || 30) * 1000) / 3;
    const heartbeat = setInterval(() => {
      this.api.post("/heartbeat", { task_token: taskToken }, 2).catch((error) => {
        if (error instanceof AllocationLost) cancel.abort();
      });
    }, heartbeatMs);
    let timedOut = false;
    const limit = setTimeout(() => {
      timedOut = true;
      const step = output.steps.at(-1);
      if (step) {
        output.write(
          step.index,
          `\nGyre: this job reached its maximum run time (${this.config.maxJobSeconds} s) and was stopped.\n`,
        );
      }
      cancel.abort();
    }, this.config.maxJobSeconds * 1000);
    let outcome: "success" | "failed" | "canceled" | "timedout" = "failed";
    try {
      outcome = await runAllocation({
        job,
        api: this.api,
        allocation,
        workDir: this.config.workDir,
        output,
        signal: cancel.signal,
        sandbox: this.sandbox,
        secrets: environment,
      });
    } catch (error) {
      const step = output.steps.at(-1);
      if (step) output.write(step.index, `\nGyre agent error: ${(error as Error).message}\n`);
    } finally {
      clearInterval(heartbeat);
      clearTimeout(limit);
      this.current = undefined;
    }
    if (timedOut) outcome = "timedout";
    if (this.stopping.signal.aborted) {
      // This node is going away (Ctrl-C locally, instance termination on AWS): that is an
      // infrastructure event, not a cancel. Say nothing; the heartbeat timeout or the
      // reconciler retries the job on a new attempt elsewhere.
      return;
    }
    try {
      const rest = await output.drain();
      await this.api.post("/finish", {
        allocation,
        node_id: this.config.nodeId,
        task_token: taskToken,
        status: outcome,
        parallelism: Object.keys(job.allocations).length,
        ...rest,
      });
    } catch (error) {
      if (!(error instanceof AllocationLost))
        console.error(`agent ${this.config.nodeId}: finish failed: ${(error as Error).message}`);
    }
  }

  stop(): void {
    this.stopping.abort();
    this.current?.abort();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const agent = new Agent(configFromEnv());
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => agent.stop());
  // Started by a local runtime: stop when it goes away, even if it was killed outright.
  if (process.send) process.on("disconnect", () => agent.stop());
  agent.run().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
