/**
 * For dispatch's unit tests: the dispatch path with no runtime around it. The table is
 * dynalite, the job queue fauxqs and the executions the local Step Functions adapter running
 * the real document (infra/job-allocation.asl.json), all in this process and through the real
 * SDK clients; no HTTP server, no agent, no git. The test plays the builder: it takes
 * allocations off the queue and claims, heartbeats and finishes them by calling the domain
 * functions, and sets the clock the reconciler reads.
 */
import { readFile } from "node:fs/promises";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { startFauxqs } from "fauxqs";
import { ASL_PATH, LocalStepFunctions } from "../aws/local-stepfunctions.ts";
import { compiled } from "../config/testing.ts";
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import { findJob } from "../job/index.ts";
import { pipelineValues, writeWorkflows } from "../pipeline/create.ts";
import type { Pipeline } from "../pipeline/model.ts";
import type { Project } from "../project/index.ts";
import { type AllocationRef, type QueueMessage, QueueMessageSchema } from "../protocol/agent.ts";
import { parseStored } from "../protocol/schema.ts";
import { queueKey } from "../resources.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { workflowIdsOf } from "../workflow/index.ts";
import { executionName, FinalizeInputSchema, startAllocations } from "./execution.ts";
import { finalizeAllocation } from "./finalize.ts";

const ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:gyre-job-allocation";
const FINALIZE = "gyre-finalize";

export interface DispatchWorld extends TestTable {
  /**
   * Writes a pipeline compiled from `config` and starts its root jobs, as the intake does
   * (`start: false`: writes it and starts nothing, as a crash between the two would leave it).
   */
  pipeline(
    config: string,
    options?: { start?: boolean },
  ): Promise<{ pipeline: Pipeline; workflowIds: string[] }>;
  /** The next allocation on the job queue (removed from it), or undefined after `waitMs`. */
  take(waitMs?: number): Promise<QueueMessage | undefined>;
  /** Resolves with what Finalize answered once the execution of `ref` has run it. */
  finalized(ref: AllocationRef): Promise<unknown>;
  /** The job as the table holds it now. */
  job(workflowId: string, name: string): Promise<Job>;
}

export async function dispatchWorld(): Promise<DispatchWorld> {
  const fauxqs = await startFauxqs({ port: 0, logger: false });
  const queue = fauxqs.createQueue("gyre-jobs", { attributes: { VisibilityTimeout: "30" } });
  let gyre: Gyre | undefined;
  const done = new Map<string, { promise: Promise<unknown>; resolve: (v: unknown) => void }>();
  const slot = (name: string) => {
    let entry = done.get(name);
    if (!entry) {
      let resolve!: (v: unknown) => void;
      const promise = new Promise<unknown>((ok) => {
        resolve = ok;
      });
      entry = { promise, resolve };
      done.set(name, entry);
    }
    return entry;
  };
  const sfn = new LocalStepFunctions({
    definition: await readFile(ASL_PATH, "utf8"),
    stateMachineArn: ARN,
    substitutions: { FinalizeFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${FINALIZE}` },
    functions: {
      [FINALIZE]: async (input) => {
        const name = executionName(parseStored(FinalizeInputSchema, input, "finalize input").allocation);
        try {
          const answer = await finalizeAllocation(gyre!, input);
          slot(name).resolve(answer);
          return answer;
        } catch (error) {
          slot(name).resolve(error);
          throw error;
        }
      },
    },
    get sqs() {
      return gyre!.aws.sqs;
    },
  });
  const sfnUrl = await sfn.listen();
  const table = await memoryTable({
    jobQueueUrls: { [queueKey("medium")]: queue.queueUrl },
    stateMachineArn: ARN,
    endpoints: { sqs: fauxqs.address, sfn: sfnUrl },
  });
  gyre = table.gyre;
  const ready = table.gyre;
  let pipelines = 0;
  let jobNumbers = 1;

  return {
    ...table,
    async pipeline(config, options = {}) {
      const number = ++pipelines;
      const now = new Date(ready.now()).toISOString();
      const project: Project = {
        id: "0b5c1c4e-6f7a-4e8b-9c0d-1e2f3a4b5c6d",
        slug: "gh/acme/widgets",
        vcsType: "github",
        org: "acme",
        name: "widgets",
        repoUrl: "https://github.com/acme/widgets",
        defaultBranch: "main",
        createdAt: now,
      };
      const pipeline: Pipeline = {
        id: `00000000-0000-4000-8000-${String(number).padStart(12, "0")}`,
        number,
        projectSlug: project.slug,
        state: "created",
        errors: [],
        trigger: { type: "api", receivedAt: now, actor: "tester" },
        vcs: {
          providerName: "GitHub",
          repoUrl: project.repoUrl,
          revision: "f3ac6b1b0b2f4a3c9e1f8d2a7c5b4e6d9f0a1b2c",
          branch: "main",
        },
        createdAt: now,
        updatedAt: now,
      };
      const values = pipelineValues(project, pipeline);
      const plan = await compiled(config, values);
      const { roots } = await writeWorkflows(ready, project, pipeline, plan, values, jobNumbers, "setup");
      jobNumbers += plan.workflows.reduce((n, w) => n + w.jobs.length, 0);
      if (options.start !== false) await Promise.all(roots.map((job) => startAllocations(ready, job)));
      return { pipeline, workflowIds: await workflowIdsOf(ready, pipeline.id) };
    },
    async take(waitMs = 2000) {
      const out = await ready.aws.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: Math.ceil(waitMs / 1000),
        }),
      );
      const message = out.Messages?.[0];
      if (!message) return undefined;
      await ready.aws.sqs.send(
        new DeleteMessageCommand({ QueueUrl: queue.queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
      return parseStored(QueueMessageSchema, JSON.parse(message.Body ?? "null"), "queue message");
    },
    finalized: (ref) => slot(executionName(ref)).promise,
    async job(workflowId, name) {
      const job = await findJob(ready, workflowId, name);
      if (!job) throw new Error(`no job ${name} in workflow ${workflowId}`);
      return job;
    },
    async close() {
      await table.close();
      await sfn.close();
      await fauxqs.stop();
    },
  };
}
