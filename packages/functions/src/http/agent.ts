/**
 * The builder agents' endpoints: register (with the join token, for a node id and credential
 * of its own), then, with that credential, claim an allocation, heartbeat (the node's
 * liveness), stream output, finish, leave (drained), and the storage and SSH-key grants. Every body names the
 * node, and must name the credential's (403 otherwise). Every body is parsed by its schema in @gyre/core/protocol/agent, which the
 * agent imports too; each call is idempotent, so an agent retries any of them after a network
 * error (buildkite-style).
 */

import { jobEnvironment } from "@gyre/core/contexts/index";
import { holds } from "@gyre/core/dispatch/allocation";
import { claimAllocation, finishAllocation, refuseAllocation } from "@gyre/core/dispatch/index";
import { conflict, GyreError, notFound } from "@gyre/core/error";
import { findJob, parallelismOf } from "@gyre/core/job/index";
import { verifyIamRegistration } from "@gyre/core/node/iam";
import { allocationsToStop, heartbeatNode, leaveNode, registerNode } from "@gyre/core/node/index";
import { writeOutput } from "@gyre/core/output/index";
import { continuationKey } from "@gyre/core/pipeline/index";
import {
  AllocationBodySchema,
  type Assignment,
  ClaimRequestSchema,
  FinishRequestSchema,
  HeartbeatRequestSchema,
  LeaveRequestSchema,
  OutputRequestSchema,
  RegisterRequestSchema,
  StopsRequestSchema,
} from "@gyre/core/protocol/agent";
import { z } from "@gyre/core/protocol/schema";
import { DEFAULT_RESOURCE_CLASSES, queueKey } from "@gyre/core/resources";
import { readSettings } from "@gyre/core/settings/index";
import { presign } from "@gyre/core/storage/grant";
import { verifyAllocation } from "@gyre/core/storage/index";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, nodeBody, parseBody } from "./context.ts";
import { jobKeysAnswer } from "./ssh-keys.ts";
import { storageRoutes } from "./storage.ts";

/** Output requests carry several chunks of up to 1 MiB each. */
const MAX_OUTPUT_BODY = 8 * 1024 * 1024;

const FinishBodySchema = FinishRequestSchema.extend({ parallelism: z.number().int().min(1).max(1000) });

