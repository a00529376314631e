/**
 * Runs one allocation of a job: a fresh working directory with its own HOME, the CircleCI
 * environment, then each step of the compiled plan in order, honouring `when`, and reports
 * each step's output and outcome. Every step runs in the job's sandbox (sandbox/), limited
 * to its resource class, or in the job's containers for a docker executor (executor/).
 * Executors this builder cannot provide (macos, windows; docker without a Docker engine) run
 * in the same sandbox on the host instead, and the first output line says so. A job sees the
 * builder's HTTP_PROXY, HTTPS_PROXY and NO_PROXY without the proxies' credentials (the
 * project's variables go over them: a job that needs an authenticated proxy sets it there).
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { jobProxyEnvironment } from "@gyre/core/network/proxy";
import type { AllocationRef, AssignedJob } from "@gyre/core/protocol/agent";
import type { GyreApi } from "./api.ts";
import { openJobEnvironment } from "./executor/index.ts";
import type { OutputStream } from "./output.ts";
import type { JobService } from "./process.ts";
import { type SandboxPolicy, sandboxPolicyFromEnv } from "./sandbox/index.ts";
import { openSshAccess, type SshAccess } from "./ssh-access.ts";
import { runStep, stepName } from "./steps/index.ts";
import { jobMounts, mountsDir, ownedByJob, resolvePath, toHost } from "./steps/paths.ts";
import { haltRequested, installTools } from "./tools/index.ts";

export type AllocationOutcome = "success" | "failed" | "canceled";

export interface RunContext {
  job: AssignedJob;
  allocation: AllocationRef;
  /** This builder node. */
  nodeId: string;
  api: GyreApi;
  workDir: string;
  output: OutputStream;
  signal: AbortSignal;
  /** Environment variables from the project and its contexts. */
  secrets?: Record<string, string>;
  /** The builder's sandbox settings (default: from the agent's environment). */
  sandbox?: SandboxPolicy;
}

/** CircleCI's built-in environment for a job. */
export function circleEnvironment(
  job: AssignedJob,
  allocation: AllocationRef,
  workingDirectory: string,
  bashEnv: string,
): Record<string, string> {
  const [, org = "", repo = ""] = job.projectSlug.split("/");
  const env: Record<string, string> = {
    CI: "true",
    CIRCLECI: "true",
    CIRCLE_BRANCH: job.checkout.branch ?? "",
    CIRCLE_BUILD_NUM: String(job.number),
    CIRCLE_JOB: job.name,
    CIRCLE_NODE_INDEX: String(allocation.index),
    CIRCLE_NODE_TOTAL: String(job.parallelism),
    CIRCLE_PROJECT_USERNAME: org,
    CIRCLE_PROJECT_REPONAME: repo,
    CIRCLE_REPOSITORY_URL: job.checkout.repoUrl,
    CIRCLE_SHA1: job.checkout.revision,
    CIRCLE_WORKFLOW_ID: job.workflowId,
    CIRCLE_WORKFLOW_JOB_ID: job.id,
    // The same across a workflow's reruns, as CircleCI's (dispatch/rerun.ts).
    CIRCLE_WORKFLOW_WORKSPACE_ID: job.workspaceId ?? job.workflowId,
    CIRCLE_PIPELINE_ID: job.pipelineId,
    CIRCLE_WORKING_DIRECTORY: workingDirectory,
    CIRCLE_SHELL_ENV: bashEnv,
    BASH_ENV: bashEnv,
  };
  if (job.checkout.tag) env.CIRCLE_TAG = job.checkout.tag;
  // The pull requests the pipeline builds for: the first one's URL, all of them, and, as
  // CircleCI sets them only for a pull request from a fork, its number, author and repository.
  const pulls = job.pipeline.pullRequests ?? [];
  if (pulls[0]) {
    env.CIRCLE_PULL_REQUEST = pulls[0].url;
    env.CIRCLE_PULL_REQUESTS = pulls.map((p) => p.url).join(",");
    if (pulls[0].fork) {
      env.CIRCLE_PR_NUMBER = String(pulls[0].number);
      env.CIRCLE_PR_USERNAME = pulls[0].fork.username;
      env.CIRCLE_PR_REPONAME = pulls[0].fork.reponame;
    }
  }
  return env;
}

function hostNote(job: AssignedJob): string | undefined {
  const executor = job.plan?.executor;
  // A docker job that runs on the host says so itself (executor/index.ts).
  if (!executor || executor.type === "machine" || executor.type === "docker") return undefined;
  const what = executor.type === "macos" ? `macOS (Xcode ${executor.xcode})` : "Windows";
  return `Gyre: this builder cannot provide the ${executor.type} executor yet; running on the host in a fresh working directory instead of ${what}.\n`;
}

