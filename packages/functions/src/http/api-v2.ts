/** CircleCI API v2: paths, field names and status values from the published OpenAPI document. */
import { getUser, userJson } from "@gyre/core/auth/index";
import { queueClassFor } from "@gyre/core/dispatch/execution";
import { deleteEnvVar, getEnvVar, listEnvVars, setEnvVar } from "@gyre/core/envvar/index";
import { notFound } from "@gyre/core/error";
import { getJobByNumber } from "@gyre/core/job/index";
import { listNodes, nodeNames, waitingReason } from "@gyre/core/node/index";
import {
  getPipeline,
  getPipelineByNumber,
  IdempotencyKeySchema,
  listPipelines,
  listPipelinesOfProjects,
  MyPipelineListQuerySchema,
  OrgPipelineListQuerySchema,
  readPipelineConfig,
  TriggerBodySchema,
  triggerPipeline,
} from "@gyre/core/pipeline/index";
import {
  collaborationJson,
  jobDetailsJson,
  pipelineConfigJson,
  pipelineCreationJson,
  pipelineJson,
  workflowJobJson,
  workflowJson,
} from "@gyre/core/presentation/v2";
import { listCollaborations, listProjects, parseOrgSlug, projectJson } from "@gyre/core/project/index";
import { EnvVarBody, EnvVarName, PipelineListQuery } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { listWorkflows, readWorkflow } from "@gyre/core/workflow/index";
import { type Context, Hono } from "hono";
import { allow, authorizeSlug, principalOf, projectFor, visibleProjects } from "./access.ts";
import { auditEnvVar, type Env, jsonBody, parseBody, parseQuery, pathId, positiveInt } from "./context.ts";

const PROJECT = "/project/:vcs/:org/:repo";

export function baseUrl(url: string): string {
  return new URL(url).origin;
}

