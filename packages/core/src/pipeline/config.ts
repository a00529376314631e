/**
 * A pipeline's configuration, as `GET /pipeline/{id}/config` answers it: the config the
 * pipeline was created from (`.circleci/config.yml` at its revision) with its compiled form
 * (what `circleci config process` prints: orbs, commands, executors, parameters and matrices
 * expanded), and for a setup pipeline the continuation its setup job sent, compiled the same way.
 *
 * Kept in the bucket, written once when the pipeline is created or continued (before its state
 * moves on, so a pipeline the API shows as created has its config), never in the table: CircleCI
 * accepts compiled configs of up to 8 MB, a table item holds 400 KB.
 *
 *   pipelines/<pipeline id>/config/created.json        the config it was created with
 *   pipelines/<pipeline id>/config/continuation.json   a setup pipeline's continuation
 *
 * Each text is kept whole up to MAX_CONFIG_CHARS (1 MiB): an answer carries up to four of them,
 * and a Lambda's answer may be at most 6 MB. A longer text is kept as "" — the spec's "may be
 * empty" — rather than cut into YAML that does not parse.
 */

import { putJson, readJson } from "../aws/s3.ts";
import type { CompileOptions } from "../config/compile.ts";
import { processConfig } from "../config/index.ts";
import type { Gyre } from "../context.ts";
import { z } from "../protocol/schema.ts";

export const MAX_CONFIG_CHARS = 1024 * 1024;

export const PipelineConfigKeys = {
  created: (pipelineId: string) => `pipelines/${pipelineId}/config/created.json`,
  continuation: (pipelineId: string) => `pipelines/${pipelineId}/config/continuation.json`,
} as const;

const StoredConfigSchema = z.object({
  source: z.string(),
  compiled: z.string(),
  /** The config was a setup config (`setup: true`): the pipeline's real config is its continuation. */
  setup: z.boolean(),
});
export type StoredConfig = z.infer<typeof StoredConfigSchema>;

/** What `GET /pipeline/{id}/config` shows (presentation/v2.ts `pipelineConfigJson`). */
export interface PipelineConfig {
  source: string;
  compiled: string;
  /** Only for a setup pipeline: the setup config and its compiled form. */
  setup?: { source: string; compiled: string };
}

const bounded = (text: string) => (text.length <= MAX_CONFIG_CHARS ? text : "");

/** The compiled form of a config that compiled, as `circleci config process` prints it; "" if it does not process. */
export async function compiledConfigText(source: string, options: CompileOptions): Promise<string> {
  const processed = await processConfig(source, options);
  return processed.ok ? processed.yaml : "";
}

/** Keeps a pipeline's config (a replay writes the same object again). */
export async function recordPipelineConfig(
  gyre: Gyre,
  pipelineId: string,
  phase: keyof typeof PipelineConfigKeys,
  config: StoredConfig,
): Promise<void> {
  await putJson(gyre, PipelineConfigKeys[phase](pipelineId), {
    source: bounded(config.source),
    compiled: bounded(config.compiled),
    setup: config.setup,
  });
}

/**
 * The pipeline's config: empty texts when it has none (its config could not be read, it is still
 * pending, or it was created before configs were kept); a setup pipeline's `source` and
 * `compiled` are its continuation's, empty until it is continued.
 */
export async function readPipelineConfig(gyre: Gyre, pipelineId: string): Promise<PipelineConfig> {
  const created = await readJson(
    gyre,
    PipelineConfigKeys.created(pipelineId),
    StoredConfigSchema,
    "pipeline config",
  );
  if (!created) return { source: "", compiled: "" };
  if (!created.setup) return { source: created.source, compiled: created.compiled };
  const continuation = await readJson(
    gyre,
    PipelineConfigKeys.continuation(pipelineId),
    StoredConfigSchema,
    "pipeline continuation config",
  );
  return {
    source: continuation?.source ?? "",
    compiled: continuation?.compiled ?? "",
    setup: { source: created.source, compiled: created.compiled },
  };
}
