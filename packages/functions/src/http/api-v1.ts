/** The CircleCI API v1.1 endpoints tools still call: a build's details and its step output. */

import { badRequest } from "@gyre/core/error";
import { getJobByNumber, type Job } from "@gyre/core/job/index";
import { readStepOutput, readSteps, type StepRecord } from "@gyre/core/output/index";
import { getProject } from "@gyre/core/project/index";
import { StepOutputPath } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { Hono } from "hono";
import { baseUrl } from "./api-v2.ts";
import { type Env, positiveInt, requireUser, slugOf } from "./context.ts";

const BUILD = "/project/:vcs/:org/:repo/:num";

/** v1.1 `lifecycle` and `outcome` from a v2 job status. */
function lifecycle(job: Job): { lifecycle: string; outcome: string | null } {
  switch (job.status) {
    case "queued":
      return { lifecycle: "queued", outcome: null };
    case "running":
      return { lifecycle: "running", outcome: null };
    case "blocked":
    case "on_hold":
      return { lifecycle: "not_running", outcome: null };
    case "not_run":
      return { lifecycle: "not_run", outcome: null };
    default:
      return { lifecycle: "finished", outcome: job.status };
  }
}

const ms = (from?: string, to?: string) => (from && to ? Date.parse(to) - Date.parse(from) : null);

export function apiV1Routes() {
  const app = new Hono<Env>();
  app.use(requireUser());

  app.get(BUILD, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("num"), "build_num"));
    const indices = Object.keys(job.allocations)
      .map(Number)
      .sort((a, b) => a - b);
    const perAllocation = await Promise.all(
      indices.map(async (node) => ({
        node,
        steps: await readSteps(gyre, { jobId: job.id, attempt: job.attempt, index: node }),
      })),
    );
    // Each action carries the node it ran on: a node that stopped early (or ran other steps)
    // has fewer actions, so a step's actions are not one per node in node order.
    const byStep = new Map<number, { name: string; actions: (StepRecord & { node: number })[] }>();
    for (const { node, steps } of perAllocation) {
      for (const s of steps) {
        const entry = byStep.get(s.index) ?? { name: s.name, actions: [] };
        entry.actions.push({ ...s, node });
        byStep.set(s.index, entry);
      }
    }
    const base = `${baseUrl(c.req.url)}/api/v1.1/project/${project.slug}/${job.number}/output`;
    const steps = [...byStep.entries()]
      .sort(([a], [b]) => a - b)
      .map(([stepIndex, { name, actions }]) => ({
        name,
        actions: actions.map((a) => ({
          index: a.node,
          step: stepIndex,
          name: a.name,
          type: a.type,
          status: a.status,
          background: a.background ?? false,
          start_time: a.startedAt,
          end_time: a.endedAt ?? null,
          run_time_millis: ms(a.startedAt, a.endedAt),
          exit_code: a.exitCode ?? null,
          has_output: true,
          output_url: `${base}/${stepIndex}/${a.node}`,
        })),
      }));
    const pipeline = job.pipeline;
    return c.json({
      build_num: job.number,
      build_url: `${baseUrl(c.req.url)}/pipelines/${project.slug}/${job.pipelineNumber}/workflows/${job.workflowId}/jobs/${job.number}`,
      vcs_type: project.vcsType,
      username: project.org,
      reponame: project.name,
      vcs_url: project.repoUrl,
      branch: pipeline.branch ?? null,
      vcs_tag: pipeline.tag ?? null,
      vcs_revision: job.checkout.revision,
      status: job.status,
      ...lifecycle(job),
      queued_at: job.queuedAt ?? job.createdAt,
      start_time: job.startedAt ?? null,
      stop_time: job.stoppedAt ?? null,
      build_time_millis: ms(job.startedAt, job.stoppedAt),
      parallel: job.plan?.parallelism ?? 1,
      workflows: {
        job_name: job.name,
        job_id: job.id,
        workflow_id: job.workflowId,
        workflow_name: job.workflowName,
        pipeline_id: job.pipelineId,
      },
      steps,
    });
  });

  app.get(`${BUILD}/output/:step/:index`, async (c) => {
    const gyre = c.get("gyre");
    const project = await getProject(gyre, slugOf(c));
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("num"), "build_num"));
    const { step, index } = parseInput(StepOutputPath, c.req.param(), "path");
    if (!Object.hasOwn(job.allocations, String(index))) throw badRequest("No such step or index.");
    const message = await readStepOutput(gyre, { jobId: job.id, attempt: job.attempt, index }, step);
    return c.json([
      { type: "out", time: job.stoppedAt ?? new Date(gyre.now()).toISOString(), message, truncated: false },
    ]);
  });

  return app;
}
