/** CircleCI API v2: paths, field names and status values from the published OpenAPI document. */
import { userJson } from "@gyre/core/auth/index";
import { queueClassFor } from "@gyre/core/dispatch/execution";
import { deleteEnvVar, getEnvVar, listEnvVars, setEnvVar } from "@gyre/core/envvar/index";
import { getJobByNumber } from "@gyre/core/job/index";
import { listNodes, waitingReason } from "@gyre/core/node/index";
import {
  getPipeline,
  IdempotencyKeySchema,
  listPipelines,
  TriggerBodySchema,
  triggerPipeline,
} from "@gyre/core/pipeline/index";
import {
  jobDetailsJson,
  pipelineCreationJson,
  pipelineJson,
  workflowJobJson,
  workflowJson,
} from "@gyre/core/presentation/v2";
import { getProject, projectJson } from "@gyre/core/project/index";
import { EnvVarBody, EnvVarName, PipelineListQuery } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { getWorkflow, listWorkflows, readWorkflow } from "@gyre/core/workflow/index";
import { type Context, Hono } from "hono";
import {
  type Env,
  jsonBody,
  parseBody,
  parseQuery,
  pathId,
  positiveInt,
  requireUser,
  slugOf,
} from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

export function baseUrl(url: string): string {
  return new URL(url).origin;
}

export function apiV2Routes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get("/me", (c) => c.json(userJson(c.get("user"))));

  app.get(PROJECT, async (c) => c.json(projectJson(await getProject(c.get("gyre"), slugOf(c)))));

  app.get(`${PROJECT}/pipeline`, async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, PipelineListQuery);
    const project = await getProject(gyre, slugOf(c));
    const page = await listPipelines(gyre, project.slug, {
      branch: query.branch,
      pageToken: query["page-token"] || undefined,
    });
    return c.json({ items: page.items.map(pipelineJson), next_page_token: page.nextPageToken });
  });

  // Trigger by branch or tag: answered at once with the pending pipeline's id and number; its
  // config is read and compiled by the intake, like a push's.
  app.post(`${PROJECT}/pipeline`, async (c) => {
    const gyre = c.get("gyre");
    const body = parseInput(TriggerBodySchema, await jsonBody(c), "pipeline trigger");
    const key = c.req.header("idempotency-key");
    const project = await getProject(gyre, slugOf(c));
    const pipeline = await triggerPipeline(gyre, project, {
      ...body,
      actor: c.get("user").login,
      idempotencyKey:
        key === undefined ? undefined : parseInput(IdempotencyKeySchema, key, "Idempotency-Key header"),
    });
    return c.json(pipelineCreationJson(pipeline), 201);
  });

  app.get(`${PROJECT}/envvar`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    return c.json({ items: await listEnvVars(gyre, project.slug), next_page_token: null });
  });

  app.post(`${PROJECT}/envvar`, async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, EnvVarBody);
    const project = await getProject(gyre, slugOf(c));
    return c.json(await setEnvVar(gyre, project.slug, body), 201);
  });

  const envVarName = (c: Context<Env>) =>
    parseInput(EnvVarName, c.req.param("name"), "environment variable name");

  app.get(`${PROJECT}/envvar/:name`, async (c) => {
    const gyre = c.get("gyre");
    const name = envVarName(c);
    const project = await getProject(gyre, slugOf(c));
    return c.json(await getEnvVar(gyre, project.slug, name));
  });

  app.delete(`${PROJECT}/envvar/:name`, async (c) => {
    const gyre = c.get("gyre");
    const name = envVarName(c);
    const project = await getProject(gyre, slugOf(c));
    await deleteEnvVar(gyre, project.slug, name);
    return c.json({ message: "Environment variable deleted." });
  });

  app.get(`${PROJECT}/job/:number`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    // Nothing waits silently: a queued job says why the fleet has not taken it, when it can tell.
    const waiting =
      job.status === "queued" && job.plan
        ? waitingReason(queueClassFor(gyre, job.plan.resourceClass), await listNodes(gyre))
        : undefined;
    return c.json(jobDetailsJson(job, project, baseUrl(c.req.url), waiting));
  });

  app.get("/pipeline/:id", async (c) =>
    c.json(pipelineJson(await getPipeline(c.get("gyre"), pathId(c, "id", "Pipeline")))),
  );

  app.get("/pipeline/:id/workflow", async (c) => {
    const gyre = c.get("gyre");
    const pipeline = await getPipeline(gyre, pathId(c, "id", "Pipeline"));
    const workflows = await listWorkflows(gyre, pipeline.id);
    return c.json({ items: workflows.map(workflowJson), next_page_token: null });
  });

  app.get("/workflow/:id", async (c) =>
    c.json(workflowJson(await getWorkflow(c.get("gyre"), pathId(c, "id", "Workflow")))),
  );

  app.get("/workflow/:id/job", async (c) => {
    const { jobs } = await readWorkflow(c.get("gyre"), pathId(c, "id", "Workflow"));
    const ids = new Map(jobs.map((j) => [j.name, j.id]));
    jobs.sort((a, b) => a.number - b.number);
    return c.json({ items: jobs.map((j) => workflowJobJson(j, ids)), next_page_token: null });
  });

  return app;
}
