/**
 * The compiled plan: what a `.circleci/config.yml` means for one pipeline, after parsing,
 * 2.1 expansion (commands, executors, parameters, orbs, matrix), filters and `when`.
 * Everything downstream (dispatch, the agent, the API) reads this, never the YAML.
 */

/** Values a config can read as `<< pipeline.x >>` and that decide filters. */
export interface PipelineValues {
  id: string;
  number: number;
  /** The branch that was pushed or triggered; absent for a tag push. */
  branch?: string;
  /** The tag that was pushed; absent for a branch push. */
  tag?: string;
  revision: string;
  baseRevision?: string;
  gitUrl: string;
  /** `github`, `local`, ... as `pipeline.project.type`. */
  projectType: string;
  /** `webhook`, `api`, `scheduled_pipeline`, ... as `pipeline.trigger_source`. */
  triggerSource: string;
  /** Pipeline parameters passed with the trigger (checked against the config's declarations). */
  parameters?: Record<string, string | number | boolean>;
}

/** A problem in a config, located in the YAML source. */
export interface ConfigDiagnostic {
  /** Config path such as `jobs.build.steps[2].run`. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export interface DockerImage {
  image: string;
  name?: string;
  entrypoint?: string[];
  command?: string[];
  user?: string;
  environment: Record<string, string>;
  auth?: { username: string; password: string };
  awsAuth?: { awsAccessKeyId?: string; awsSecretAccessKey?: string; oidcRoleArn?: string };
}

export type Executor =
  | { type: "docker"; images: DockerImage[] }
  | { type: "machine"; image?: string; dockerLayerCaching?: boolean }
  | { type: "macos"; xcode: string }
  | { type: "windows"; image?: string; shell?: string };

export type StepWhen = "always" | "on_success" | "on_fail";

export type Step =
  | { type: "checkout"; name?: string; path?: string; method?: "full" | "blobless" }
  | {
      type: "run";
      name?: string;
      command: string;
      shell?: string;
      background: boolean;
      workingDirectory?: string;
      environment: Record<string, string>;
      /** Seconds without output before the step is killed (default 600). */
      noOutputTimeout?: number;
      when: StepWhen;
      maxAutoReruns?: number;
      autoRerunDelay?: string;
    }
  | { type: "save_cache"; name?: string; key: string; paths: string[]; when: StepWhen }
  | { type: "restore_cache"; name?: string; keys: string[] }
  | { type: "store_artifacts"; name?: string; path: string; destination?: string }
  | { type: "store_test_results"; name?: string; path: string }
  | { type: "persist_to_workspace"; name?: string; root: string; paths: string[] }
  | { type: "attach_workspace"; name?: string; at: string }
  | { type: "add_ssh_keys"; name?: string; fingerprints: string[] }
  | { type: "setup_remote_docker"; name?: string; version?: string; dockerLayerCaching?: boolean };

export interface JobPlan {
  /** The name this job has in its workflow (after `name:` overrides and matrix expansion). */
  name: string;
  executor: Executor;
  resourceClass: string;
  parallelism: number;
  environment: Record<string, string>;
  /** Default `~/project`. */
  workingDirectory: string;
  shell?: string;
  steps: Step[];
}

export interface BranchTagFilters {
  branches?: { only?: string[]; ignore?: string[] };
  tags?: { only?: string[]; ignore?: string[] };
}

export interface WorkflowJob {
  /** Unique within its workflow. */
  name: string;
  /** Names of jobs in the same workflow that must succeed first (already pruned by filters). */
  requires: string[];
  /**
   * `build` runs `plan`; `approval` waits for a person; `no-op` (a job defined with
   * `type: no-op`) has nothing to run and succeeds at once, like an approval that needs none.
   */
  type: "build" | "approval" | "no-op";
  contexts: string[];
  /** Absent for `type: approval` and `type: no-op`. */
  plan?: JobPlan;
}

export interface ScheduleTrigger {
  cron: string;
  filters: BranchTagFilters;
}

export interface WorkflowPlan {
  name: string;
  jobs: WorkflowJob[];
  triggers: ScheduleTrigger[];
}

export interface CompiledConfig {
  /** `2`, `2.0` or `2.1` as written. */
  version: string;
  /** `setup: true`: the workflows compute a continuation config. */
  setup: boolean;
  /** Workflows that run for this pipeline (filters and `when` already applied). */
  workflows: WorkflowPlan[];
  /**
   * Every workflow of the config that has schedule `triggers` (whether or not it runs for
   * this pipeline), for the scheduler. Such workflows run only in pipelines whose
   * `triggerSource` is `schedule`, and then only those run.
   */
  scheduledWorkflows?: { name: string; triggers: ScheduleTrigger[] }[];
}

export type CompileResult =
  | { ok: true; config: CompiledConfig; warnings: ConfigDiagnostic[] }
  | { ok: false; errors: ConfigDiagnostic[]; warnings: ConfigDiagnostic[] };
