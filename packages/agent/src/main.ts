/**
 * The builder agent: long-polls its resource class's queue, claims an allocation through the
 * API (one winner), runs it while heartbeating, and reports the outcome. At start it registers
 * with the join token (GYRE_AGENT_TOKEN, a builder token) and from then on speaks as its own
 * node, with the credential the server gave it; it holds no other credentials beyond its queue.
 * When the server refuses that credential (the node was revoked), it stops.
 *
 * Environment: GYRE_URL, GYRE_AGENT_TOKEN, GYRE_QUEUE_URL (comma-separated for several
 * classes), GYRE_WORK_DIR, GYRE_NODE_NAME (what it calls itself; the node id is the server's),
 * and GYRE_SQS_ENDPOINT for a local SQS stand-in;
 * the job sandbox's GYRE_SANDBOX_NETWORK, GYRE_ALLOW_UNSANDBOXED and GYRE_RESOURCE_CLASSES
 * (sandbox/index.ts).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { executionName } from "@gyre/core/dispatch/execution";
import {
  type AllocationRef,
  type Assignment,
  AssignmentSchema,
  HeartbeatAnswerSchema,
  type QueueMessage,
  QueueMessageSchema,
  RegisterAnswerSchema,
} from "@gyre/core/protocol/agent";
import { AllocationLost, CredentialRefused, GyreApi } from "./api.ts";
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
  /** What this node calls itself (host name, process); the server picks its id. */
  nodeName: string;
  sqsEndpoint?: string;
  /** A job running longer than this is stopped and ends `timedout` (CircleCI's 5 h by default). */
  maxJobSeconds: number;
  /** The server's node deadline: this node heartbeats three times within it. */
  heartbeatSeconds: number;
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
    // Every start registers a new node, so a restarted agent never takes the old one's
    // allocations for its own (the server also loses what a live node stops reporting).
    nodeName: env.GYRE_NODE_NAME ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
    sqsEndpoint: env.GYRE_SQS_ENDPOINT,
    maxJobSeconds: positiveSeconds(env.GYRE_MAX_JOB_SECONDS, "GYRE_MAX_JOB_SECONDS", DEFAULT_MAX_JOB_SECONDS),
    heartbeatSeconds: positiveSeconds(env.GYRE_HEARTBEAT_SECONDS, "GYRE_HEARTBEAT_SECONDS", 30),
  };
}

export class Agent {
  /** The API as this node, once registered (until then, as the join token). */
  private api: GyreApi;
  /** The node id the server gave this agent at registration. */
  private nodeId = "";
  /** Why the server stopped accepting this node, if it did. */
  private refused?: string;
  private readonly healthCheck: HealthCheck = healthCheckFromEnv();
  private readonly sqs: SQSClient;
  private readonly stopping = new AbortController();
  /** Aborted while an operator drains this node (a new controller once the drain ends). */
  private paused = new AbortController();
  /** SIGTERM: take no new allocation, let the running ones finish and report, then leave. */
  private readonly draining = new AbortController();
  /** The allocations running on this node, with what stops each. */
  private readonly running = new Map<string, { allocation: AllocationRef; cancel: AbortController }>();
  private heartbeatTimer?: NodeJS.Timeout;
  private periodMs = 10_000;
  /** Read once at start: a bad GYRE_SANDBOX_NETWORK or GYRE_RESOURCE_CLASSES stops the agent. */
  private readonly sandbox: SandboxPolicy;

  constructor(private readonly config: AgentConfig) {
    this.sandbox = sandboxPolicyFromEnv(config.workDir);
    this.api = new GyreApi(config.url, config.token);
    this.sqs = new SQSClient(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {});
  }

  /**
   * The node's liveness: a heartbeat every third of the deadline, idle or busy, naming what it
   * runs. The answer names what it must stop (an allocation that was lost, retried or ended
   * elsewhere): the server refuses that attempt's writes anyway, so it is stopped at once.
   */
  private async heartbeat(): Promise<void> {
    try {
      const answer = await this.api.call(
        "/heartbeat",
        { node_id: this.nodeId, allocations: [...this.running.values()].map((r) => r.allocation) },
        HeartbeatAnswerSchema,
        2,
      );
      for (const ref of answer.stop) this.running.get(executionName(ref))?.cancel.abort();
      this.setPaused(answer.drain === true);
      // The server's deadline wins: three heartbeats within it, whatever this node was told.
      this.periodMs = Math.max(500, answer.heartbeat_seconds * 1000) / 3;
    } catch (error) {
      if (!this.refusedBy(error))
        console.error(`agent ${this.config.nodeName}: heartbeat failed: ${(error as Error).message}`);
    }
  }