export function apiV2Routes() {
  const app = new Hono<Env>();
  app.get("/me", allow.user(), (c) => c.json(userJson(c.get("user"))));

  app.get("/me/collaborations", allow.user(), async (c) => {
    const gyre = c.get("gyre");
    const projects = await visibleProjects(c, await listProjects(gyre));
    return c.json((await listCollaborations(gyre, projects)).map(collaborationJson));
  });

  app.get("/user/:id", allow.user(), async (c) =>
    c.json(userJson(await getUser(c.get("gyre"), c.req.param("id")))),
  );

  /** The caller, as the lists of "my" pipelines match it. */
  const me = (c: Context<Env>) => ({ id: c.get("user").id, login: c.get("user").login });

  // listPipelines: an organization's pipelines (every project's, without `org-slug`), newest first.
  app.get("/pipeline", allow.user(), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, OrgPipelineListQuerySchema);
    const orgSlug = query["org-slug"] === undefined ? undefined : parseOrgSlug(query["org-slug"]);
    const projects = await visibleProjects(c, await listProjects(gyre, { orgSlug }));
    if (orgSlug && projects.length === 0) throw notFound(`Organization ${orgSlug} not found.`);
    const page = await listPipelinesOfProjects(
      gyre,
      projects.map((p) => p.slug),
      {
        list: orgSlug ?? "",
        triggeredBy: query.mine ? me(c) : undefined,
        pageToken: query["page-token"] || undefined,
      },
    );
    return c.json({ items: page.items.map(pipelineJson), next_page_token: page.nextPageToken });
  });

  app.get(PROJECT, allow.project("view"), async (c) => c.json(projectJson(await projectFor(c))));

  app.get(`${PROJECT}/pipeline`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, PipelineListQuery);
    const project = await projectFor(c);
    const page = await listPipelines(gyre, project.slug, {
      branch: query.branch,
      pageToken: query["page-token"] || undefined,
    });
    return c.json({ items: page.items.map(pipelineJson), next_page_token: page.nextPageToken });
  });

  app.get(`${PROJECT}/pipeline/mine`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, MyPipelineListQuerySchema);
    const project = await projectFor(c);
    const page = await listPipelines(gyre, project.slug, {
      triggeredBy: me(c),
      pageToken: query["page-token"] || undefined,
    });
    return c.json({ items: page.items.map(pipelineJson), next_page_token: page.nextPageToken });
  });

  app.get(`${PROJECT}/pipeline/:number`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const number = positiveInt(c.req.param("number"), "pipeline-number");
    const project = await projectFor(c);
    return c.json(pipelineJson(await getPipelineByNumber(gyre, project.slug, number)));
  });

  // Trigger by branch or tag: answered at once with the pending pipeline's id and number; its
  // config is read and compiled by the intake, like a push's.
  app.post(`${PROJECT}/pipeline`, allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const body = parseInput(TriggerBodySchema, await jsonBody(c), "pipeline trigger");
    const key = c.req.header("idempotency-key");
    const project = await projectFor(c);
    const pipeline = await triggerPipeline(gyre, project, {
      ...body,
      actor: c.get("user").login,
      actorId: c.get("user").id,
      idempotencyKey:
        key === undefined ? undefined : parseInput(IdempotencyKeySchema, key, "Idempotency-Key header"),
    });
    return c.json(pipelineCreationJson(pipeline), 201);
  });

  app.get(`${PROJECT}/envvar`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    return c.json({ items: await listEnvVars(gyre, project.slug), next_page_token: null });
  });

  app.post(`${PROJECT}/envvar`, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, EnvVarBody);
    const project = await projectFor(c);
    const stored = await setEnvVar(gyre, project.slug, body);
    await auditEnvVar(c, project, "project.env_var.create", body.name);
    return c.json(stored, 201);
  });

  const envVarName = (c: Context<Env>) =>
    parseInput(EnvVarName, c.req.param("name"), "environment variable name");

  app.get(`${PROJECT}/envvar/:name`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const name = envVarName(c);
    const project = await projectFor(c);
    return c.json(await getEnvVar(gyre, project.slug, name));
  });

  app.delete(`${PROJECT}/envvar/:name`, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const name = envVarName(c);
    const project = await projectFor(c);
    await deleteEnvVar(gyre, project.slug, name);
    await auditEnvVar(c, project, "project.env_var.delete", name);
    return c.json({ message: "Environment variable deleted." });
  });

  app.get(`${PROJECT}/job/:number`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    // Nothing waits silently: a queued job says why the fleet has not taken it, when it can tell.
    const waiting =
      job.status === "queued" && job.plan
        ? waitingReason(queueClassFor(gyre, job.plan.resourceClass), await listNodes(gyre))
        : undefined;
    // The builder nodes' names (host names: on AWS they tell internal addresses) go to
    // administrators only; everyone else sees which node by its id.
    const principal = await principalOf(c);
    const ranOn = Object.values(job.allocations).flatMap((a) => (a.nodeId ? [a.nodeId] : []));
    const names =
      principal.user.admin && principal.token?.kind !== "project" && ranOn.length > 0
        ? await nodeNames(gyre, ranOn)
        : new Map<string, string | undefined>();
    return c.json(jobDetailsJson(job, project, baseUrl(c.req.url), waiting, names));
  });

  /** The pipeline the path names, if the caller may see its project (404 as for an unknown id otherwise). */
  const pipelineOf = async (c: Context<Env>) => {
    const id = pathId(c, "id", "Pipeline");
    const pipeline = await getPipeline(c.get("gyre"), id);
    await authorizeSlug(c, pipeline.projectSlug, `Pipeline ${id} not found.`);
    return pipeline;
  };
  const workflowOf = async (c: Context<Env>) => {
    const id = pathId(c, "id", "Workflow");
    const found = await readWorkflow(c.get("gyre"), id);
    await authorizeSlug(c, found.workflow.projectSlug, `Workflow ${id} not found.`);
    return found;
  };

  app.get("/pipeline/:id", allow.project("view"), async (c) => c.json(pipelineJson(await pipelineOf(c))));

  app.get("/pipeline/:id/config", allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const pipeline = await pipelineOf(c);
    return c.json(pipelineConfigJson(await readPipelineConfig(gyre, pipeline.id)));
  });

  app.get("/pipeline/:id/workflow", allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const pipeline = await pipelineOf(c);
    const workflows = await listWorkflows(gyre, pipeline.id);
    return c.json({ items: workflows.map(workflowJson), next_page_token: null });
  });

  app.get("/workflow/:id", allow.project("view"), async (c) => {
    return c.json(workflowJson((await workflowOf(c)).workflow));
  });

  const workflowJobs = async (c: Context<Env>) => {
    const { jobs } = await workflowOf(c);
    const ids = new Map(jobs.map((j) => [j.name, j.id]));
    jobs.sort((a, b) => a.number - b.number);
    return c.json({ items: jobs.map((j) => workflowJobJson(j, ids)), next_page_token: null });
  };
  app.get("/workflow/:id/job", allow.project("view"), workflowJobs);
  // The 2019 preview's path (circleci-api-v2-preview-2019.openapi.yml), answered the same way.
  app.get("/workflow/:id/jobs", allow.project("view"), workflowJobs);

  return app;
}
