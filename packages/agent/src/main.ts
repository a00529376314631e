/**
 * The builder agent: long-polls the queues of the resource classes it offers, claims an allocation
 * through the API (one winner), runs it while heartbeating, and reports the outcome. It runs as
 * many allocations at once as fit its capacity (capacity.ts): a class's queue is polled only
 * while that class fits what is free. At start it registers with the join token
 * (GYRE_AGENT_TOKEN, a builder token), its resources and classes, and from then on speaks as
 * its own node, with the credential the server gave it; it holds no other credentials beyond
 * its queues. When the server refuses that credential (the node was revoked), it stops.
 *
 * Environment: GYRE_URL, GYRE_AGENT_TOKEN (or GYRE_AUTH=aws-iam with GYRE_IAM_SERVER_ID and
 * AWS_REGION: register with the instance role, iam.ts), GYRE_QUEUES (`class=queue URL`, comma-separated),
 * GYRE_WORK_DIR, GYRE_NODE_NAME (what it calls itself; the node id is the server's), the
 * capacity's GYRE_NODE_CPUS, GYRE_NODE_MEMORY_MB, GYRE_NODE_RESERVED_CPUS and
 * GYRE_NODE_RESERVED_MEMORY_MB (capacity.ts), and GYRE_SQS_ENDPOINT for a local SQS stand-in;
 * the job sandbox's GYRE_SANDBOX_NETWORK, GYRE_ALLOW_UNSANDBOXED and GYRE_RESOURCE_CLASSES
 * (sandbox/index.ts). Every outbound call (the API, SQS, storage, git) goes through HTTP_PROXY /
 * HTTPS_PROXY unless NO_PROXY names the host, and trusts GYRE_CA_BUNDLE / NODE_EXTRA_CA_CERTS
 * besides the system's CAs; jobs get the proxy variables (core network/).
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
import { processAgents } from "@gyre/core/network/agents";
import {
  type AllocationRef,
  type Assignment,
  AssignmentSchema,
  HeartbeatAnswerSchema,
  type NodeResources,
  type QueueMessage,
  QueueMessageSchema,
  RegisterAnswerSchema,
  StopsAnswerSchema,
} from "@gyre/core/protocol/agent";
import { AllocationLost, CredentialRefused, GyreApi, NodeDraining, NodeForbidden } from "./api.ts";
import { capacityFromEnv, Ledger, type NodeCapacity, type Size } from "./capacity.ts";
import { type HealthCheck, healthCheckFromEnv, reportHealth } from "./health.ts";
import { type IamSigning, signRegistration } from "./iam.ts";

/** How often an unhealthy builder checks whether it can take work again. */
const HEALTH_RECHECK_MS = 5000;
/** How often a node that runs something asks which of it to stop (`/stops`). */
const STOP_POLL_MS = 1000;
/** The abort reason of an allocation the server said to stop (canceled, or no longer this node's). */
const STOPPED_BY_SERVER = "stopped by the server";

import { defaultWorkDir, runAllocation } from "./job.ts";
import { OutputStream } from "./output.ts";
import { type SandboxPolicy, sandboxPolicyFromEnv } from "./sandbox/index.ts";

interface AgentConfig {
  url: string;
  /** The join token; absent when the node registers with its instance role (`iam`). */
  token?: string;
  /** GYRE_AUTH=aws-iam: register with a signed STS request (iam.ts) instead of a token. */
  iam?: IamSigning;
  /** Resource class → its queue. */
  queues: Record<string, string>;
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
    ...authFromEnv(env, need),
    queues: parseQueues(need("GYRE_QUEUES")),
    workDir: env.GYRE_WORK_DIR ?? defaultWorkDir(),
    // Every start registers a new node, so a restarted agent never takes the old one's
    // allocations for its own (the server also loses what a live node stops reporting).
    nodeName: env.GYRE_NODE_NAME ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
    sqsEndpoint: env.GYRE_SQS_ENDPOINT,
    maxJobSeconds: positiveSeconds(env.GYRE_MAX_JOB_SECONDS, "GYRE_MAX_JOB_SECONDS", DEFAULT_MAX_JOB_SECONDS),
    heartbeatSeconds: positiveSeconds(env.GYRE_HEARTBEAT_SECONDS, "GYRE_HEARTBEAT_SECONDS", 30),
  };
}

