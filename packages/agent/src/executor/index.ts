/**
 * Where a job's steps run: the executor this builder gives a job.
 * - `docker` with a reachable Docker engine: containers (docker.ts), every step an exec.
 * - `docker` without an engine: by GYRE_DOCKER_FALLBACK, `sandbox` (the default, and what the
 *   local runtime uses) runs the job in the bubblewrap sandbox on the host and says so first;
 *   `fail` (builders that must honour images, such as AWS builders) fails it as an
 *   infrastructure problem.
 * - everything else (machine; macos and windows, which no builder provides): the sandbox.
 */
import { existsSync, realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Executor } from "@gyre/core/config/plan";
import type { Launcher } from "../process.ts";
import {
  type JobPlace,
  type JobSandbox,
  localRepository,
  openSandbox,
  type SandboxPolicy,
} from "../sandbox/index.ts";
import { limitsFor } from "../sandbox/resources.ts";
import { dockerClient, dockerEndpoint, openDockerJob, pingEngine } from "./docker.ts";

export type DockerFallback = "sandbox" | "fail";

export function dockerFallbackFromEnv(env: NodeJS.ProcessEnv = process.env): DockerFallback {
  const value = (env.GYRE_DOCKER_FALLBACK || "sandbox").trim();
  if (value !== "sandbox" && value !== "fail")
    throw new Error(`GYRE_DOCKER_FALLBACK must be "sandbox" or "fail", not "${value}".`);
  return value;
}

/** A job's sandbox, or its containers: how its steps start (`launch`, else `wrap`). */
export interface JobEnvironment extends JobSandbox {
  launch?: Launcher;
}

export interface EnvironmentSpec extends JobPlace {
  executor?: Executor;
  /** The job's environment as the agent made it (its PATH, LANG and USER come from the builder). */
  env: Record<string, string>;
  /** The variables the project, contexts and config set (kept as they are in a container). */
  configured: Record<string, string>;
}

/** The first line of a docker job that runs on the host instead (kept as it always was). */
export const dockerOnHostNote = (image: string) =>
  `Gyre: this builder cannot provide the docker executor yet; running on the host in a fresh working directory instead of docker image ${image}.\n`;

/** Opens the job's executor: its containers, its sandbox, or a refusal saying why it cannot run. */
export async function openJobEnvironment(
  policy: SandboxPolicy,
  spec: EnvironmentSpec,
  agentEnv: NodeJS.ProcessEnv = process.env,
): Promise<JobEnvironment> {
  if (spec.executor?.type !== "docker") return openSandbox(policy, spec);
  const image = spec.executor.images[0]?.image ?? "(none)";
  const endpoint = dockerEndpoint(agentEnv);
  let unreachable: string | undefined;
  let docker: ReturnType<typeof dockerClient> | undefined;
  try {
    docker = dockerClient(endpoint);
    unreachable = (await pingEngine(docker)).unreachable;
  } catch (error) {
    unreachable = (error as Error).message;
  }
  if (!docker || unreachable) {
    const why = `Gyre: no Docker engine answers at ${endpoint} (${unreachable}).\n`;
    if (dockerFallbackFromEnv(agentEnv) === "fail") {
      const refusal = `Gyre: infrastructure problem: this job needs the docker executor (image ${image}) but no Docker engine answers at ${endpoint} (${unreachable}), and this builder does not run docker jobs without one (GYRE_DOCKER_FALLBACK=fail). The job did not run; retry it, and tell the builder's operator if this persists.\n`;
      return {
        warning: refusal,
        summary: "Docker: unavailable\n",
        refusal,
        wrap: (argv) => argv,
        afterStep: async () => undefined,
        close: async () => undefined,
      };
    }
    const sandbox = await openSandbox(policy, spec);
    return { ...sandbox, warning: `${dockerOnHostNote(image)}${why}${sandbox.warning ?? ""}` };
  }

  const lines: string[] = [];
  const { name, limits, fallback } = limitsFor(policy.classes, spec.resourceClass);
  if (fallback)
    lines.push(`Resource class ${spec.resourceClass} has no size on this builder; using ${name}'s limits.`);
  const tmp = join(spec.root, "tmp");
  await mkdir(tmp, { recursive: true });
  const repo = localRepository(spec.repoUrl);
  try {
    const job = await openDockerJob(docker, {
      images: spec.executor.images,
      root: spec.root,
      home: spec.home,
      tmp,
      ...(repo && existsSync(repo) ? { repository: realpathSync(repo) } : {}),
      limits,
      hostEnv: pick(spec.env, ["PATH", "LANG", "USER"]),
      configured: spec.configured,
      say: (line) => lines.push(line),
    });
    return {
      summary: `${[...lines, job.summary.trimEnd()].join("\n")} (resource class ${name})\n`,
      wrap: (argv) => argv,
      launch: job.launch,
      afterStep: async () => undefined,
      close: job.close,
      // A container keeps its own filesystem across steps: only /tmp is the job's directory.
      confinement: { root: spec.root, mounts: [{ at: "/tmp", host: tmp }] },
    };
  } catch (error) {
    const refusal = `Gyre: could not start the docker executor at ${endpoint}: ${(error as Error).message}\n`;
    return {
      warning: refusal,
      summary: `${lines.join("\n")}${lines.length ? "\n" : ""}Docker: failed to start\n`,
      refusal,
      wrap: (argv) => argv,
      afterStep: async () => undefined,
      close: async () => undefined,
    };
  }
}

const pick = (env: Record<string, string>, keys: string[]) =>
  Object.fromEntries(keys.filter((k) => env[k] !== undefined).map((k) => [k, env[k]!]));
