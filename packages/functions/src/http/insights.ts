/**
 * CircleCI API v2 Insights, computed from Gyre's run records (core/src/insights):
 *
 *   GET /insights/pages/{project-slug}/summary                              getProjectWorkflowsPageData
 *   GET /insights/time-series/{project-slug}/workflows                      getWorkflowTimeseries
 *   GET /insights/time-series/{project-slug}/workflows/{workflow}/jobs      getJobTimeseries
 *   GET /insights/{org-slug}/summary                                        getOrgSummaryData
 *   GET /insights/{project-slug}/branches                                   getAllInsightsBranches
 *   GET /insights/{project-slug}/flaky-tests                                getFlakyTests
 *   GET /insights/{project-slug}/workflows                                  getProjectWorkflowMetrics
 *   GET /insights/{project-slug}/workflows/{workflow}                       getProjectWorkflowRuns
 *   GET /insights/{project-slug}/workflows/{workflow}/jobs                  getProjectWorkflowJobMetrics
 *   GET /insights/{project-slug}/workflows/{workflow}/jobs/{job}            getProjectJobRuns
 *   GET /insights/{project-slug}/workflows/{workflow}/summary               getWorkflowSummary
 *   GET /insights/{project-slug}/workflows/{workflow}/test-metrics          getProjectWorkflowTestMetrics
 *
 * A slug is `vcs/org/repo` (`vcs/org` for an organization), its `/` as they are or escaped
 * (`gh%2Facme%2Fapi`, as the document allows): each route is declared for both forms, the
 * plain one with no `%` in a part, so that no path matches two routes (`pages/<escaped>/summary`
 * is not an organization's summary). 400 for a bad parameter, 404 for an unknown project,
 * organization, workflow or job.
 */
import { badRequest, notFound } from "@gyre/core/error";
import {
  branchOf,
  dateRange,
  flakyTests,
  InsightsQuery,
  insightsBranches,
  jobRuns,
  jobTimeseries,
  orgSummary,
  parseName,
  projectSummary,
  projectWorkflowMetrics,
  reportingWindow,
  workflowJobMetrics,
  workflowRuns,
  workflowSummary,
  workflowTestMetrics,
  workflowTimeseries,
} from "@gyre/core/insights/index";
import {
  insightsBranchesJson,
  insightsFlakyTestsJson,
  insightsIntervalJson,
  insightsJobMetricsJson,
  insightsJobRunJson,
  insightsOrgSummaryJson,
  insightsProjectSummaryJson,
  insightsTestMetricsJson,
  insightsWorkflowMetricsJson,
  insightsWorkflowRunJson,
  insightsWorkflowSummaryJson,
} from "@gyre/core/presentation/v2";
import { listProjects, parseOrgSlug } from "@gyre/core/project/index";
import { ProjectPath } from "@gyre/core/protocol/api";
import { parseInput, type z } from "@gyre/core/protocol/schema";
import { type Context, type Handler, Hono } from "hono";
import { allow, projectFor, visibleProjects } from "./access.ts";
import type { Env } from "./context.ts";

/** A slug's path forms: plain (`gh/acme/api`, no `%` in a part) and escaped (one segment with `%2F`). */
const PART = "{[^/%]+}";
const ESCAPED = ":slug{[^/]*%2[Ff][^/]*}";
const PROJECT_FORMS = [`:vcs${PART}/:org${PART}/:repo${PART}`, ESCAPED];
const ORG_FORMS = [`:vcs${PART}/:org${PART}`, ESCAPED];

/** The project slug in the path, in either form; 400 for a malformed one, 404 for too few parts. */
function projectSlug(c: Context<Env>): string {
  const escaped = c.req.param("slug");
  const [vcs, org, repo, ...rest] =
    escaped !== undefined
      ? escaped.split("/")
      : [c.req.param("vcs"), c.req.param("org"), c.req.param("repo")];
  if (repo === undefined || rest.length > 0)
    throw notFound("Project not found: its slug must be vcs/org/repo.");
  return parseInput(ProjectPath, { vcs, org, repo }, "project-slug");
}

/** The organization slug in the path, in either form; 400 for a malformed one. */
const orgSlug = (c: Context<Env>) =>
  parseOrgSlug(c.req.param("slug") ?? `${c.req.param("vcs")}/${c.req.param("org")}`);

const project = (c: Context<Env>) => projectFor(c, projectSlug(c));
const workflowName = (c: Context<Env>) => parseName(c.req.param("workflow"), "workflow-name");

/** The query string parsed by `schema`, the parameters the document repeats read as lists. */
function query<S extends z.ZodType>(c: Context<Env>, schema: S, lists: readonly string[] = []): z.output<S> {
  const raw: Record<string, unknown> = { ...c.req.query() };
  for (const name of lists) {
    const values = c.req.queries(name);
    if (values) raw[name] = values;
  }
  return parseInput(schema, raw, "query");
}

/** `branches` / `all-branches` of a summary: undefined for every branch. */
function branchList(q: { branches?: string[]; "all-branches"?: boolean }, defaultBranch: string) {
  if (q["all-branches"] && q.branches) throw badRequest("Use either branches or all-branches, not both.");
  return q["all-branches"] ? undefined : (q.branches ?? [defaultBranch]);
}