  /**
   * An operator's drain, learnt from a heartbeat: no new allocation while it lasts (a receive
   * in progress is cut short), the running ones go on. Ended by the operator, or never.
   */
  private setPaused(paused: boolean): void {
    if (paused === this.paused.signal.aborted) return;
    if (paused) {
      console.error(`agent ${this.config.nodeName}: drained by an operator: taking no new jobs`);
      this.paused.abort();
    } else {
      console.error(`agent ${this.config.nodeName}: drain ended: taking jobs again`);
      this.paused = new AbortController();
    }
  }

  /** Registers with the join token: from here on every call is this node's own. */
  private async register(): Promise<void> {
    const answer = await this.api.call("/register", { name: this.config.nodeName }, RegisterAnswerSchema, 5);
    this.nodeId = answer.node_id;
    this.api = new GyreApi(this.config.url, answer.credential);
    this.periodMs = Math.max(500, answer.heartbeat_seconds * 1000) / 3;
    console.error(`agent ${this.config.nodeName}: registered as node ${this.nodeId}`);
  }

  async run(): Promise<void> {
    this.periodMs = Math.max(500, this.config.heartbeatSeconds * 1000) / 3;
    await this.register();
    await this.heartbeat();
    let beating: Promise<void> | undefined;
    let beats = true;
    const beat = () => {
      this.heartbeatTimer = setTimeout(() => {
        beating = this.heartbeat().finally(() => beats && !this.stopping.signal.aborted && beat());
      }, this.periodMs);
    };
    beat();
    let next = 0;
    let wasHealthy: boolean | undefined;
    const quit = AbortSignal.any([this.stopping.signal, this.draining.signal]);
    while (!quit.aborted) {
      // An unhealthy builder takes no work: its jobs wait for a healthy one.
      const health = await this.healthCheck();
      if (health.healthy !== wasHealthy) {
        // Logged on changes only: unhealthy, and healthy again after that.
        if (!health.healthy)
          console.error(`agent ${this.config.nodeName}: unhealthy, taking no jobs: ${health.reason}`);
        else if (wasHealthy === false)
          console.error(`agent ${this.config.nodeName}: healthy again, taking jobs`);
        wasHealthy = health.healthy;
        await reportHealth(process.env.GYRE_HEALTH_FILE, health).catch(() => undefined);
      }
      if (!health.healthy) {
        await new Promise((r) => setTimeout(r, HEALTH_RECHECK_MS));
        continue;
      }
      if (this.paused.signal.aborted) {
        await new Promise((r) => setTimeout(r, Math.min(1000, this.periodMs)));
        continue;
      }
      const queueUrl = this.config.queueUrls[next++ % this.config.queueUrls.length]!;
      let messages: Message[] = [];
      const paused = this.paused.signal;
      try {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 20 }),
          { abortSignal: AbortSignal.any([quit, paused]) },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (quit.aborted) break;
        if (paused.aborted) continue;
        console.error(`agent ${this.config.nodeName}: receive failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      for (const message of messages) {
        // Received as a drain began: back on the queue at once, for another node.
        if (quit.aborted || this.paused.signal.aborted) await this.release(queueUrl, message);
        else await this.handle(queueUrl, message);
      }
    }
    // No heartbeat after this point: one landing after the leave would make the node ready again.
    beats = false;
    clearTimeout(this.heartbeatTimer);
    await beating;
    if (this.draining.signal.aborted && !this.stopping.signal.aborted) await this.leave();
    // Refused: exit 1, so a supervisor knows this agent did not stop of its own accord.
    if (this.refused) process.exitCode = 1;
  }

  private async release(queueUrl: string, message: Message): Promise<void> {
    await this.sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      )
      .catch(() => undefined); // it comes back after the queue's visibility timeout anyway
  }

  /** Drained: nothing runs here any more; the node leaves (down at once, nothing lost). */
  private async leave(): Promise<void> {
    try {
      await this.api.post("/leave", { node_id: this.nodeId }, 3);
      console.error(`agent ${this.config.nodeName}: drained; node ${this.nodeId} left`);
    } catch (error) {
      if (!this.refusedBy(error))
        console.error(`agent ${this.config.nodeName}: leave failed: ${(error as Error).message}`);
    }
  }

  private async handle(queueUrl: string, message: Message): Promise<void> {
    const remove = () =>
      this.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    let body: QueueMessage;
    try {
      body = QueueMessageSchema.parse(JSON.parse(message.Body ?? ""));
    } catch {
      await remove(); // not an allocation: nothing can ever run it
      return;
    }
    let assignment: Assignment;
    try {
      assignment = await this.api.call(
        "/claim",
        { allocation: body.allocation, node_id: this.nodeId, task_token: body.taskToken },
        AssignmentSchema,
      );
    } catch (error) {
      // Lost the claim (someone else has it, or the attempt moved on): the message is spent.
      if (error instanceof AllocationLost) await remove();
      else if (!this.refusedBy(error))
        console.error(`agent ${this.config.nodeName}: claim failed: ${(error as Error).message}`);
      return;
    }
    // The message is spent; deleting it need not delay the job.
    remove().catch((error) =>
      console.error(`agent ${this.config.nodeName}: delete failed: ${(error as Error).message}`),
    );
    await this.execute(assignment);
  }

  private async execute({ job, allocation, environment }: Assignment): Promise<void> {
    const cancel = new AbortController();
    const key = executionName(allocation);
    this.running.set(key, { allocation, cancel });
    // Every project variable's value is masked in the output, wherever and however it appears.
    const output = new OutputStream(this.api, allocation, this.nodeId, Object.values(environment), {
      onRefused: (error) => this.refusedBy(error),
    });
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
        nodeId: this.nodeId,
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
      clearTimeout(limit);
      this.running.delete(key);
    }
    if (timedOut) outcome = "timedout";
    if (this.stopping.signal.aborted) {
      // This node is going away (Ctrl-C locally, instance termination on AWS): that is an
      // infrastructure event, not a cancel. Say nothing; once the node misses its heartbeat
      // deadline the reconciler retries the job on a new attempt elsewhere.
      return;
    }
    try {
      const rest = await output.drain();
      await this.api.post("/finish", {
        allocation,
        node_id: this.nodeId,
        status: outcome,
        parallelism: job.parallelism,
        ...rest,
      });
    } catch (error) {
      if (!(error instanceof AllocationLost) && !this.refusedBy(error))
        console.error(`agent ${this.config.nodeName}: finish failed: ${(error as Error).message}`);
    }
  }

  /**
   * True when `error` is the server refusing this node's credential (it was revoked): the agent
   * says so once and stops, since no retry can help.
   */
  private refusedBy(error: unknown): boolean {
    if (!(error instanceof CredentialRefused)) return false;
    if (!this.refused) {
      this.refused = error.message;
      console.error(`agent ${this.config.nodeName}: node ${this.nodeId} was refused (revoked?); stopping`);
      this.stop();
    }
    return true;
  }

  /**
   * SIGTERM (an instance being replaced, `systemctl stop`): no new allocations; the running ones
   * finish and report; then the node leaves and the agent exits. A second SIGTERM, or SIGINT,
   * stops at once.
   */
  drain(): void {
    if (this.draining.signal.aborted) {
      this.stop();
      return;
    }
    console.error(
      `agent ${this.config.nodeName}: draining: taking no new jobs, finishing ${this.running.size} running`,
    );
    this.draining.abort();
  }

  stop(): void {
    this.stopping.abort();
    clearTimeout(this.heartbeatTimer);
    for (const { cancel } of this.running.values()) cancel.abort();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const agent = new Agent(configFromEnv());
  process.on("SIGTERM", () => agent.drain());
  process.on("SIGINT", () => agent.stop());
  // Started by a local runtime: stop when it goes away, even if it was killed outright.
  if (process.send) process.on("disconnect", () => agent.stop());
  agent.run().then(
    () => process.exit(),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
