/** CircleCI API v2: paths, field names and status values from the published OpenAPI document. */
import { userJson } from "@gyre/core/auth/index";
import { deleteEnvVar, getEnvVar, listEnvVars, setEnvVar } from "@gyre/core/envvar/index";
import { badRequest } from "@gyre/core/error";
import { getJobByNumber, jobDetailsJson, workflowJobJson } from "@gyre/core/job/index";
import {
  createPipeline,
  getPipeline,
  listPipelines,
  newIntakeMessage,
  pipelineJson,
} from "@gyre/core/pipeline/index";
import { getProject, projectJson } from "@gyre/core/project/index";
import { getWorkflow, listWorkflows, readWorkflow, workflowJson } from "@gyre/core/workflow/index";
import { Hono } from "hono";
import { type Env, jsonBody, positiveInt, requireUser, slugOf } from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

export function baseUrl(url: string): string {
  return new URL(url).origin;
}

export function parameters(value: unknown): Record<string, string | number | boolean> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw badRequest("parameters must be an object.");
  for (const [k, v] of Object.entries(value)) {
    if (!["string", "number", "boolean"].includes(typeof v))
      throw badRequest(`parameters.${k} must be a string, number or boolean.`);
  }
  return value as Record<string, string | number | boolean>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw badRequest(`${key} must be a non-empty string.`);
  return v;
}

export function apiV2Routes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get("/me", (c) => c.json(userJson(c.get("user"))));

  app.get(PROJECT, async (c) => c.json(projectJson(await getProject(c.get("gyre"), slugOf(c)))));

  app.get(`${PROJECT}/pipeline`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const page = await listPipelines(gyre, project.slug, {
      branch: c.req.query("branch"),
      pageToken: c.req.query("page-token"),
    });
    return c.json({ items: page.items.map(pipelineJson), next_page_token: page.nextPageToken });
  });

  // Trigger by branch or tag. The pipeline is created before answering, so the answer carries its number.
  app.post(`${PROJECT}/pipeline`, async (c) => {
    const gyre = c.get("gyre");
    const body = await jsonBody(c);
    const project = await getProject(gyre, slugOf(c));
    const tag = optionalString(body, "tag");
    const branch = optionalString(body, "branch") ?? (tag ? undefined : project.defaultBranch);
    const message = newIntakeMessage({
      projectSlug: project.slug,
      trigger: { type: "api", receivedAt: new Date(gyre.now()).toISOString(), actor: c.get("user").login },
      ref: { branch, tag },
      parameters: parameters(body.parameters),
    });
    const pipeline = await createPipeline(gyre, message, { project, fresh: true });
    return c.json(
      { id: pipeline.id, state: pipeline.state, number: pipeline.number, created_at: pipeline.createdAt },
      201,
    );
  });

  app.get(`${PROJECT}/envvar`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    return c.json({ items: await listEnvVars(gyre, project.slug), next_page_token: null });
  });

  app.post(`${PROJECT}/envvar`, async (c) => {
    const gyre = c.get("gyre");
    const body = await jsonBody(c);
    const project = await getProject(gyre, slugOf(c));
    return c.json(await setEnvVar(gyre, project.slug, { name: body.name, value: body.value }), 201);
  });

  app.get(`${PROJECT}/envvar/:name`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    return c.json(await getEnvVar(gyre, project.slug, c.req.param("name")));
  });

  app.delete(`${PROJECT}/envvar/:name`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    await deleteEnvVar(gyre, project.slug, c.req.param("name"));
    return c.json({ message: "Environment variable deleted." });
  });

  app.get(`${PROJECT}/job/:number`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    return c.json(jobDetailsJson(job, project, baseUrl(c.req.url)));
  });

  app.get("/pipeline/:id", async (c) =>
    c.json(pipelineJson(await getPipeline(c.get("gyre"), c.req.param("id")))),
  );

  app.get("/pipeline/:id/workflow", async (c) => {
    const gyre = c.get("gyre");
    const pipeline = await getPipeline(gyre, c.req.param("id"));
    const workflows = await listWorkflows(gyre, pipeline.id);
    return c.json({ items: workflows.map(workflowJson), next_page_token: null });
  });

  app.get("/workflow/:id", async (c) =>
    c.json(workflowJson(await getWorkflow(c.get("gyre"), c.req.param("id")))),
  );

  app.get("/workflow/:id/job", async (c) => {
    const { jobs } = await readWorkflow(c.get("gyre"), c.req.param("id"));
    const ids = new Map(jobs.map((j) => [j.name, j.id]));
    jobs.sort((a, b) => a.number - b.number);
    return c.json({ items: jobs.map((j) => workflowJobJson(j, ids)), next_page_token: null });
  });

  return app;
}
