/**
 * CircleCI API v2's workflow actions: approve an approval job, cancel a workflow or one job,
 * rerun a workflow. Each answers 202 as CircleCI does once the moves are made (a canceled job's
 * node stops it within a second or two after); 404 for an unknown id, 409 for a move its
 * current state does not allow (with that state in the message), 400 for a bad rerun body.
 */
import { scopeOf } from "@gyre/core/audit/index";
import { approveJob, cancelJob, cancelWorkflow } from "@gyre/core/dispatch/actions";
import { rerunWorkflow } from "@gyre/core/dispatch/rerun";
import { forbidden } from "@gyre/core/error";
import { getJobByNumber } from "@gyre/core/job/index";
import { type RerunBody, RerunBodySchema } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { readWorkflow } from "@gyre/core/workflow/index";
import { type Context, Hono } from "hono";
import { allow, authorizeSlug, projectFor } from "./access.ts";
import { auditRequest, type Env, jsonBody, pathId, positiveInt } from "./context.ts";

const ACCEPTED = { message: "Accepted." };

/**
 * A rerun by the caller; one with SSH is an audit record (`workflow.job.ssh`, Gyre's own): its
 * sessions see the job's secrets.
 */
export async function rerunAudited(c: Context<Env>, workflowId: string, body: RerunBody) {
  if (body.enable_ssh && c.get("principal")?.token?.kind === "project")
    throw forbidden("A project token cannot rerun with SSH: sessions are for a person's own keys.");
  const rerun = await rerunWorkflow(c.get("gyre"), workflowId, body, c.get("user"));
  if (body.enable_ssh) {
    const { workflow } = await readWorkflow(c.get("gyre"), rerun.workflowId);
    await auditRequest(c, {
      action: "workflow.job.ssh",
      target: { id: rerun.workflowId, type: "workflow", name: workflow.name },
      scope: await scopeOf(c.get("gyre"), workflow.projectSlug),
      payload: { rerun_of: workflowId, jobs: body.jobs ?? [] },
    });
  }
  return rerun;
}

/** The workflow the path names, if the caller may act on its project (404 if they may not see it). */
async function workflowIdOf(c: Context<Env>): Promise<string> {
  const id = pathId(c, "id", "Workflow");
  const { workflow } = await readWorkflow(c.get("gyre"), id);
  await authorizeSlug(c, workflow.projectSlug, `Workflow ${id} not found.`);
  return id;
}

export function workflowActionRoutes() {
  const app = new Hono<Env>();

  app.post("/workflow/:id/approve/:approval", allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const id = await workflowIdOf(c);
    const approval = pathId(c, "approval", "Approval request");
    const job = await approveJob(gyre, id, approval, c.get("user").id);
    await auditRequest(c, {
      action: "workflow.job.approve",
      target: { id: job.id, type: "job", name: job.name },
      scope: await scopeOf(c.get("gyre"), job.projectSlug),
      payload: { workflow_id: id, project_slug: job.projectSlug },
    });
    return c.json(ACCEPTED, 202);
  });

  app.post("/workflow/:id/cancel", allow.project("write"), async (c) => {
    await cancelWorkflow(c.get("gyre"), await workflowIdOf(c), c.get("user").id);
    return c.json(ACCEPTED, 202);
  });

  app.post("/workflow/:id/rerun", allow.project("write"), async (c) => {
    const id = await workflowIdOf(c);
    const body = parseInput(RerunBodySchema, await jsonBody(c, undefined, { nullable: true }), "rerun body");
    const { workflowId } = await rerunAudited(c, id, body);
    return c.json({ workflow_id: workflowId }, 202);
  });

  app.post("/project/:vcs/:org/:repo/job/:number/cancel", allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    await cancelJob(gyre, job, c.get("user").id);
    return c.json(ACCEPTED, 202);
  });

  return app;
}