export function insightsRoutes() {
  const app = new Hono<Env>();
  const onProject = (path: (slug: string) => string, handler: Handler<Env>) => {
    for (const form of PROJECT_FORMS) app.get(`/insights/${path(form)}`, allow.project("view"), handler);
  };

  onProject(
    (slug) => `pages/${slug}/summary`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.projectSummary, ["branches", "workflow-names"]);
      const p = await project(c);
      const summary = await projectSummary(gyre, p, {
        window: reportingWindow(q["reporting-window"], gyre.now()),
        branches: q.branches,
        workflowNames: q["workflow-names"],
      });
      return c.json(insightsProjectSummaryJson(p, summary));
    },
  );

  onProject(
    (slug) => `time-series/${slug}/workflows`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.timeseries);
      const p = await project(c);
      const granularity = q["timeseries-granularity"] ?? "daily";
      const items = await workflowTimeseries(gyre, p, {
        branch: branchOf(q, p.defaultBranch),
        window: dateRange(q, gyre.now(), granularity),
        granularity,
        workflowName: q["workflow-name"],
      });
      return c.json({ items: items.map(insightsIntervalJson), next_page_token: null });
    },
  );

  onProject(
    (slug) => `time-series/${slug}/workflows/:workflow/jobs`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.timeseries);
      const name = workflowName(c);
      const p = await project(c);
      const granularity = q["timeseries-granularity"] ?? "daily";
      const items = await jobTimeseries(gyre, p, name, {
        branch: branchOf(q, p.defaultBranch),
        window: dateRange(q, gyre.now(), granularity),
        granularity,
      });
      return c.json({ items: items.map(insightsIntervalJson), next_page_token: null });
    },
  );

  for (const form of ORG_FORMS)
    app.get(`/insights/${form}/summary`, allow.user(), async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.orgSummary, ["project-names"]);
      const org = orgSlug(c);
      const projects = await visibleProjects(c, await listProjects(gyre, { orgSlug: org }));
      if (projects.length === 0) throw notFound(`Organization ${org} not found.`);
      const summary = await orgSummary(gyre, projects, {
        window: reportingWindow(q["reporting-window"], gyre.now()),
        projectNames: q["project-names"],
      });
      return c.json(insightsOrgSummaryJson(summary));
    });

  onProject(
    (slug) => `${slug}/branches`,
    async (c) => {
      const q = query(c, InsightsQuery.branches);
      const p = await project(c);
      return c.json(insightsBranchesJson(p, await insightsBranches(c.get("gyre"), p, q["workflow-name"])));
    },
  );

  onProject(
    (slug) => `${slug}/flaky-tests`,
    async (c) => {
      const p = await project(c);
      return c.json(insightsFlakyTestsJson(await flakyTests(c.get("gyre"), p)));
    },
  );

  onProject(
    (slug) => `${slug}/workflows`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.metrics);
      const p = await project(c);
      const page = await projectWorkflowMetrics(gyre, p, {
        branch: branchOf(q, p.defaultBranch),
        window: reportingWindow(q["reporting-window"], gyre.now()),
        pageToken: q["page-token"] || undefined,
      });
      return c.json({
        items: page.items.map(insightsWorkflowMetricsJson),
        next_page_token: page.nextPageToken,
      });
    },
  );

  onProject(
    (slug) => `${slug}/workflows/:workflow`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.runs);
      const name = workflowName(c);
      const p = await project(c);
      const page = await workflowRuns(gyre, p, name, {
        branch: branchOf(q, p.defaultBranch),
        window: dateRange(q, gyre.now()),
        pageToken: q["page-token"] || undefined,
      });
      return c.json({ items: page.items.map(insightsWorkflowRunJson), next_page_token: page.nextPageToken });
    },
  );

  onProject(
    (slug) => `${slug}/workflows/:workflow/jobs`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.metrics);
      const name = workflowName(c);
      const p = await project(c);
      const page = await workflowJobMetrics(gyre, p, name, {
        branch: branchOf(q, p.defaultBranch),
        window: reportingWindow(q["reporting-window"], gyre.now()),
        pageToken: q["page-token"] || undefined,
      });
      return c.json({ items: page.items.map(insightsJobMetricsJson), next_page_token: page.nextPageToken });
    },
  );

  onProject(
    (slug) => `${slug}/workflows/:workflow/jobs/:job`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.runs);
      const name = workflowName(c);
      const job = parseName(c.req.param("job"), "job-name");
      const p = await project(c);
      const page = await jobRuns(gyre, p, name, job, {
        branch: branchOf(q, p.defaultBranch),
        window: dateRange(q, gyre.now()),
        pageToken: q["page-token"] || undefined,
      });
      return c.json({ items: page.items.map(insightsJobRunJson), next_page_token: page.nextPageToken });
    },
  );

  onProject(
    (slug) => `${slug}/workflows/:workflow/summary`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.workflowSummary, ["branches"]);
      const name = workflowName(c);
      const p = await project(c);
      const summary = await workflowSummary(gyre, p, name, {
        branches: branchList(q, p.defaultBranch),
        window: reportingWindow(q["reporting-window"], gyre.now()),
      });
      return c.json(insightsWorkflowSummaryJson(summary));
    },
  );

  onProject(
    (slug) => `${slug}/workflows/:workflow/test-metrics`,
    async (c) => {
      const gyre = c.get("gyre");
      const q = query(c, InsightsQuery.testMetrics);
      const name = workflowName(c);
      const p = await project(c);
      return c.json(
        insightsTestMetricsJson(
          await workflowTestMetrics(gyre, p, name, { branch: branchOf(q, p.defaultBranch) }),
        ),
      );
    },
  );

  return app;
}
