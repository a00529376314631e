/**
 * The compiled plan: what a `.circleci/config.yml` means for one pipeline, after parsing,
 * 2.1 expansion (commands, executors, parameters, orbs, matrix), filters and `when`.
 * Everything downstream (dispatch, the agent, the API) reads this, never the YAML.
 *
 * What is stored and read back (a job's plan, the pipeline values) is declared as a zod
 * schema, and its type is the schema's: `JobPlanSchema.parse(item.plan)` gives a JobPlan.
 */
import { z } from "zod";

/** Values a config can read as `<< pipeline.x >>` and that decide filters. */
export const PipelineValuesSchema = z.object({
  id: z.string(),
  number: z.number().int().nonnegative(),
  /** The branch that was pushed or triggered; absent for a tag push. */
  branch: z.string().optional(),
  /** The tag that was pushed; absent for a branch push. */
  tag: z.string().optional(),
  revision: z.string(),
  baseRevision: z.string().optional(),
  gitUrl: z.string(),
  /** `github`, `local`, ... as `pipeline.project.type`. */
  projectType: z.string(),
  /** `webhook`, `api`, `scheduled_pipeline`, ... as `pipeline.trigger_source`. */
  triggerSource: z.string(),
  /** Pipeline parameters passed with the trigger (checked against the config's declarations). */
  parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** The schedule that fired the pipeline: `pipeline.schedule.id` and `.name`. */
  schedule: z.object({ id: z.string(), name: z.string() }).optional(),
  /** A config schedule's pipeline runs this one scheduled workflow (triggerSource `schedule`). */
  scheduledWorkflow: z.string().optional(),
  /** The pull requests the pipeline builds for (pipeline/model.ts `PullRequestSchema`). */
  pullRequests: z
    .array(
      z.object({
        number: z.number().int(),
        url: z.string(),
        fork: z.object({ username: z.string(), reponame: z.string() }).optional(),
      }),
    )
    .optional(),
});
export type PipelineValues = z.infer<typeof PipelineValuesSchema>;

/** A problem in a config, located in the YAML source. */
export interface ConfigDiagnostic {
  /** Config path such as `jobs.build.steps[2].run`. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

const StringMapSchema = z.record(z.string(), z.string());

export const DockerImageSchema = z.object({
  image: z.string(),
  name: z.string().optional(),
  entrypoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  user: z.string().optional(),
  environment: StringMapSchema,
  auth: z.object({ username: z.string(), password: z.string() }).optional(),
  awsAuth: z
    .object({
      awsAccessKeyId: z.string().optional(),
      awsSecretAccessKey: z.string().optional(),
      oidcRoleArn: z.string().optional(),
    })
    .optional(),
});
export type DockerImage = z.infer<typeof DockerImageSchema>;

export const ExecutorSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("docker"), images: z.array(DockerImageSchema) }),
  z.object({
    type: z.literal("machine"),
    image: z.string().optional(),
    dockerLayerCaching: z.boolean().optional(),
  }),
  z.object({ type: z.literal("macos"), xcode: z.string() }),
  z.object({ type: z.literal("windows"), image: z.string().optional(), shell: z.string().optional() }),
]);
export type Executor = z.infer<typeof ExecutorSchema>;

export const StepWhenSchema = z.enum(["always", "on_success", "on_fail"]);
export type StepWhen = z.infer<typeof StepWhenSchema>;

const stepName = z.string().optional();

export const StepSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("checkout"),
    name: stepName,
    path: z.string().optional(),
    method: z.enum(["full", "blobless"]).optional(),
  }),
  z.object({
    type: z.literal("run"),
    name: stepName,
    command: z.string(),
    shell: z.string().optional(),
    background: z.boolean(),
    workingDirectory: z.string().optional(),
    environment: StringMapSchema,
    /** Seconds without output before the step is killed (default 600). */
    noOutputTimeout: z.number().nonnegative().optional(),
    when: StepWhenSchema,
    maxAutoReruns: z.number().int().min(1).max(5).optional(),
    autoRerunDelay: z.string().optional(),
  }),
  z.object({
    type: z.literal("save_cache"),
    name: stepName,
    key: z.string(),
    paths: z.array(z.string()),
    when: StepWhenSchema,
  }),
  z.object({ type: z.literal("restore_cache"), name: stepName, keys: z.array(z.string()) }),
  z.object({
    type: z.literal("store_artifacts"),
    name: stepName,
    path: z.string(),
    destination: z.string().optional(),
  }),
  z.object({ type: z.literal("store_test_results"), name: stepName, path: z.string() }),
  z.object({
    type: z.literal("persist_to_workspace"),
    name: stepName,
    root: z.string(),
    paths: z.array(z.string()),
  }),
  z.object({ type: z.literal("attach_workspace"), name: stepName, at: z.string() }),
  z.object({ type: z.literal("add_ssh_keys"), name: stepName, fingerprints: z.array(z.string()) }),
  z.object({
    type: z.literal("setup_remote_docker"),
    name: stepName,
    version: z.string().optional(),
    dockerLayerCaching: z.boolean().optional(),
  }),
]);
export type Step = z.infer<typeof StepSchema>;

export const JobPlanSchema = z.object({
  /** The name this job has in its workflow (after `name:` overrides and matrix expansion). */
  name: z.string(),
  executor: ExecutorSchema,
  resourceClass: z.string(),
  parallelism: z.number().int().min(1),
  environment: StringMapSchema,
  /** Default `~/project`. */
  workingDirectory: z.string(),
  shell: z.string().optional(),
  steps: z.array(StepSchema),
});
export type JobPlan = z.infer<typeof JobPlanSchema>;

export interface BranchTagFilters {
  branches?: { only?: string[]; ignore?: string[] };
  tags?: { only?: string[]; ignore?: string[] };
}

/**
 * How a required job may end for the job that requires it to run (`requires: [{ build: failed }]`);
 * `terminal` in a config stands for all of them.
 */
export const REQUIRED_STATUSES = ["success", "failed", "canceled", "not_run", "unauthorized"] as const;
export type RequiredStatus = (typeof REQUIRED_STATUSES)[number];

export interface WorkflowJob {
  /** Unique within its workflow. */
  name: string;
  /**
   * Names of jobs in the same workflow that must end first (already pruned by filters); each
   * must succeed unless `requiredStatuses` says otherwise.
   */
  requires: string[];
  /**
   * The statuses a required job may end in, for the required jobs (keys: names in `requires`)
   * that need not succeed: `{ build: ["failed"] }` for `requires: [{ build: failed }]`. Absent
   * when every requirement is plain success.
   */
  requiredStatuses?: Record<string, string[]>;
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