/** The join token (GYRE_AGENT_TOKEN), or GYRE_AUTH=aws-iam with the server id it signs for. */
function authFromEnv(
  env: NodeJS.ProcessEnv,
  need: (name: string) => string,
): Pick<AgentConfig, "token" | "iam"> {
  const auth = env.GYRE_AUTH ?? "token";
  if (auth === "token") return { token: need("GYRE_AGENT_TOKEN") };
  if (auth !== "aws-iam") throw new Error(`GYRE_AUTH must be "token" or "aws-iam", not "${auth}".`);
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region)
    throw new Error("GYRE_AUTH=aws-iam needs AWS_REGION (the STS region the request is signed for).");
  return { iam: { region, serverId: need("GYRE_IAM_SERVER_ID") } };
}

/** `small=https://…,medium=https://…` → {small: …, medium: …}. */
export function parseQueues(raw: string): Record<string, string> {
  const queues: Record<string, string> = {};
  for (const entry of raw
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean)) {
    const at = entry.indexOf("=");
    const name = entry.slice(0, at).trim();
    const url = entry.slice(at + 1).trim();
    if (at <= 0 || !/^https?:\/\//.test(url))
      throw new Error(`GYRE_QUEUES entry "${entry}" must read <resource class>=<queue URL>.`);
    queues[name] = url;
  }
  if (Object.keys(queues).length === 0) throw new Error("GYRE_QUEUES names no queue.");
  return queues;
}

const wire = (size: Size): NodeResources => ({ cpus: size.cpus, memory_mb: size.memoryMb });

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/**
 * The classes this node runs: those that fit its capacity and have a queue. A queue for a class
 * too large for the node is left unpolled (said once); none left is an error.
 */
function offeredCapacity(capacity: NodeCapacity, queues: Record<string, string>, name: string): NodeCapacity {
  const offered: Record<string, Size> = {};
  for (const resourceClass of Object.keys(queues)) {
    const size = capacity.offered[resourceClass];
    if (size) offered[resourceClass] = size;
    else
      console.error(
        `agent ${name}: resource class ${resourceClass} does not fit this node; not polling its queue`,
      );
  }
  if (Object.keys(offered).length === 0)
    throw new Error(
      `None of the classes in GYRE_QUEUES (${Object.keys(queues).join(", ")}) fits this node; it fits ${Object.keys(capacity.offered).join(", ")}.`,
    );
  return { ...capacity, offered };
}

/** Most messages one receive asks for (SQS's limit). */
const RECEIVE_MAX = 10;
/** A receive's long poll: it answers as soon as a message arrives; a drain waits this long at most. */
const RECEIVE_WAIT_SECONDS = 10;

export class Agent {
  /** The API as this node, once registered (until then, as the join token). */
  private api: GyreApi;
  /** The node id the server gave this agent at registration. */
  private nodeId = "";
  /** Why the server stopped accepting this node, if it did. */
  private refused?: string;
  /** Queues whose jobs the server refused this node (their class is not one it offers): not polled any more. */
  private readonly refusedQueues = new Set<string>();
  private readonly healthCheck: HealthCheck = healthCheckFromEnv();
  private readonly sqs: SQSClient;
  private readonly stopping = new AbortController();
  /** Aborted while an operator drains this node (a new controller once the drain ends). */
  private paused = new AbortController();
  /** SIGTERM: take no new allocation, let the running ones finish and report, then leave. */
  private readonly draining = new AbortController();
  /** The allocations running on this node, with what stops each and what each takes. */
  private readonly running = new Map<
    string,
    { allocation: AllocationRef; cancel: AbortController; size: Size }
  >();
  /** What this node has, what it keeps, the classes it offers (each with a queue). */
  private readonly capacity: NodeCapacity;
  /** Its free capacity, taken by running allocations. */
  private readonly ledger: Ledger;
  /** The allocations being claimed or run, awaited before the node leaves. */
  private readonly work = new Set<Promise<void>>();
  private heartbeatTimer?: NodeJS.Timeout;
  private periodMs = 10_000;
  /** Receives and claims that failed since registering (reported in every heartbeat). */
  private pollFailures = 0;
  /** Read once at start: a bad GYRE_SANDBOX_NETWORK or GYRE_RESOURCE_CLASSES stops the agent. */
  private readonly sandbox: SandboxPolicy;

