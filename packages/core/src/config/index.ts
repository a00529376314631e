/**
 * The CircleCI config engine: parse, validate and compile `.circleci/config.yml`
 * (version 2, 2.0 and 2.1) into the typed plan (`plan.ts`), and print the processed
 * config as `circleci config process` does.
 */
export { type CompileOptions, compileConfig, SCHEDULE_TRIGGER_SOURCE } from "./compile.ts";
export { formatDiagnostic } from "./diagnostics.ts";
export {
  InMemoryOrbResolver,
  type OrbRef,
  type OrbResolver,
  parseOrbRef,
  resolveOrbVersion,
} from "./orbs.ts";
export type * from "./plan.ts";
export {
  DockerImageSchema,
  ExecutorSchema,
  JobPlanSchema,
  PipelineValuesSchema,
  REQUIRED_STATUSES,
  StepSchema,
  StepWhenSchema,
} from "./plan.ts";
export { type ProcessResult, processConfig } from "./process.ts";
