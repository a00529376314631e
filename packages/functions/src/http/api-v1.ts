/**
 * The CircleCI API v1.1 endpoints tools still call, with v1.1's field names and values
 * (shapes in `@gyre/core/presentation/v1`). A v1.1 build is a Gyre job.
 *
 *   GET    /me, /projects, /recent-builds?limit&offset&shallow
 *   GET    /project/{vcs}/{org}/{repo}[/tree/{branch}]?limit&offset&filter&shallow   recent builds
 *   POST   /project/{vcs}/{org}/{repo}[/tree/{branch}]   trigger (JSON or form body): the first build
 *   POST   /project/{vcs}/{org}/{repo}/build             trigger by project: {status: 200, body}
 *   GET    /project/.../{build_num}                      the build with its steps and output URLs
 *   GET    /project/.../{build_num}/output/{step}/{index}  an action's output (token or signed URL)
 *   POST   /project/.../{build_num}/cancel|retry|ssh, GET .../{build_num}/artifacts|tests
 *   GET|POST /project/.../envvar, GET|DELETE .../envvar/{name}
 *   GET|POST /project/.../checkout-key, GET|DELETE .../checkout-key/{fingerprint}
 *   GET    /project/.../latest/artifacts?branch&filter    the artifacts of the newest build
 *   DELETE /project/.../build-cache                       delete the project's caches
 *   POST   /project/.../follow, /project/.../unfollow
 *
 * Every route but the output one wants a user's token. An output URL a build hands out is signed
 * (secret/signed-link.ts) and works without a token for 15 minutes, as CircleCI's presigned
 * URLs do; without its signature it wants a token. Unknown paths fall through to the app's 404.
 */
import {
  forgetCredential,
  hashToken,
  issueToken,
  listProjectTokens,
  PROJECT_TOKEN_SCOPES,
  revokeToken,
  type TokenInfo,
} from "@gyre/core/auth/index";
import type { Gyre } from "@gyre/core/context";
import { cancelJob } from "@gyre/core/dispatch/actions";
import { deleteEnvVar, getEnvVar, listEnvVars, setEnvVar } from "@gyre/core/envvar/index";
import { badRequest, forbidden, notFound } from "@gyre/core/error";
import { findJob, getJob, getJobByNumber, type Job } from "@gyre/core/job/index";
import { readStepOutput, readSteps } from "@gyre/core/output/index";
import {
  findPipeline,
  firstJobOfPipeline,
  IdempotencyKeySchema,
  listJobsOfProjects,
  listProjectJobs,
  type Pipeline,
  previousJobs,
  triggerPipeline,
} from "@gyre/core/pipeline/index";
import {
  actionOutputJson,
  artifactsJson,
  type BuildContext,
  buildJson,
  buildSummaryJson,
  cacheClearedJson,
  checkoutKeyJson,
  envVarJson,
  FILTER_STATUSES,
  followedProjectJson,
  followJson,
  meJson,
  pipelineBuildJson,
  testsJson,
} from "@gyre/core/presentation/v1";
import { followProject, listFollowedProjects, unfollowProject } from "@gyre/core/project/follow";
import { parseSlug, type StoredProject } from "@gyre/core/project/index";
import {
  EnvVarBody,
  EnvVarName,
  Fingerprint,
  PipelineParameters,
  RefName,
  Revision,
  StepOutputPath,
} from "@gyre/core/protocol/api";
import { parseInput, z } from "@gyre/core/protocol/schema";
import { expiredMessage, jobExpiry } from "@gyre/core/retention/index";
import { linkSigner, verifyLink } from "@gyre/core/secret/signed-link";
import { createCheckoutKey, deleteCheckoutKey, getCheckoutKey, listCheckoutKeys } from "@gyre/core/ssh/index";
import { deleteCaches, listArtifacts, listTestResults } from "@gyre/core/storage/index";
import { readWorkflow } from "@gyre/core/workflow/index";
import { type Context, Hono } from "hono";
import { allow, authorizeSlug, principalOf, projectFor, visibleProjects } from "./access.ts";
import { baseUrl } from "./api-v2.ts";
import {
  aboutProject,
  auditEnvVar,
  auditRequest,
  type Env,
  parseBody,
  parseQuery,
  positiveInt,
  rawBody,
  slugOf,
} from "./context.ts";
import { rerunAudited } from "./workflow-actions.ts";

