/**
 * Deleting a build (the reference's clean-up of build records: `admin/delete-build`):
 *
 *   DELETE /api/gyre/projects/{vcs}/{org}/{repo}/jobs/{number}   (administrators: an operator's procedure)
 *     200 {"deleted": true, "id", "number", "workflow_id", "objects", "items"}
 *     404 no such job; 409 the job has not ended (queued, running, blocked, on hold) or a job
 *     of its workflow still waits for it.
 *
 * What goes is listed in core/src/job/delete.ts. `gyre build delete <url or slug/number>`
 * calls it; the URL forms the API and the web app answer are accepted there. A deletion that
 * fails part-way (some objects may be gone) is recorded too, with `success: false`.
 */
import { GyreError } from "@gyre/core/error";
import { deleteJob } from "@gyre/core/job/delete";
import { getProject } from "@gyre/core/project/index";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { aboutProject, auditRequest, type Env, positiveInt, slugOf } from "./context.ts";

export function buildRoutes() {
  const app = new Hono<Env>();

  app.delete("/projects/:vcs/:org/:repo/jobs/:number", allow.admin(), async (c) => {
    const project = await getProject(c.get("gyre"), slugOf(c));
    const number = positiveInt(c.req.param("number"), "job number");
    const about = { scope: aboutProject(project).scope };
    let deleted: Awaited<ReturnType<typeof deleteJob>>;
    try {
      deleted = await deleteJob(c.get("gyre"), project.slug, number);
    } catch (error) {
      if (!(error instanceof GyreError) || error.code !== "not_found")
        await auditRequest(c, {
          action: "workflow.job.delete",
          target: { id: `${project.slug}/${number}`, type: "job" },
          ...about,
          success: false,
          payload: {
            project_slug: project.slug,
            job_number: number,
            error: (error as Error).message.slice(0, 300),
          },
        });
      throw error;
    }
    await auditRequest(c, {
      action: "workflow.job.delete",
      target: { id: deleted.job.id, type: "job", name: deleted.job.name },
      ...about,
      payload: {
        project_slug: project.slug,
        job_number: number,
        workflow_id: deleted.job.workflowId,
        status: deleted.job.status,
        objects: deleted.objects,
      },
    });
    return c.json({
      deleted: true,
      id: deleted.job.id,
      number,
      workflow_id: deleted.job.workflowId,
      objects: deleted.objects,
      items: deleted.items,
    });
  });

  return app;
}