export async function runAllocation(ctx: RunContext): Promise<AllocationOutcome> {
  const { job, allocation, output } = ctx;
  const plan = job.plan!;
  const root = join(ctx.workDir, `${job.id}-${allocation.attempt}-${allocation.index}`);
  await Promise.all([root, mountsDir(root)].map((dir) => rm(dir, { recursive: true, force: true })));
  const home = join(root, "home");
  await mkdir(home, { recursive: true });
  // The working directory as the job sees it; in a sandbox a path outside HOME is a mount.
  const workingDirectory = resolvePath(plan.workingDirectory || "~/project", home, home);
  const mounts = jobMounts(root, home, plan);
  const bashEnv = join(root, ".bash_env");
  await writeFile(bashEnv, "");
  // `circleci tests glob|split` and `circleci-agent step halt`, inside the job's own directory.
  const tools = await installTools(ctx, root);

  // CircleCI's precedence, lowest first: project and context variables, its built-in
  // variables, the job's `environment` (a step's `environment` goes over all of these).
  const baseEnv: Record<string, string> = {
    PATH: `${tools}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    LANG: process.env.LANG ?? "C.UTF-8",
    USER: process.env.USER ?? "circleci",
    // The builder's proxy, as the reference hands it to jobs (both cases, loopback in NO_PROXY),
    // but never its credentials (user:password@): the agent's own calls alone use them. A
    // variable the project, a context or the config sets is theirs, in both cases.
    ...jobProxyEnvironment(process.env, { ...ctx.secrets, ...plan.environment }),
    ...(ctx.secrets ?? {}),
    HOME: home,
    ...circleEnvironment(job, allocation, workingDirectory, bashEnv),
    // Where a job reaches this Gyre's API (e.g. POST /api/v2/pipeline/continue from a setup job).
    GYRE_API_URL: ctx.api.baseUrl,
    ...plan.environment,
  };

  const sandbox = await openJobEnvironment(ctx.sandbox ?? sandboxPolicyFromEnv(ctx.workDir), {
    root,
    home,
    resourceClass: plan.resourceClass,
    repoUrl: job.checkout.repoUrl,
    executor: plan.executor,
    mounts,
    env: baseEnv,
    configured: { ...ctx.secrets, ...plan.environment },
  });
  // Where the working directory is on the builder; the agent creates only what is the job's
  // (a container or the sandbox creates any other path itself).
  const hostWorkingDirectory = toHost(workingDirectory, sandbox.confinement);
  if (ownedByJob(hostWorkingDirectory, root) || !sandbox.confinement)
    await mkdir(hostWorkingDirectory, { recursive: true });
  let index = 0;
  const spinUp = output.startStep({ index: index++, name: "Spin up environment", type: "spin_up" });
  if (sandbox.warning) output.write(spinUp.index, sandbox.warning);
  const note = hostNote(job);
  if (note && !sandbox.refusal) output.write(spinUp.index, note);
  output.write(
    spinUp.index,
    `Build-agent: gyre, node ${ctx.nodeId}\nWorking directory: ${workingDirectory}\n${sandbox.summary}`,
  );
  output.endStep(spinUp, sandbox.refusal ? "failed" : "success", sandbox.refusal ? null : 0);
  if (sandbox.refusal) {
    await Promise.all(
      [root, mountsDir(root)].map((dir) => rm(dir, { recursive: true, force: true }).catch(() => undefined)),
    );
    return "failed";
  }

  let failed = false;
  const background: JobService[] = [];
  let ssh: SshAccess | undefined;
  try {
    // A rerun with SSH: the user may connect from the start; the job waits for them at the end.
    if (job.ssh) {
      const record = output.startStep({ index: index++, name: "Enable SSH", type: "ssh" });
      if (sandbox.launch) {
        output.write(
          record.index,
          "Gyre: SSH into a docker executor's containers is not available yet; this job runs without SSH.\n",
        );
      } else {
        ssh = await openSshAccess({
          dir: `${root}.ssh`,
          keys: job.ssh.keys,
          enter: {
            wrap: sandbox.wrap,
            hostCwd: hostWorkingDirectory,
            jobCwd: workingDirectory,
            env: baseEnv,
          },
        }).catch((error: Error) => {
          output.write(record.index, `Gyre: could not start the SSH server: ${error.message}\n`);
          return undefined;
        });
        if (ssh) output.write(record.index, ssh.instructions);
      }
      output.endStep(record, ssh || sandbox.launch ? "success" : "failed", null);
    }
    for (const step of plan.steps) {
      if (ctx.signal.aborted) return "canceled";
      const when = "when" in step ? step.when : "on_success";
      if ((when === "on_success" && failed) || (when === "on_fail" && !failed)) continue;
      const record = output.startStep({
        index: index++,
        name: stepName(step),
        type: step.type,
        background: step.type === "run" && step.background,
      });
      const result = await runStep(step, record, {
        ...ctx,
        root,
        home,
        workingDirectory,
        env: baseEnv,
        background,
        wrap: sandbox.wrap,
        launch: sandbox.launch,
        confinement: sandbox.confinement,
      });
      const killed = await sandbox.afterStep();
      if (killed) output.write(record.index, killed);
      output.endStep(record, result.status, result.exitCode);
      if (result.status !== "success") failed = true;
      // `circleci-agent step halt`: the job ends here, as it stands (success unless a step failed).
      if (await haltRequested(root)) break;
    }
    if (ssh && !ctx.signal.aborted) {
      const record = output.startStep({ index: index++, name: "Wait for SSH sessions", type: "ssh" });
      await ssh.waitForSessions(ctx.signal, (line) => output.write(record.index, line));
      output.endStep(record, ctx.signal.aborted ? "canceled" : "success", null);
    }
  } finally {
    await ssh?.close().catch(() => undefined);
    // Whatever an SSH server that failed to start left (its entry script holds the variables).
    if (job.ssh) await rm(`${root}.ssh`, { recursive: true, force: true }).catch(() => undefined);
    await Promise.all(background.map((service) => service.stop().catch(() => undefined)));
    await sandbox.close().catch(() => undefined);
    // Nothing of a job outlives it on the builder: the next job starts from a clean slate.
    await Promise.all(
      [root, mountsDir(root)].map((dir) => rm(dir, { recursive: true, force: true }).catch(() => undefined)),
    );
  }
  if (ctx.signal.aborted) return "canceled";
  return failed ? "failed" : "success";
}

export const defaultWorkDir = () => join(homedir(), ".gyre", "work");