export function agentRoutes() {
  const app = new Hono<Env>();
  const joinToken = allow.builder();
  // What a builder joining with the join token needs besides it (`gyre agent --server --token`):
  // each resource class's queue, and the local SQS stand-in's address when there is one.
  app.get("/queues", joinToken, (c) => {
    const resources = c.get("gyre").resources;
    const queues = Object.fromEntries(
      DEFAULT_RESOURCE_CLASSES.flatMap((name) => {
        const url = resources.jobQueueUrls[queueKey(name)];
        return url ? [[name, url]] : [];
      }),
    );
    return c.json({ queues, sqs_endpoint: resources.endpoints?.sqs ?? null, region: resources.region });
  });
  // Registration takes the join token (a builder user's token) or, on AWS, a signed proof of the
  // instance role in the body; every other call a node's own credential.
  app.post(
    "/register",
    allow.anonymous("a signed proof of the instance's IAM role, or the join token checked here"),
    async (c) => {
      const request = await parseBody(c, RegisterRequestSchema);
      const gyre = c.get("gyre");
      if (request.aws_iam)
        return c.json(
          await registerNode(gyre, request, await verifyIamRegistration(gyre, request.aws_iam)),
          201,
        );
      await joinToken(c, async () => undefined);
      return c.json(await registerNode(gyre, request), 201);
    },
  );
  // What the fleet's instances install at boot (infra/fleet.ts): Gyre's own code, no credential
  // needed; a short-lived presigned URL of the bundle the deploy uploaded.
  app.get(
    "/bundle",
    allow.anonymous("Gyre's own code, no secret: a short-lived presigned URL"),
    async (c) => {
      const gyre = c.get("gyre");
      const key = gyre.resources.fleet?.agentBundleKey;
      if (!key) throw notFound("This installation has no agent bundle: its builder fleet is not deployed.");
      return c.redirect((await presign(gyre, "GET", key)).url, 302);
    },
  );
  app.use(allow.node());

  app.post("/claim", async (c) => {
    const gyre = c.get("gyre");
    const request = await nodeBody(c, ClaimRequestSchema, "claim");
    // A draining node, or one marked ineligible, takes nothing new (423: it puts the message back
    // for another node), but a retried claim it already won (its answer was lost) gets its job,
    // so nothing is orphaned.
    if (c.get("nodeDraining") || !c.get("nodeEligible")) {
      const ref = request.allocation;
      const why = c.get("nodeDraining") ? "is draining" : "is ineligible";
      if (!holds(await findJob(gyre, ref.workflowId, ref.jobName), ref, request.node_id))
        throw new GyreError("locked", `Node ${request.node_id} ${why}: it takes no new allocation.`);
    }
    // A node claims only jobs of the classes it declared (403 otherwise: the job stays queued).
    const job = await claimAllocation(gyre, request, c.get("nodeClasses"));
    const ref = request.allocation;
    // Only a builder that has just won this job's claim gets the variables (project, contexts) in clear.
    const found = await jobEnvironment(gyre, job);
    if ("unauthorized" in found) {
      // The job ends here, never run; a 409 tells the builder the allocation is not its to run.
      await refuseAllocation(gyre, job, ref, request.node_id, found.unauthorized);
      throw conflict(found.unauthorized);
    }
    if (!job.plan) throw conflict("This job has nothing to run.");
    // A setup job may continue its pipeline: it gets the key (masked in its output like any secret).
    const key = job.setup ? await continuationKey(gyre, job.pipelineId) : undefined;
    const assignment: Assignment = {
      allocation: ref,
      job: {
        id: job.id,
        number: job.number,
        name: job.name,
        projectSlug: job.projectSlug,
        pipelineId: job.pipelineId,
        pipelineNumber: job.pipelineNumber,
        workflowId: job.workflowId,
        workflowName: job.workflowName,
        attempt: job.attempt,
        ...(job.workspaceId ? { workspaceId: job.workspaceId } : {}),
        ...(job.ssh ? { ssh: job.ssh } : {}),
        plan: job.plan,
        checkout: job.checkout,
        pipeline: job.pipeline,
        parallelism: parallelismOf(job),
        limits: { max_test_output_bytes: (await readSettings(gyre)).max_test_output_bytes },
      },
      environment: key ? { ...found.environment, CIRCLE_CONTINUATION_KEY: key } : found.environment,
    };
    return c.json(assignment);
  });

  // A drained agent leaves (SIGTERM: its allocations finished): down at once, nothing lost.
  app.post("/leave", async (c) => {
    const request = await nodeBody(c, LeaveRequestSchema, "leave");
    const node = await leaveNode(c.get("gyre"), request);
    return c.json({ node_id: node.id, status: node.status });
  });

  app.post("/heartbeat", async (c) => {
    const request = await nodeBody(c, HeartbeatRequestSchema, "heartbeat");
    return c.json(await heartbeatNode(c.get("gyre"), request));
  });

  app.post("/stops", async (c) => {
    const request = await nodeBody(c, StopsRequestSchema, "stops request");
    return c.json({ stop: await allocationsToStop(c.get("gyre"), request.node_id, request.allocations) });
  });

  app.post("/output", async (c) => {
    const gyre = c.get("gyre");
    const request = await nodeBody(c, OutputRequestSchema, "output", MAX_OUTPUT_BODY);
    // Only the node running the allocation may write its output.
    await verifyAllocation(gyre, request.allocation, request.node_id, { orCanceled: true });
    await writeOutput(gyre, request.allocation, { steps: request.steps, chunks: request.chunks });
    return c.json({ ok: true });
  });

  app.post("/finish", async (c) => {
    const gyre = c.get("gyre");
    const request = await nodeBody(c, FinishBodySchema, "finish", MAX_OUTPUT_BODY);
    // Only the node running the allocation writes its output. A retried report of an allocation
    // already finished skips the write; finishAllocation then accepts it if it is the same outcome.
    const owns = await verifyAllocation(gyre, request.allocation, request.node_id, { orCanceled: true }).then(
      () => true,
      (error: unknown) => {
        if (error instanceof GyreError && error.code === "conflict") return false;
        throw error;
      },
    );
    if (owns) {
      await writeOutput(
        gyre,
        request.allocation,
        { steps: request.steps, chunks: request.chunks },
        { final: true },
      );
    }
    await finishAllocation(gyre, request);
    return c.json({ ok: true });
  });

  app.post("/ssh-keys", async (c) => {
    const body = await nodeBody(c, AllocationBodySchema, "request");
    return c.json(await jobKeysAnswer(c.get("gyre"), body.allocation, body.node_id));
  });

  app.route("/", storageRoutes());

  return app;
}
