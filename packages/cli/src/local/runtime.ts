/**
 * The embedded default: Gyre on one machine. Local stand-ins that speak the AWS wire
 * protocols (dynalite for DynamoDB, fauxqs for SQS and s3rver for S3 in a worker thread of
 * their own, the local Step Functions adapter in this one), the same handlers as on AWS behind one HTTP server, the intake consumer, the
 * reconciler, and builder agents as supervised child processes. Data persists under the
 * data directory, so a restart keeps every pipeline and its output.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { deliverAuditFiles } from "@gyre/core/audit/delivery";
import { claimFirstAdmin, createToken, createUser } from "@gyre/core/auth/index";
import type { RequestObserver } from "@gyre/core/aws/index";
import { ASL_PATH, LocalStepFunctions } from "@gyre/core/aws/local-stepfunctions";
import { createGyre, type Gyre } from "@gyre/core/context";
import { finalizeAllocation, reconcile } from "@gyre/core/dispatch/index";
import { eventsOf, readFleetFigures } from "@gyre/core/metrics/index";
import { forwardToStatsd } from "@gyre/core/metrics/statsd";
import type { BuilderIamSettings } from "@gyre/core/node/iam";
import { consumeIntakeMessage } from "@gyre/core/pipeline/index";
import {
  DEFAULT_MAX_JOB_SECONDS,
  DEFAULT_QUEUE_TIMEOUT_SECONDS,
  DEFAULT_RESOURCE_CLASSES,
  queueKey,
  type Resources,
  type StatsdSettings,
} from "@gyre/core/resources";
import { sweepExpired } from "@gyre/core/retention/index";
import { fireDueSchedules } from "@gyre/core/schedule/index";
import { CachingKeyPort, LocalKeyPort } from "@gyre/core/secret/index";
import { tableDefinition } from "@gyre/core/table-schema";
import { deliverDueUsage } from "@gyre/core/usage/index";
import { redriveDeliveries } from "@gyre/core/webhook/github";
import { createApp } from "@gyre/functions/http/app";
import { nodeServerOptions, type TlsCertificate } from "@gyre/functions/http/node-server";
import { directoryAssets } from "@gyre/functions/http/web";
import { WEB_DIST } from "@gyre/web/build";
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { removeRuntimeFile, writeRuntimeFile } from "./runtime-file.ts";
import { startStandIns } from "./standins.ts";
import { builderCaBundle, tlsHost } from "./tls.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const AGENT_MAIN = join(ROOT, "packages/agent/src/main.ts");

const REGION = "us-east-1";
const ACCOUNT = "000000000000";
const TABLE = "gyre";
const BUCKET = "gyre";
const FINALIZE_FUNCTION = "gyre-finalize";
/** What each local builder node declares it has: the largest default class's size (2xlarge). */
export const LOCAL_NODE = { cpus: 16, memoryMb: 32 * 1024 };

export interface LocalRuntimeOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Builder agent processes to run (default 1). */
  agents?: number;
  /** Seconds a builder node may go silent before it is down and its allocations are lost (default 30). */
  heartbeatSeconds?: number;
  /** Seconds an allocation may wait for a builder before it ends with a message (default a day). */
  queueTimeoutSeconds?: number;
  /**
   * How often the reconciler runs (default: a third of the heartbeat period, so a lost node is
   * noticed soon after its deadline) and how old a record must be before it acts.
   */
  reconcileIntervalMs?: number;
  reconcileGraceMs?: number;
  /** How often the scheduler looks for due ticks (default 5 s). */
  scheduleIntervalMs?: number;
  /**
   * How often expired output, artifacts and caches are deleted from the bucket (default hourly,
   * and once at start; core/src/retention): the settings `retention_*_days` say what has expired.
   */
  retentionSweepIntervalMs?: number;
  /**
   * How often the weekly usage statistics are checked for (default hourly): the last week that
   * ended is written into the bucket once (core/src/usage/delivery.ts).
   */
  usageIntervalMs?: number;
  /** How often the audit log's hourly files are delivered into the bucket (default 5 min). */
  auditFilesIntervalMs?: number;
  /** More environment for the builder agents (sandbox settings such as GYRE_SANDBOX_NETWORK). */
  agentEnv?: Record<string, string>;
  /**
   * Serve HTTPS with this certificate and key (`gyre start --tls-cert --tls-key`, local/tls.ts):
   * the URL is then https://, and the local builders trust the certificate.
   */
  tls?: TlsCertificate;
  /** Builders may also register with an instance role (node/iam.ts); off by default. */
  builderIam?: BuilderIamSettings;
  /** Forward the metrics to a StatsD / Telegraf endpoint over UDP (core/src/metrics/statsd.ts). */
  statsd?: StatsdSettings;
  /** Sees every AWS request the server side makes (benchmarks). */
  observer?: RequestObserver;
  /**
   * The built web app to serve at `/` (default packages/web/dist, which `gyre start` builds
   * when its sources changed: @gyre/web/build).
   */
  webDir?: string;
  log?: (line: string) => void;
}