  constructor(private readonly config: AgentConfig) {
    this.sandbox = sandboxPolicyFromEnv(config.workDir);
    this.capacity = offeredCapacity(capacityFromEnv(this.sandbox.classes), config.queues, config.nodeName);
    this.ledger = new Ledger(this.capacity);
    this.api = new GyreApi(config.url, config.token ?? "");
    // Through the environment's proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY; loopback never),
    // trusting its private CAs (GYRE_CA_BUNDLE, NODE_EXTRA_CA_CERTS): the SDK reads neither.
    const agents = processAgents({ keepAlive: true });
    this.sqs = new SQSClient({
      ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
      ...(agents ? { requestHandler: agents } : {}),
    });
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
        {
          node_id: this.nodeId,
          allocations: [...this.running.values()].map((r) => r.allocation),
          allocated: wire(this.allocated()),
          poll_failures: this.pollFailures,
          // Taken from a queue and being claimed: a terminating instance waits for these too.
          claiming: Math.max(0, this.work.size - this.running.size),
        },
        HeartbeatAnswerSchema,
        2,
      );
      this.stopAll(answer.stop);
      this.setPaused(answer.drain === true);
      // The server's deadline wins: three heartbeats within it, whatever this node was told.
      this.periodMs = Math.max(500, answer.heartbeat_seconds * 1000) / 3;
    } catch (error) {
      if (!this.refusedBy(error))
        console.error(`agent ${this.config.nodeName}: heartbeat failed: ${(error as Error).message}`);
    }
  }

  /** Stops the allocations the server says are not this node's to run any more. */
  private stopAll(refs: readonly AllocationRef[]): void {
    for (const ref of refs) this.running.get(executionName(ref))?.cancel.abort(STOPPED_BY_SERVER);
  }

  /**
   * While something runs: every STOP_POLL_MS, which of it to stop (a user canceled it). A
   * read-only call, so a canceled job stops within a second or two, not at the next heartbeat.
   */
  private async pollStops(): Promise<void> {
    let failing = false;
    while (!this.stopping.signal.aborted) {
      await sleep(STOP_POLL_MS, this.stopping.signal);
      if (this.running.size === 0 || this.stopping.signal.aborted) continue;
      try {
        const answer = await this.api.call(
          "/stops",
          { node_id: this.nodeId, allocations: [...this.running.values()].map((r) => r.allocation) },
          StopsAnswerSchema,
          1,
        );
        this.stopAll(answer.stop);
        failing = false;
      } catch (error) {
        // The heartbeat still carries the same answer: one message per run of failures.
        if (!failing && !this.refusedBy(error))
          console.error(`agent ${this.config.nodeName}: stop check failed: ${(error as Error).message}`);
        failing = true;
      }
    }
  }

  /**
   * An operator's drain, learnt from a heartbeat or a refused claim: no new allocation while it
   * lasts (a receive in progress ends by itself and puts back what it brings), the running ones
   * go on. Ended by the operator, or never.
   */
  private setPaused(paused: boolean): void {
    if (paused === this.paused.signal.aborted) return;
    if (paused) {
      console.error(`agent ${this.config.nodeName}: drained by an operator: taking no new jobs`);
      this.paused.abort();
    } else {
      console.error(`agent ${this.config.nodeName}: drain ended: taking jobs again`);
      this.paused = new AbortController();
      this.ledger.changed();
    }
  }

  /** Registers with the join token: from here on every call is this node's own. */
  private async register(): Promise<void> {
    const { total, reserved, offered } = this.capacity;
    const request = {
      name: this.config.nodeName,
      resources: wire(total),
      reserved: wire(reserved),
      classes: Object.fromEntries(Object.entries(offered).map(([name, size]) => [name, wire(size)])),
    };
    const { iam } = this.config;
    const answer = await this.api.call(
      "/register",
      // Signed afresh for each try: the server accepts each signature once.
      iam ? async () => ({ ...request, aws_iam: await signRegistration(iam) }) : request,
      RegisterAnswerSchema,
      5,
    );
    this.nodeId = answer.node_id;
    this.api = new GyreApi(this.config.url, answer.credential);
    this.periodMs = Math.max(500, answer.heartbeat_seconds * 1000) / 3;
    const room = this.ledger.room;
    console.error(
      `agent ${this.config.nodeName}: registered as node ${this.nodeId}: ${room.cpus} vCPU, ${room.memoryMb} MB ` +
        `for jobs of class ${Object.keys(offered).join(", ")}`,
    );
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
    const stops = this.pollStops();
    const quit = AbortSignal.any([this.stopping.signal, this.draining.signal]);
    await Promise.all(
      Object.keys(this.capacity.offered).map((resourceClass) => this.poll(resourceClass, quit)),
    );
    // Draining: what was claimed finishes and reports first (stopping: it was told to stop).
    while (this.work.size > 0) await Promise.all(this.work);
    // No heartbeat after this point: one landing after the leave would make the node ready again.
    beats = false;
    clearTimeout(this.heartbeatTimer);
    await beating;
    if (this.draining.signal.aborted && !this.stopping.signal.aborted) await this.leave();
    this.stopping.abort();
    await stops;
    // Refused: exit 1, so a supervisor knows this agent did not stop of its own accord.
    if (this.refused) process.exitCode = 1;
  }

  /** What the allocations running here take. */
  private allocated(): Size {
    let cpus = 0;
    let memoryMb = 0;
    for (const { size } of this.running.values()) {
      cpus += size.cpus;
      memoryMb += size.memoryMb;
    }
    return { cpus, memoryMb };
  }

  private wasHealthy?: boolean;
  private checking?: Promise<boolean>;

  /**
   * Whether this builder may take work now (one check at a time, shared by every class's poll):
   * an unhealthy builder takes none, and its jobs wait for a healthy one. Logged on changes.
   */
  private healthy(): Promise<boolean> {
    this.checking ??= this.healthCheck()
      .then(async (health) => {
        if (health.healthy !== this.wasHealthy) {
          if (!health.healthy)
            console.error(`agent ${this.config.nodeName}: unhealthy, taking no jobs: ${health.reason}`);
          else if (this.wasHealthy === false)
            console.error(`agent ${this.config.nodeName}: healthy again, taking jobs`);
          this.wasHealthy = health.healthy;
          await reportHealth(process.env.GYRE_HEALTH_FILE, health).catch(() => undefined);
        }
        return health.healthy;
      })
      .finally(() => {
        this.checking = undefined;
      });
    return this.checking;
  }

  /**
   * One resource class's queue, polled while the node takes work and the class fits its free
   * capacity, for as many allocations as fit. A message that no longer fits when it arrives
   * (another class's took the room meanwhile) goes back on the queue at once, for any node.
   */
  private async poll(resourceClass: string, quit: AbortSignal): Promise<void> {
    const size = this.capacity.offered[resourceClass]!;
    const queueUrl = this.config.queues[resourceClass]!;
    while (!quit.aborted) {
      // Refused this queue's jobs: the node stays (heartbeating, listed, its running work goes
      // on) but polls it no more, until it is stopped and its GYRE_QUEUES corrected.
      if (this.refusedQueues.has(queueUrl)) {
        await sleep(60_000, quit);
        continue;
      }
      if (!(await this.healthy())) {
        await sleep(HEALTH_RECHECK_MS, quit);
        continue;
      }
      const paused = this.paused.signal;
      if (paused.aborted) {
        await sleep(Math.min(1000, this.periodMs), quit);
        continue;
      }
      const room = this.ledger.room;
      const fit = Math.min(
        RECEIVE_MAX,
        Math.floor((room.cpus + 1e-9) / Math.max(size.cpus, 1e-9)),
        Math.floor(room.memoryMb / Math.max(size.memoryMb, 1)),
      );
      if (fit < 1) {
        await this.ledger.nextChange(AbortSignal.any([quit, paused]));
        continue;
      }
      let messages: Message[] = [];
      try {
        // Only a stop cuts a receive short: the queue does not learn that its caller went away and
        // may hand it a message, which then stays invisible for the queue's visibility timeout. A
        // drain lets the receive end (within RECEIVE_WAIT_SECONDS) and puts back what it brings.
        const out = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: fit,
            WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
          }),
          { abortSignal: this.stopping.signal },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        this.pollFailures++;
        console.error(`agent ${this.config.nodeName}: receive failed: ${(error as Error).message}`);
        await sleep(1000, quit);
      }
      for (const message of messages) {
        // Received as a drain began, or no room left for it: back on the queue at once.
        if (quit.aborted || this.paused.signal.aborted || !this.ledger.take(size)) {
          await this.release(queueUrl, message);
          continue;
        }
        // Never rejects: one allocation's trouble (a failed delete, say) must not stop the others.
        const work = this.handle(queueUrl, message, size)
          .catch((error) =>
            console.error(`agent ${this.config.nodeName}: allocation failed: ${(error as Error).message}`),
          )
          .finally(() => {
            this.work.delete(work);
            this.ledger.give(size);
          });
        this.work.add(work);
      }
    }
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

  private async handle(queueUrl: string, message: Message, size: Size): Promise<void> {
    // A failed delete is logged: the message comes back after its visibility timeout and its
    // claim then answers 409, so it is deleted then.
    const remove = () =>
      this.sqs
        .send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }))
        .then(
          () => undefined,
          (error: Error) => console.error(`agent ${this.config.nodeName}: delete failed: ${error.message}`),
        );
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
      // Drained by an operator (before this node's heartbeat said so): back for another node.
      if (error instanceof NodeDraining) {
        this.setPaused(true);
        await this.release(queueUrl, message);
      }
      // Lost the claim (someone else has it, or the attempt moved on): the message is spent.
      else if (error instanceof AllocationLost) await remove();
      // Not this node's to run (its class is one the node does not offer): back for a node that
      // offers it, and this queue is not polled again (GYRE_QUEUES names the wrong queue).
      else if (error instanceof NodeForbidden) {
        await this.release(queueUrl, message);
        if (!this.refusedQueues.has(queueUrl)) {
          this.refusedQueues.add(queueUrl);
          console.error(`agent ${this.config.nodeName}: ${error.message}; no longer polling ${queueUrl}`);
        }
      } else if (!this.refusedBy(error)) {
        // No answer we can act on (the server is down, say): back on the queue for any node.
        this.pollFailures++;
        console.error(`agent ${this.config.nodeName}: claim failed: ${(error as Error).message}`);
        await this.release(queueUrl, message);
      }
      return;
    }
    // The message is spent; deleting it need not delay the job.
    void remove();
    await this.execute(assignment, size);
  }

  private async execute({ job, allocation, environment }: Assignment, size: Size): Promise<void> {
    // Claimed as the agent was told to stop: say nothing; the node's deadline retries it elsewhere.
    if (this.stopping.signal.aborted) return;
    const cancel = new AbortController();
    const key = executionName(allocation);
    this.running.set(key, { allocation, cancel, size });
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
    if (cancel.signal.reason === STOPPED_BY_SERVER) {
      // A canceled job (the writes of a lost or retried attempt are refused, so only a cancel shows).
      const step = output.steps.at(-1);
      if (step) output.write(step.index, "\nGyre: this job was canceled.\n");
      outcome = "canceled";
    }
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

/**
 * Runs an agent configured by `env` in this process until it stops: SIGTERM drains it, SIGINT
 * stops it; the process exits when it is done (1 on an error).
 */
export function runAgent(env: NodeJS.ProcessEnv = process.env): void {
  const agent = new Agent(configFromEnv(env));
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

if (import.meta.url === `file://${process.argv[1]}`) runAgent();
