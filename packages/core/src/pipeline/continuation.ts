/**
 * Dynamic configuration: a setup pipeline's setup job sends the pipeline's real configuration
 * with its continuation key (`POST /pipeline/continue`); its workflows join the same pipeline.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { compileConfig } from "../config/index.ts";
import type { Gyre } from "../context.ts";
import { advanceWorkflow } from "../dispatch/advance.ts";
import { startAllocations } from "../dispatch/execution.ts";
import { badRequest, conflict, unauthorized } from "../error.ts";
import { pipelineMove } from "../job/transitions.ts";
import { orbResolver } from "../orb/index.ts";
import { getProject, reserveNumbers } from "../project/index.ts";
import { decryptSecret } from "../secret/index.ts";
import { tryUpdate } from "../store/index.ts";
import { Keys } from "../table.ts";
import { compiledConfigText, recordPipelineConfig } from "./config.ts";
import { continuationAad, countJobs, formatDiagnostic, pipelineValues, writeWorkflows } from "./create.ts";
import type { Parameters, PipelineError } from "./model.ts";
import { findPipeline } from "./read.ts";

/** The continuation key of a setup pipeline, for the builder running one of its setup jobs. */
export async function continuationKey(gyre: Gyre, pipelineId: string): Promise<string | undefined> {
  const sealed = (await findPipeline(gyre, pipelineId))?.continuation;
  return sealed ? decryptSecret(gyre.keys, sealed, continuationAad(pipelineId)) : undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * `POST /pipeline/continue`: the key is the credential; a pipeline is continued once; the
 * continuation is compiled with the pipeline's values and the given parameters, and its
 * workflows join the same pipeline. An invalid continuation errors the pipeline, as in CircleCI.
 */
export async function continuePipeline(
  gyre: Gyre,
  input: { key: string; configuration: string; parameters?: Parameters },
): Promise<void> {
  const pipelineId = input.key.split(".")[0] ?? "";
  const pipeline = /^[0-9a-f-]{36}$/.test(pipelineId) ? await findPipeline(gyre, pipelineId) : undefined;
  const expected = pipeline && (await continuationKey(gyre, pipeline.id));
  if (!pipeline || !expected || !safeEqual(expected, input.key))
    throw unauthorized("Invalid continuation key.");
  // The same continuation sent again (its first attempt failed part-way, or its answer was lost)
  // finishes what the first began; any other after the first is refused.
  const digest = createHash("sha256")
    .update(`${input.configuration}\u0000${JSON.stringify(input.parameters ?? {})}`)
    .digest("hex");
  const replay = pipeline.state === "created" && pipeline.continuationDigest === digest;
  if (pipeline.state !== "setup" && !replay) throw conflict("This pipeline has already been continued.");
  const project = await getProject(gyre, pipeline.projectSlug);
  const values = pipelineValues(project, pipeline, input.parameters);
  const options = { pipeline: values, orbs: orbResolver(gyre) };
  const compiled = await compileConfig(input.configuration, options);
  const errors: PipelineError[] = compiled.ok
    ? compiled.config.setup
      ? [
          {
            type: "config",
            message: "A continuation configuration cannot be a setup configuration (setup: true).",
          },
        ]
      : []
    : compiled.errors.map((e) => ({ type: "config", message: formatDiagnostic(e) }));
  // One continuation wins: the state moves on before anything is written for it.
  if (!replay) {
    const moved = await tryUpdate(
      gyre,
      Keys.pipeline(pipeline.id),
      pipelineMove(
        pipeline.id,
        "continue",
        errors.length > 0 ? "errored" : "created",
        { errors, continuationDigest: digest },
        new Date(gyre.now()).toISOString(),
      ),
    );
    if (!moved) {
      const now = await findPipeline(gyre, pipeline.id);
      if (!(now?.state === "created" && now.continuationDigest === digest))
        throw conflict("This pipeline has already been continued.");
    }
  }
  // The continuation is the pipeline's config from now on (`GET /pipeline/{id}/config` `source`).
  await recordPipelineConfig(gyre, pipeline.id, "continuation", {
    source: input.configuration,
    compiled:
      compiled.ok && errors.length === 0 ? await compiledConfigText(input.configuration, options) : "",
    setup: false,
  });
  if (!compiled.ok || errors.length > 0) {
    throw badRequest(`The continuation configuration is invalid: ${errors.map((e) => e.message).join("; ")}`);
  }
  const { firstJobNumber } = await reserveNumbers(gyre, project.slug, countJobs(compiled.config), 0);
  const { roots, settled } = await writeWorkflows(
    gyre,
    project,
    pipeline,
    compiled.config,
    values,
    firstJobNumber,
    "continuation",
  );
  await Promise.all(roots.map((job) => startAllocations(gyre, job)));
  await Promise.all(settled.map((id) => advanceWorkflow(gyre, id)));
}