export interface LocalRuntime {
  url: string;
  gyre: Gyre;
  adminToken: string;
  dataDir: string;
  agents: AgentSupervisor;
  /** With `tls`: the CA certificates a client of `url` must trust besides the environment's. */
  ca?: string[];
  /** With `tls`: those in a file, with this process's own (the builders' GYRE_CA_BUNDLE). */
  caFile?: string;
  stop(): Promise<void>;
}

/** A secret kept in the data directory, readable by its owner only; created on first start. */
async function fileSecret(
  path: string,
  create: () => Promise<string>,
): Promise<{ value: string; created: boolean }> {
  try {
    return { value: (await readFile(path, "utf8")).trim(), created: false };
  } catch {
    const value = await create();
    await writeFile(path, `${value}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
    return { value, created: true };
  }
}

export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? (() => {});
  const dataDir = resolve(options.dataDir);
  await mkdir(join(dataDir, "work"), { recursive: true });
  const closers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };

  try {
    // Queues are in memory: created at every start. The reconciler re-drives what was lost.
    // One queue per resource class, as on AWS: a node polls the classes that fit its free room.
    const standIns = await startStandIns({
      dynamodbPath: join(dataDir, "dynamodb"),
      s3Directory: join(dataDir, "s3"),
      bucket: BUCKET,
      queues: [
        { name: "gyre-intake-dlq" },
        {
          name: "gyre-intake",
          attributes: {
            VisibilityTimeout: "60",
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:gyre-intake-dlq`,
              maxReceiveCount: "5",
            }),
          },
        },
        ...DEFAULT_RESOURCE_CLASSES.map((c) => ({
          name: `gyre-jobs-${queueKey(c)}`,
          attributes: { VisibilityTimeout: "30" },
        })),
      ],
    });
    closers.push(standIns.close);
    const intakeQueueUrl = standIns.queueUrls["gyre-intake"]!;
    const jobQueueUrls = Object.fromEntries(
      DEFAULT_RESOURCE_CLASSES.map((c) => [c, standIns.queueUrls[`gyre-jobs-${queueKey(c)}`]!]),
    );

    const stateMachineArn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:gyre-job-allocation`;
    let gyre: Gyre | undefined;
    const sfn = new LocalStepFunctions({
      definition: await readFile(ASL_PATH, "utf8"),
      stateMachineArn,
      substitutions: {
        FinalizeFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${FINALIZE_FUNCTION}`,
      },
      functions: { [FINALIZE_FUNCTION]: (input) => finalizeAllocation(gyre!, input) },
      onFailure: (name, error, cause) => log(`execution ${name} failed: ${error}: ${cause}`),
      get sqs() {
        return gyre!.aws.sqs;
      },
    });
    const sfnUrl = await sfn.listen();
    closers.push(() => sfn.close());

    const resources: Resources = {
      region: REGION,
      tableName: TABLE,
      bucketName: BUCKET,
      intakeQueueUrl,
      jobQueueUrls: Object.fromEntries(Object.entries(jobQueueUrls).map(([c, url]) => [queueKey(c), url])),
      stateMachineArn,
      heartbeatSeconds: options.heartbeatSeconds ?? 30,
      queueTimeoutSeconds: options.queueTimeoutSeconds ?? DEFAULT_QUEUE_TIMEOUT_SECONDS,
      maxJobSeconds: DEFAULT_MAX_JOB_SECONDS,
      endpoints: { ...standIns.endpoints, sfn: sfnUrl },
      ...(options.builderIam ? { builderIam: options.builderIam } : {}),
      ...(options.statsd ? { statsd: options.statsd } : {}),
    };
    gyre = createGyre(resources, new CachingKeyPort(new LocalKeyPort(dataDir)), dataDir, options.observer);
    const ready = gyre;
    await ensureTable(ready);

    const app = createApp(ready, {
      logError: (e) => log(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
      remoteAddress: (c) => getConnInfo(c).remote.address,
      web: directoryAssets(options.webDir ?? WEB_DIST),
    });
    // Requests being answered: while there are any, the intake takes its messages one at a time.
    let inFlight = 0;
    const server = serve({
      fetch: async (request, env) => {
        inFlight++;
        try {
          return await app.fetch(request, env);
        } finally {
          inFlight--;
        }
      },
      port: options.port ?? 8080,
      hostname: "127.0.0.1",
      ...(options.tls ? nodeServerOptions(options.tls) : nodeServerOptions()),
    });
    await new Promise<void>((ok, fail) => {
      server.once("listening", ok);
      server.once("error", fail);
    });
    closers.push(
      () =>
        new Promise<void>((ok) => {
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          server.close(() => ok());
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = options.tls ? `https://${tlsHost(options.tls)}:${port}` : `http://127.0.0.1:${port}`;
    // Over TLS the local builders trust the server's certificate (and what this process trusts).
    const builderCa: Record<string, string> = options.tls
      ? { GYRE_CA_BUNDLE: await builderCaBundle(dataDir, options.tls) }
      : {};
    (resources as { apiUrl?: string }).apiUrl = url;
    // Where this runtime's stand-ins listen, for `gyre backup` beside it (runtime-file.ts).
    await writeRuntimeFile(dataDir, {
      pid: process.pid,
      url,
      region: REGION,
      table: TABLE,
      bucket: BUCKET,
      endpoints: { dynamodb: standIns.endpoints.dynamodb, s3: standIns.endpoints.s3 },
      started_at: new Date().toISOString(),
    });
    closers.push(() => removeRuntimeFile(dataDir));

    const admin = await fileSecret(join(dataDir, "admin-token"), async () => {
      const user = await createUser(ready, { login: "admin", name: "Administrator", admin: true });
      return createToken(ready, user.id, "local admin");
    });
    // The installation has its administrator: whoever signs in first with GitHub or LDAP is not one.
    await claimFirstAdmin(ready);
    const builder = await fileSecret(join(dataDir, "builder-token"), async () => {
      const user = await createUser(ready, { login: "builder", name: "Local builders", builder: true });
      return createToken(ready, user.id, "local builders");
    });

    const consumer = consumeIntake(ready, log, () => inFlight > 0);
    closers.push(consumer.stop);

    const statsd = resources.statsd ? forwardToStatsd(resources.statsd, eventsOf(ready)) : undefined;
    if (statsd) closers.push(async () => statsd.close());
    const reconcileOnce = () =>
      reconcile(ready, {
        graceMs: options.reconcileGraceMs,
        // Executions live in memory here: a lost one is noticed after the grace period.
        checkExecutionsAfterMs: options.reconcileGraceMs ?? 30_000,
      })
        .then((r) => {
          if (r.nodesDown > 0) log(`reconciler: ${r.nodesDown} builder node(s) stopped heartbeating`);
          if (r.redriven > 0) log(`reconciler: re-drove ${r.redriven} job(s)`);
          for (const failure of r.failures) log(`reconciler: could not repair ${failure}`);
          // The fleet's gauges after each pass, when forwarding is on.
          if (statsd) return readFleetFigures(ready).then((figures) => statsd.fleet(figures));
        })
        .catch((e) => log(`reconciler: ${e instanceof Error ? e.message : String(e)}`));
    // The intake queue lives in memory: pushes accepted but not yet turned into pipelines
    // before the last stop are re-enqueued from their delivery records.
    await redriveDeliveries(ready).then(
      (n) => n > 0 && log(`intake: re-enqueued ${n} push(es) received before the last stop`),
    );
    // At start nothing is in flight: everything active is left over from the last run, and the
    // local builders of the last run died with it.
    await reconcile(ready, { graceMs: 0, heartbeatDeadlineMs: 0, checkExecutionsAfterMs: 0 }).then(
      (r) =>
        r.redriven + r.restarted > 0 &&
        log(`reconciler: re-drove ${r.redriven + r.restarted} job(s) left from the last run`),
    );
    const timer = setInterval(
      reconcileOnce,
      options.reconcileIntervalMs ?? Math.min(30_000, (resources.heartbeatSeconds * 1000) / 3),
    );
    timer.unref();
    closers.push(async () => clearInterval(timer));

    // Schedules fire on the minute as on AWS; a pass checks every few seconds, and catches up
    // on the ticks that fell due while Gyre was stopped (each fires once).
    let firing: Promise<unknown> | undefined;
    const fireOnce = () => {
      if (firing) return; // one pass at a time (a second would find nothing more to fire)
      firing = fireDueSchedules(ready)
        .then((r) => {
          if (r.fired > 0) log(`scheduler: fired ${r.fired} scheduled pipeline(s)`);
          if (r.skipped > 0) log(`scheduler: skipped ${r.skipped} tick(s) older than a day`);
        })
        .catch((e) => log(`scheduler: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          firing = undefined;
        });
    };
    fireOnce();
    const scheduler = setInterval(fireOnce, options.scheduleIntervalMs ?? 5000);
    scheduler.unref();
    closers.push(async () => {
      clearInterval(scheduler);
      await firing;
    });

    // Retention (core/src/retention): expired output, artifacts and caches leave the bucket; a
    // pass at start and then on the interval, one at a time.
    let sweeping: Promise<unknown> | undefined;
    const sweepOnce = () => {
      if (sweeping) return;
      sweeping = sweepExpired(ready)
        .then((r) => {
          const gone = r.deleted.output + r.deleted.artifacts + r.deleted.caches;
          if (gone > 0)
            log(`retention: deleted ${gone} expired object(s) (${r.jobs} job(s), ${r.caches} cache(s))`);
        })
        .catch((e) => log(`retention: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          sweeping = undefined;
        });
    };
    sweepOnce();
    const sweeper = setInterval(sweepOnce, options.retentionSweepIntervalMs ?? 3_600_000);
    sweeper.unref();
    closers.push(async () => {
      clearInterval(sweeper);
      await sweeping;
    });

    // The audit log's hourly files (core/src/audit/delivery.ts), parked records first: a pass
    // every few minutes writes the hours that ended since the last; not at start, so a start
    // after a long stop catches up in the background.
    let delivering: Promise<unknown> | undefined;
    const auditFiles = setInterval(
      () => {
        if (delivering) return;
        delivering = deliverAuditFiles(ready)
          .then((r) => {
            if (r.redelivered > 0) log(`audit: put ${r.redelivered} parked record(s) back into the table`);
            if (r.files.length > 0) log(`audit: wrote ${r.files.length} hourly file(s) into the bucket`);
          })
          .catch((e) => log(`audit: hourly files: ${e instanceof Error ? e.message : String(e)}`))
          .finally(() => {
            delivering = undefined;
          });
      },
      options.auditFilesIntervalMs ?? 5 * 60_000,
    );
    auditFiles.unref();
    closers.push(async () => {
      clearInterval(auditFiles);
      await delivering;
    });

    // Usage statistics (core/src/usage/delivery.ts): the week that ended, into the bucket once.
    // A pass at start and then hourly; one at a time, a written week costs one HEAD.
    let usagePass: Promise<unknown> | undefined;
    const deliverUsageOnce = () => {
      if (usagePass) return;
      usagePass = deliverDueUsage(ready)
        .then((d) => d.written && log(`usage: wrote the statistics of ${d.week} into the bucket`))
        .catch((e) => log(`usage: weekly statistics: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          usagePass = undefined;
        });
    };
    deliverUsageOnce();
    const usageTimer = setInterval(deliverUsageOnce, options.usageIntervalMs ?? 3_600_000);
    usageTimer.unref();
    closers.push(async () => {
      clearInterval(usageTimer);
      await usagePass;
    });

    const agents = new AgentSupervisor(
      {
        GYRE_URL: url,
        ...builderCa,
        GYRE_AGENT_TOKEN: builder.value,
        GYRE_QUEUES: Object.entries(jobQueueUrls)
          .map(([c, url]) => `${c}=${url}`)
          .join(","),
        // Local nodes are as large as the largest class, with no reserve (this process is the
        // control plane): every class runs here, sharing the machine's cores (a class's CPUs
        // are a quota). agentEnv's GYRE_NODE_* set a real size.
        GYRE_NODE_CPUS: String(LOCAL_NODE.cpus),
        GYRE_NODE_MEMORY_MB: String(LOCAL_NODE.memoryMb),
        GYRE_NODE_RESERVED_CPUS: "0",
        GYRE_NODE_RESERVED_MEMORY_MB: "0",
        GYRE_SQS_ENDPOINT: standIns.endpoints.sqs,
        GYRE_WORK_DIR: join(dataDir, "work"),
        GYRE_HEARTBEAT_SECONDS: String(resources.heartbeatSeconds),
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        ...options.agentEnv,
      },
      log,
    );
    for (let i = 0; i < (options.agents ?? 1); i++) agents.start(`local-${i + 1}`);
    closers.push(() => agents.stopAll());

    return {
      url,
      gyre: ready,
      adminToken: admin.value,
      dataDir,
      agents,
      ...(options.tls ? { ca: [options.tls.cert], caFile: builderCa.GYRE_CA_BUNDLE } : {}),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Creates the table when missing and returns once it is ACTIVE (creation is asynchronous). */
async function ensureTable(gyre: Gyre): Promise<void> {
  const raw = gyre.aws.dynamo;
  const status = () =>
    raw.send(new DescribeTableCommand({ TableName: gyre.resources.tableName })).then(
      (out) => out.Table?.TableStatus,
      (error: Error) => {
        if (error.name === "ResourceNotFoundException") return undefined;
        throw error;
      },
    );
  if ((await status()) === undefined) {
    await raw
      .send(new CreateTableCommand(tableDefinition(gyre.resources.tableName)))
      .catch((error: Error) => {
        if (error.name !== "ResourceInUseException") throw error;
      });
  }
  for (const deadline = Date.now() + 30_000; (await status()) !== "ACTIVE"; ) {
    if (Date.now() > deadline)
      throw new Error(`DynamoDB table ${gyre.resources.tableName} did not become ACTIVE.`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How much nicer than the runtime local builder agents (and their steps) run: see spawn. */
const AGENT_NICENESS = 10;

/**
 * Runs `f` over `items`, all at once while `busy()` is false and one at a time while it is
 * true: here the intake shares one event loop with the API (on AWS it is a Lambda of its own),
 * so during a burst of requests it takes its messages in turn instead of crowding the answers.
 */
export async function eachYielding<T>(
  items: readonly T[],
  busy: () => boolean,
  f: (item: T) => Promise<void>,
): Promise<void> {
  const all: Promise<void>[] = [];
  const running = new Set<Promise<void>>();
  for (const item of items) {
    while (running.size > 0 && busy()) await Promise.race(running);
    const run = f(item);
    all.push(run);
    // Raced settled, so that one item's failure neither skips the rest nor leaves them unawaited.
    const settled: Promise<void> = run.then(
      () => {
        running.delete(settled);
      },
      () => {
        running.delete(settled);
      },
    );
    running.add(settled);
  }
  await Promise.all(all);
}

/** Long-polls the intake queue and creates pipelines; a message that fails is retried, then dead-lettered. */
function consumeIntake(
  gyre: Gyre,
  log: (line: string) => void,
  busy: () => boolean,
): { stop: () => Promise<void> } {
  const abort = new AbortController();
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        const out = await gyre.aws.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: gyre.resources.intakeQueueUrl,
            // While the API is busy, few at a time: messages waiting their turn here would
            // otherwise reach their visibility timeout and be delivered twice.
            MaxNumberOfMessages: busy() ? 2 : 10,
            WaitTimeSeconds: 20,
          }),
          { abortSignal: abort.signal },
        );
        await eachYielding(out.Messages ?? [], busy, async (m) => {
          try {
            await consumeIntakeMessage(gyre, m.Body ?? "", log);
            await gyre.aws.sqs.send(
              new DeleteMessageCommand({
                QueueUrl: gyre.resources.intakeQueueUrl,
                ReceiptHandle: m.ReceiptHandle,
              }),
            );
          } catch (error) {
            log(`intake: ${error instanceof Error ? error.message : String(error)} (will retry)`);
          }
        });
      } catch (error) {
        if (abort.signal.aborted) break;
        log(`intake: ${error instanceof Error ? error.message : String(error)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return {
    stop: async () => {
      abort.abort();
      await loop;
    },
  };
}

/**
 * Runs builder agents as child processes and restarts one that dies: after 200 ms, doubling up
 * to 30 s while it keeps dying within 10 s of its start (a refused join token, say), so a broken
 * agent does not spin.
 */
export class AgentSupervisor {
  private readonly children = new Map<string, ChildProcess>();
  private readonly delays = new Map<string, number>();
  private stopping = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly log: (line: string) => void,
  ) {}

  /** What each agent adds to the shared environment (a node of another size, say), kept for its restarts. */
  private readonly own = new Map<string, Record<string, string>>();
  private readonly bundles = new Map<string, string>();

  /**
   * Starts agent `nodeId` (restarted as a new node when it exits), with `env` over the shared
   * environment; `bundle` runs a bundled agent (infra/agent-bundle.ts) as the fleet does,
   * instead of the sources.
   */
  start(nodeId: string, env?: Record<string, string>, bundle?: string): void {
    if (env) this.own.set(nodeId, env);
    if (bundle) this.bundles.set(nodeId, bundle);
    const entry = this.bundles.get(nodeId);
    // Builds run below the control plane's priority: `nice` starts the agent (every thread of it,
    // and every step it spawns) 10 below this process, so on one machine a full build load slows
    // the builds, not the API's answers.
    const child = spawn(
      "nice",
      [
        "-n",
        String(AGENT_NICENESS),
        process.execPath,
        ...(entry ? [entry] : ["--import", "tsx", AGENT_MAIN]),
      ],
      {
        env: {
          ...process.env,
          ...this.env,
          ...this.own.get(nodeId),
          GYRE_NODE_NAME: `${nodeId}-${randomBytes(3).toString("hex")}`,
        },
        // The IPC channel closes when this process dies, however it dies: the agent then stops too.
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        cwd: ROOT,
      },
    );
    this.children.set(nodeId, child);
    // `nice` missing (it is in coreutils) or not executable: said once, not a crash.
    child.on("error", (error) => this.log(`agent ${nodeId} could not start: ${error.message}`));
    const startedAt = Date.now();
    child.on("exit", (code, signal) => {
      if (this.children.get(nodeId) !== child) return;
      this.children.delete(nodeId);
      if (this.stopping) return;
      const quick = Date.now() - startedAt < 10_000;
      const delay = quick ? Math.min(30_000, this.delays.get(nodeId) ?? 200) : 200;
      this.delays.set(nodeId, quick ? delay * 2 : 200);
      this.log(`agent ${nodeId} exited (${signal ?? code}); restarting it in ${delay} ms`);
      setTimeout(() => !this.stopping && this.start(nodeId), delay).unref();
    });
  }

  /** Process ids of the running agents, by node name. */
  pids(): Record<string, number> {
    return Object.fromEntries([...this.children].map(([id, c]) => [id, c.pid!]));
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((ok) => {
            if (child.exitCode !== null || child.signalCode !== null) return ok();
            child.once("exit", () => ok());
            // SIGINT stops at once (SIGTERM would drain: let running jobs finish first).
            child.kill("SIGINT");
            setTimeout(() => child.kill("SIGKILL"), 5000).unref();
          }),
      ),
    );
    this.children.clear();
  }
}