const PROJECT = "/project/:vcs/:org/:repo";
const BUILD = `${PROJECT}/:num{[0-9]+}`;

// ---------------------------------------------------------------------------------------------
// Inputs

/** Offsets past this are refused: each list is read from its newest build on. */
export const MAX_OFFSET = 10_000;

const wholeNumber = (min: number, max: number, limit: string) =>
  z
    .string()
    .regex(/^[0-9]{1,9}$/, "a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `at least ${min}`).max(max, `at most ${max}${limit}`));

const Shallow = z.enum(["true", "false"], { error: "expected true or false" }).optional();

/** `GET /recent-builds`. */
const RecentBuildsQuery = z.object({
  limit: wholeNumber(1, 100, " (CircleCI's limit)").optional(),
  offset: wholeNumber(0, MAX_OFFSET, "").optional(),
  shallow: Shallow,
});

/** `GET /project/{slug}[/tree/{branch}]`. */
const ProjectBuildsQuery = RecentBuildsQuery.extend({
  filter: z
    .enum(Object.keys(FILTER_STATUSES) as [keyof typeof FILTER_STATUSES], {
      error: "expected completed, successful, failed or running",
    })
    .optional(),
});

/**
 * A v1.1 trigger's body. `build_parameters` become the pipeline's parameters (the config must
 * declare them, as for an API v2 trigger); `parallel` is accepted and ignored, as CircleCI
 * ignores it for 2.0 configs.
 */
const TriggerBody = z.object({
  branch: RefName.optional(),
  tag: RefName.optional(),
  revision: Revision.optional(),
  parallel: z
    .union(
      [
        z.number().int().min(1).max(1000),
        z.string().regex(/^[1-9][0-9]{0,3}$/, "expected a positive integer"),
      ],
      {
        error: "expected a positive integer",
      },
    )
    .optional(),
  build_parameters: PipelineParameters.optional(),
});
type TriggerInput = z.output<typeof TriggerBody>;

/** `GET /project/{slug}/latest/artifacts`: the newest build on `branch` (any branch without). */
const LatestArtifactsQuery = z.object({
  branch: RefName.optional(),
  filter: ProjectBuildsQuery.shape.filter,
});

const CheckoutKeyBody = z.object({
  type: z.enum(["deploy-key", "github-user-key", "user-key"], {
    error: 'expected "deploy-key" or "github-user-key"',
  }),
});

/** The body of a trigger: JSON, or a form (`build_parameters[NAME]=value`), as curl sends either. */
async function triggerInput(c: Context<Env>): Promise<TriggerInput> {
  const raw = await rawBody(c);
  const type = c.req.header("content-type") ?? "";
  let value: unknown = {};
  if (/^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(type)) {
    let form: FormData;
    try {
      form = await new Request("http://form", {
        method: "POST",
        headers: { "content-type": type },
        body: new Uint8Array(raw),
      }).formData();
    } catch {
      throw badRequest("Malformed form body.");
    }
    // Own entries only (`Object.fromEntries`): a field named `__proto__` is a field, nothing more.
    const fields: [string, string][] = [];
    const parameters: [string, string][] = [];
    for (const [key, entry] of form.entries()) {
      if (typeof entry !== "string")
        throw badRequest(`Invalid trigger: ${key}: expected a value, not a file`);
      const parameter = /^build_parameters\[(.*)\]$/.exec(key);
      if (parameter) parameters.push([parameter[1]!, entry]);
      else fields.push([key, entry]);
    }
    value = {
      ...Object.fromEntries(fields),
      ...(parameters.length > 0 ? { build_parameters: Object.fromEntries(parameters) } : {}),
    };
  } else if (raw.byteLength > 0) {
    try {
      value = JSON.parse(Buffer.from(raw).toString("utf8"));
    } catch {
      throw badRequest("Malformed JSON body.");
    }
    if (value === null) value = {};
    if (typeof value !== "object" || Array.isArray(value))
      throw badRequest("The body must be a JSON object.");
  }
  const body = parseInput(TriggerBody, value, "trigger");
  if (body.revision !== undefined)
    throw badRequest(
      "revision is not supported by this Gyre installation yet: a trigger builds the head of its branch (or its tag). Leave revision out.",
    );
  if (body.build_parameters && Object.hasOwn(body.build_parameters, "CIRCLE_JOB"))
    throw badRequest(
      "build_parameters.CIRCLE_JOB (run one job of a 2.0 config) is not supported: a trigger runs the config's workflows. Declare pipeline parameters and pass them in build_parameters instead.",
    );
  return body;
}

// ---------------------------------------------------------------------------------------------
// What a build's summary shows beyond the job

const unique = <T>(values: T[]) => [...new Set(values)];

/**
 * What the summaries of a list of jobs show beyond each job: their pipelines (commit, trigger)
 * and previous builds always; unless `shallow`, their workflows (the jobs they require, the
 * build a rerun's job reruns). `complete`: the list has every job of its projects between its
 * newest and oldest (no status filter), so most previous builds are in it.
 */
async function contextsOf(
  gyre: Gyre,
  jobs: Job[],
  projects: Map<string, StoredProject>,
  base: string,
  options: { shallow: boolean; complete: boolean },
): Promise<BuildContext[]> {
  const [pipelines, previous, workflows] = await Promise.all([
    Promise.all(
      unique(jobs.map((j) => j.pipelineId)).map(async (id) => [id, await findPipeline(gyre, id)] as const),
    ).then((entries) => new Map<string, Pipeline | undefined>(entries)),
    previousJobs(gyre, jobs, { complete: options.complete }),
    options.shallow ? undefined : workflowContexts(gyre, jobs),
  ]);
  return jobs.map((job) => ({
    project: projects.get(job.projectSlug)!,
    baseUrl: base,
    pipeline: pipelines.get(job.pipelineId),
    previous: previous.get(job.id) ?? null,
    ...(workflows ? { deep: workflows.get(job.id)! } : {}),
  }));
}

const summaries = async (...args: Parameters<typeof contextsOf>) => {
  const contexts = await contextsOf(...args);
  return args[1].map((job, i) => buildSummaryJson(job, contexts[i]!));
};

/** The context of one build of `project`, as `GET .../{build_num}` and the actions show it. */
const contextOf = async (gyre: Gyre, job: Job, project: StoredProject, base: string) =>
  (
    await contextsOf(gyre, [job], new Map([[project.slug, project]]), base, {
      shallow: false,
      complete: false,
    })
  )[0]!;

/** Each job's upstream job ids and, for a rerun's job, the number of the build it reruns. */
async function workflowContexts(
  gyre: Gyre,
  jobs: Job[],
): Promise<Map<string, NonNullable<BuildContext["deep"]>>> {
  const workflows = new Map(
    await Promise.all(
      unique(jobs.map((j) => j.workflowId)).map(
        async (id) => [id, await readWorkflow(gyre, id).catch(() => undefined)] as const,
      ),
    ),
  );
  const contexts = new Map<string, NonNullable<BuildContext["deep"]>>();
  await Promise.all(
    jobs.map(async (job) => {
      const read = workflows.get(job.workflowId);
      const ids = new Map(read?.jobs.map((j) => [j.name, j.id]));
      const rerunOf = read?.workflow.rerunOf;
      const original = rerunOf ? await findJob(gyre, rerunOf, job.name) : undefined;
      contexts.set(job.id, {
        upstreamJobIds: job.requires.map((r) => ids.get(r)).filter((id): id is string => id !== undefined),
        retryOf: original && original.number !== job.number ? original.number : null,
      });
    }),
  );
  return contexts;
}

/** What a signed output URL opens: one step's output of one node of one build. */
const outputScope = (slug: string, build: number, step: number, index: number) =>
  `output:${slug}/${build}/${step}/${index}`;

const TRIGGER_WAIT_MS = 20_000;
/** How long a created pipeline's workflows may take to be listed (the index lags its writes). */
const LISTING_GRACE_MS = 2_000;

/**
 * The first build of a pipeline just triggered: a v1.1 trigger answers with a build, so it waits
 * (at most 20 s, under API Gateway's 30) for the intake to read the config and write the jobs.
 */
async function firstBuild(gyre: Gyre, pipelineId: string): Promise<{ pipeline?: Pipeline; job?: Job }> {
  const start = Date.now();
  let createdAt: number | undefined;
  for (;;) {
    const pipeline = await findPipeline(gyre, pipelineId);
    if (pipeline && pipeline.state !== "pending") {
      if (pipeline.state === "errored") return { pipeline };
      const job = await firstJobOfPipeline(gyre, pipelineId);
      if (job) return { pipeline, job };
      createdAt ??= Date.now();
      if (Date.now() - createdAt > LISTING_GRACE_MS) return { pipeline };
    }
    if (Date.now() - start > TRIGGER_WAIT_MS) return { pipeline };
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Routes

export function apiV1Routes() {
  const app = new Hono<Env>();
  const projectOf = (c: Context<Env>) => projectFor(c);
  const buildOf = async (c: Context<Env>) => {
    const project = await projectOf(c);
    const job = await getJobByNumber(
      c.get("gyre"),
      project.slug,
      positiveInt(c.req.param("num"), "build_num"),
    );
    return { project, job };
  };

  app.get("/me", allow.user(), async (c) =>
    c.json(
      meJson(
        c.get("user"),
        await visibleProjects(c, await listFollowedProjects(c.get("gyre"), c.get("user").id)),
      ),
    ),
  );

  app.get("/projects", allow.user(), async (c) => {
    const gyre = c.get("gyre");
    const followed = await visibleProjects(c, await listFollowedProjects(gyre, c.get("user").id));
    const recent = await Promise.all(
      followed.map((p) => listProjectJobs(gyre, p.slug, { limit: 100, offset: 0 })),
    );
    return c.json(followed.map((p, i) => followedProjectJson(p, recent[i]!)));
  });

  app.get("/recent-builds", allow.user(), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, RecentBuildsQuery);
    const followed = await visibleProjects(c, await listFollowedProjects(gyre, c.get("user").id));
    const jobs = await listJobsOfProjects(
      gyre,
      followed.map((p) => p.slug),
      { limit: query.limit ?? 30, offset: query.offset ?? 0 },
    );
    const projects = new Map(followed.map((p) => [p.slug, p]));
    return c.json(
      await summaries(gyre, jobs, projects, baseUrl(c.req.url), {
        shallow: query.shallow === "true",
        complete: true,
      }),
    );
  });

  const recentBuilds = async (c: Context<Env>, branch: string | undefined) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, ProjectBuildsQuery);
    const project = await projectOf(c);
    const jobs = await listProjectJobs(gyre, project.slug, {
      branch,
      ...(query.filter ? { statuses: FILTER_STATUSES[query.filter] } : {}),
      limit: query.limit ?? 30,
      offset: query.offset ?? 0,
    });
    return c.json(
      await summaries(gyre, jobs, new Map([[project.slug, project]]), baseUrl(c.req.url), {
        shallow: query.shallow === "true",
        complete: query.filter === undefined,
      }),
    );
  };

  const branchOf = (c: Context<Env>) => parseInput(RefName, c.req.param("branch"), "branch");
  // A client's retry with the same `Idempotency-Key` makes one pipeline, as with API v2.
  const idempotencyKeyOf = (c: Context<Env>) => {
    const key = c.req.header("idempotency-key");
    return key === undefined ? undefined : parseInput(IdempotencyKeySchema, key, "Idempotency-Key header");
  };

  app.get(PROJECT, allow.project("view"), (c) => recentBuilds(c, undefined));
  app.get(`${PROJECT}/tree/:branch{.+}`, allow.project("view"), (c) => recentBuilds(c, branchOf(c)));

  // A trigger answers with the pipeline's first build once the intake has written it.
  const trigger = async (c: Context<Env>, branch: string | undefined) => {
    const gyre = c.get("gyre");
    const body = await triggerInput(c);
    // The path's branch, or (`POST /project/{slug}`) the body's; neither: the default branch.
    const ref = branch ?? body.branch;
    if (ref !== undefined && body.tag !== undefined)
      throw badRequest("Invalid trigger: give a branch or a tag, not both.");
    const idempotencyKey = idempotencyKeyOf(c);
    const project = await projectOf(c);
    const user = c.get("user");
    const pipeline = await triggerPipeline(gyre, project, {
      branch: ref,
      tag: body.tag,
      ...(body.build_parameters ? { parameters: body.build_parameters } : {}),
      actor: user.login,
      actorId: user.id,
      idempotencyKey,
    });
    const base = baseUrl(c.req.url);
    const first = await firstBuild(gyre, pipeline.id);
    if (first.job)
      return c.json(buildSummaryJson(first.job, await contextOf(gyre, first.job, project, base)), 201);
    return c.json(pipelineBuildJson(first.pipeline ?? pipeline, project, base), 201);
  };

  app.post(PROJECT, allow.project("write"), (c) => trigger(c, undefined));
  app.post(`${PROJECT}/tree/:branch{.+}`, allow.project("write"), (c) => trigger(c, branchOf(c)));

  // CircleCI's "trigger a new build by project": branch or tag, answered at once.
  app.post(`${PROJECT}/build`, allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const body = await triggerInput(c);
    if (body.branch !== undefined && body.tag !== undefined)
      throw badRequest("Invalid trigger: give a branch or a tag, not both.");
    const idempotencyKey = idempotencyKeyOf(c);
    const project = await projectOf(c);
    const user = c.get("user");
    await triggerPipeline(gyre, project, {
      branch: body.branch,
      tag: body.tag,
      ...(body.build_parameters ? { parameters: body.build_parameters } : {}),
      actor: user.login,
      actorId: user.id,
      idempotencyKey,
    });
    return c.json({ status: 200, body: "Build created" });
  });

  app.get(`${PROJECT}/envvar`, allow.project("view"), async (c) => {
    const project = await projectOf(c);
    return c.json((await listEnvVars(c.get("gyre"), project.slug)).map(envVarJson));
  });

  app.post(`${PROJECT}/envvar`, allow.project("admin"), async (c) => {
    const body = await parseBody(c, EnvVarBody);
    const project = await projectOf(c);
    const stored = await setEnvVar(c.get("gyre"), project.slug, body);
    await auditEnvVar(c, project, "project.env_var.create", body.name);
    return c.json(envVarJson(stored), 201);
  });

  const envVarName = (c: Context<Env>) =>
    parseInput(EnvVarName, c.req.param("name"), "environment variable name");

  app.get(`${PROJECT}/envvar/:name`, allow.project("view"), async (c) => {
    const name = envVarName(c);
    const project = await projectOf(c);
    return c.json(envVarJson(await getEnvVar(c.get("gyre"), project.slug, name)));
  });

  app.delete(`${PROJECT}/envvar/:name`, allow.project("admin"), async (c) => {
    const name = envVarName(c);
    const project = await projectOf(c);
    await deleteEnvVar(c.get("gyre"), project.slug, name);
    await auditEnvVar(c, project, "project.env_var.delete", name);
    return c.json({ message: "ok" });
  });

  app.get(`${PROJECT}/checkout-key`, allow.project("view"), async (c) => {
    const project = await projectOf(c);
    return c.json((await listCheckoutKeys(c.get("gyre"), project.slug)).map(checkoutKeyJson));
  });

  app.post(`${PROJECT}/checkout-key`, allow.project("admin"), async (c) => {
    const body = await parseBody(c, CheckoutKeyBody);
    const project = await projectOf(c);
    const type = body.type === "deploy-key" ? "deploy-key" : "user-key";
    return c.json(checkoutKeyJson(await createCheckoutKey(c.get("gyre"), project.slug, type)), 201);
  });

  const fingerprintOf = (c: Context<Env>) =>
    parseInput(Fingerprint, c.req.param("fingerprint"), "fingerprint");

  app.get(`${PROJECT}/checkout-key/:fingerprint`, allow.project("view"), async (c) => {
    const fingerprint = fingerprintOf(c);
    const project = await projectOf(c);
    return c.json(checkoutKeyJson(await getCheckoutKey(c.get("gyre"), project.slug, fingerprint)));
  });

  app.delete(`${PROJECT}/checkout-key/:fingerprint`, allow.project("admin"), async (c) => {
    const fingerprint = fingerprintOf(c);
    const project = await projectOf(c);
    await deleteCheckoutKey(c.get("gyre"), project.slug, fingerprint);
    return c.json({ message: "ok" });
  });

  // Project API tokens (CircleCI's v1.1): scope `status`, `view-builds` or `all`, for this project only.
  const ProjectTokenBody = z
    .object({ label: z.string().min(1).max(100), scope: z.enum(PROJECT_TOKEN_SCOPES) })
    .strict();
  const projectTokenJson = (t: TokenInfo) => ({
    id: t.id,
    label: t.label,
    scope: t.scope,
    created_by: t.userId,
    time: t.createdAt ?? null,
    last_used_at: t.lastUsedAt ?? null,
  });
  const aboutToken = (project: StoredProject, t: TokenInfo) => ({
    ...aboutProject(project),
    payload: { token_id: t.id, label: t.label, scope: t.scope },
  });

  app.get(`${PROJECT}/token`, allow.project("admin"), async (c) => {
    const project = await projectOf(c);
    return c.json((await listProjectTokens(c.get("gyre"), project.slug)).map(projectTokenJson));
  });

  app.post(`${PROJECT}/token`, allow.project("admin"), async (c) => {
    const body = await parseBody(c, ProjectTokenBody);
    const project = await projectOf(c);
    const { token, info } = await issueToken(c.get("gyre"), c.get("user").id, body.label, {
      project: { slug: project.slug, scope: body.scope },
    });
    await auditRequest(c, { action: "project.token.create", ...aboutToken(project, info) });
    return c.json({ ...projectTokenJson(info), token }, 201);
  });

  // By its id, or by the token itself (what CircleCI's path names).
  app.delete(`${PROJECT}/token/:token`, allow.project("admin"), async (c) => {
    const project = await projectOf(c);
    const given = c.req.param("token");
    const tokens = await listProjectTokens(c.get("gyre"), project.slug);
    const hash = hashToken(given);
    const match = tokens.find((t) => t.id === given || t.hash === hash);
    if (!match) throw notFound("No such token on this project.");
    const revoked = await revokeToken(c.get("gyre"), tokens, match.id);
    forgetCredential("token", revoked.hash);
    await auditRequest(c, { action: "project.token.delete", ...aboutToken(project, revoked) });
    return c.json({ message: "ok" });
  });

  // A person follows (their token or session), as unfollow wants: a project token is no one.
  app.post(`${PROJECT}/follow`, allow.project("view"), async (c) => {
    const project = await projectOf(c);
    const principal = await principalOf(c);
    if (principal.token && principal.token.kind !== "personal")
      throw forbidden("Only a person's token or session may follow a project.");
    await followProject(c.get("gyre"), c.get("user").id, project.slug);
    return c.json(followJson(true));
  });

  app.post(`${PROJECT}/unfollow`, allow.user(), async (c) => {
    await unfollowProject(c.get("gyre"), c.get("user").id, slugOf(c));
    return c.json(followJson(false));
  });

  app.get(BUILD, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const { project, job } = await buildOf(c);
    const nodes = Object.keys(job.allocations)
      .map(Number)
      .sort((a, b) => a - b);
    const [allocations, sign, context] = await Promise.all([
      Promise.all(
        nodes.map(async (node) => ({
          node,
          steps: await readSteps(gyre, { jobId: job.id, attempt: job.attempt, index: node }),
        })),
      ),
      linkSigner(gyre, "output-url"),
      contextOf(gyre, job, project, baseUrl(c.req.url)),
    ]);
    const base = `${baseUrl(c.req.url)}/api/v1.1/project/${project.slug}/${job.number}/output`;
    const outputUrl = (step: number, node: number) => {
      const { expires, signature } = sign(outputScope(project.slug, job.number, step, node));
      return `${base}/${step}/${node}?expires=${expires}&signature=${signature}`;
    };
    return c.json(buildJson(job, context, allocations, outputUrl));
  });

  // Opened with a token, or by the signed URL a build handed out (no token, 15 minutes).
  app.get(
    `${BUILD}/output/:step/:index`,
    allow.anonymous("a signed link, or a token checked here for view permission"),
    async (c) => {
      const gyre = c.get("gyre");
      const { slug } = parseSlug(slugOf(c));
      const number = positiveInt(c.req.param("num"), "build_num");
      const { step, index } = parseInput(StepOutputPath, c.req.param(), "path");
      const expires = c.req.query("expires");
      const signature = c.req.query("signature");
      if (expires !== undefined || signature !== undefined)
        await verifyLink(gyre, "output-url", outputScope(slug, number, step, index), { expires, signature });
      else {
        await principalOf(c);
        c.set("projectLevel", "view");
        await authorizeSlug(c, slug);
      }
      const job = await getJobByNumber(gyre, slug, number);
      if (!Object.hasOwn(job.allocations, String(index)))
        throw notFound(`Build ${number} has no parallel run ${index}.`);
      const alloc = { jobId: job.id, attempt: job.attempt, index };
      const expiry = await jobExpiry(gyre, job, "output");
      if (expiry.expired) throw notFound(expiredMessage("output", job, "output", expiry.days));
      if (!(await readSteps(gyre, alloc)).some((s) => s.index === step))
        throw notFound(`Build ${number} has no step ${step}${index > 0 ? ` on parallel run ${index}` : ""}.`);
      const message = await readStepOutput(gyre, alloc, step);
      return c.json(actionOutputJson(message, job.stoppedAt ?? new Date(gyre.now()).toISOString()));
    },
  );

  app.get(`${BUILD}/artifacts`, allow.project("view"), async (c) => {
    const { job } = await buildOf(c);
    return c.json(artifactsJson(await listArtifacts(c.get("gyre"), job), job, baseUrl(c.req.url)));
  });

  app.get(`${PROJECT}/latest/artifacts`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const query = parseQuery(c, LatestArtifactsQuery);
    const project = await projectOf(c);
    const [job] = await listProjectJobs(gyre, project.slug, {
      branch: query.branch,
      ...(query.filter ? { statuses: FILTER_STATUSES[query.filter] } : {}),
      limit: 1,
      offset: 0,
    });
    if (!job) {
      const which = [query.branch === undefined ? "" : `on ${query.branch}`, query.filter ?? ""];
      const detail = which.filter((w) => w !== "").join(", ");
      throw notFound(`No build of ${project.slug}${detail ? ` (${detail})` : ""}.`);
    }
    return c.json(artifactsJson(await listArtifacts(gyre, job), job, baseUrl(c.req.url)));
  });

  // CircleCI's "clear cache": later jobs find none of the project's caches and save them anew.
  app.delete(`${PROJECT}/build-cache`, allow.project("write"), async (c) => {
    const project = await projectOf(c);
    await deleteCaches(c.get("gyre"), project.slug);
    return c.json(cacheClearedJson);
  });

  app.get(`${BUILD}/tests`, allow.project("view"), async (c) => {
    const { job } = await buildOf(c);
    return c.json(testsJson(await listTestResults(c.get("gyre"), job)));
  });

  app.post(`${BUILD}/cancel`, allow.project("write"), async (c) => {
    const gyre = c.get("gyre");
    const { project, job } = await buildOf(c);
    await cancelJob(gyre, job, c.get("user").id);
    const canceled = await getJob(gyre, job.workflowId, job.name);
    return c.json(buildSummaryJson(canceled, await contextOf(gyre, canceled, project, baseUrl(c.req.url))));
  });

  // A retry reruns the build's job (and what requires it) in a new workflow of its pipeline;
  // `ssh` reruns it with SSH for the caller's keys (refused, 400, while they have none).
  const retry = async (c: Context<Env>, enableSsh: boolean) => {
    const gyre = c.get("gyre");
    const { project, job } = await buildOf(c);
    const body = { jobs: [job.id], ...(enableSsh ? { enable_ssh: true } : {}) };
    const { workflowId } = await rerunAudited(c, job.workflowId, body);
    const { jobs } = await readWorkflow(gyre, workflowId);
    const fresh = jobs.find((j) => j.name === job.name)!;
    return c.json(buildSummaryJson(fresh, await contextOf(gyre, fresh, project, baseUrl(c.req.url))));
  };

  app.post(`${BUILD}/retry`, allow.project("write"), (c) => retry(c, false));
  app.post(`${BUILD}/ssh`, allow.project("write"), (c) => retry(c, true));

  return app;
}
