/**
 * The builder agents' endpoints: claim an allocation, heartbeat, stream output, finish. Each
 * is idempotent, so an agent retries any of them after a network error (buildkite-style).
 */

import { jobEnvironment } from "@gyre/core/contexts/index";
import type { AllocationRef } from "@gyre/core/dispatch/index";
import {
  claimAllocation,
  finishAllocation,
  heartbeatAllocation,
  refuseAllocation,
} from "@gyre/core/dispatch/index";
import { badRequest, conflict, GyreError } from "@gyre/core/error";
import type { AllocationStatus } from "@gyre/core/job/index";
import { type StepRecord, validateChunks, writeOutput } from "@gyre/core/output/index";
import { continuationKey } from "@gyre/core/pipeline/index";
import { verifyAllocation } from "@gyre/core/storage/index";
import { Hono } from "hono";
import { type Env, jsonBody, requireUser } from "./context.ts";
import { storageRoutes } from "./storage.ts";

/** Output requests carry several chunks of up to 1 MiB each. */
const MAX_OUTPUT_BODY = 8 * 1024 * 1024;

export function allocationRef(value: unknown): AllocationRef {
  const a = value as Partial<AllocationRef> | undefined;
  if (
    !a ||
    typeof a.workflowId !== "string" ||
    typeof a.jobName !== "string" ||
    typeof a.jobId !== "string" ||
    !Number.isInteger(a.attempt) ||
    !Number.isInteger(a.index)
  ) {
    throw badRequest("allocation must have workflowId, jobName, jobId, attempt and index.");
  }
  return {
    workflowId: a.workflowId,
    jobName: a.jobName,
    jobId: a.jobId,
    attempt: a.attempt!,
    index: a.index!,
  };
}

export function text(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== "string" || !v) throw badRequest(`${key} must be a non-empty string.`);
  return v;
}

function steps(value: unknown): StepRecord[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw badRequest("steps must be an array.");
  return value as StepRecord[];
}

export function agentRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser((u) => u.builder === true, "Only builder agents may call this endpoint."));

  app.post("/claim", async (c) => {
    const body = await jsonBody(c);
    const gyre = c.get("gyre");
    const ref = allocationRef(body.allocation);
    const nodeId = text(body, "node_id");
    const job = await claimAllocation(gyre, ref, nodeId);
    // Only a builder that has just won this job's claim gets the variables (project, contexts) in clear.
    const found = await jobEnvironment(gyre, job);
    if ("unauthorized" in found) {
      // The job ends here, never run; a 409 tells the builder the allocation is not its to run.
      await refuseAllocation(gyre, job, ref, nodeId, found.unauthorized);
      throw conflict(found.unauthorized);
    }
    const { environment } = found;
    // A setup job may continue its pipeline: it gets the key (masked in its output like any secret).
    const key = job.setup ? await continuationKey(gyre, job.pipelineId) : undefined;
    return c.json({ job, environment: key ? { ...environment, CIRCLE_CONTINUATION_KEY: key } : environment });
  });

  app.post("/heartbeat", async (c) => {
    const body = await jsonBody(c);
    await heartbeatAllocation(c.get("gyre"), text(body, "task_token"));
    return c.json({ ok: true });
  });

  app.post("/output", async (c) => {
    const body = await jsonBody(c, MAX_OUTPUT_BODY);
    const ref = allocationRef(body.allocation);
    // Only the node running the allocation may write its output.
    await verifyAllocation(c.get("gyre"), ref, text(body, "node_id"));
    await writeOutput(c.get("gyre"), ref, {
      steps: steps(body.steps),
      chunks: validateChunks(body.chunks ?? []),
    });
    return c.json({ ok: true });
  });

  app.post("/finish", async (c) => {
    const gyre = c.get("gyre");
    const body = await jsonBody(c, MAX_OUTPUT_BODY);
    const ref = allocationRef(body.allocation);
    // Only the node running the allocation writes its output. A retried report of an allocation
    // already finished skips the write; finishAllocation then accepts it if it is the same outcome.
    const owns = await verifyAllocation(gyre, ref, text(body, "node_id")).then(
      () => true,
      (error: unknown) => {
        if (error instanceof GyreError && error.code === "conflict") return false;
        throw error;
      },
    );
    if (owns) {
      await writeOutput(
        gyre,
        ref,
        { steps: steps(body.steps), chunks: validateChunks(body.chunks ?? []) },
        { final: true },
      );
    }
    await finishAllocation(
      gyre,
      ref,
      text(body, "node_id"),
      text(body, "task_token"),
      text(body, "status") as AllocationStatus,
      Number(body.parallelism ?? 1),
    );
    return c.json({ ok: true });
  });

  app.route("/", storageRoutes());

  return app;
}
