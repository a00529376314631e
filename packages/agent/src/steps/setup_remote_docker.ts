/**
 * `setup_remote_docker`: a Docker engine of the job's own, not the builder's: a private
 * `podman system service` (executor/engine.ts) whose storage, networks and socket live in the
 * job's directory, reachable by the later steps as `DOCKER_HOST=unix://...` (in the sandbox
 * and in a docker executor's container alike, where the job's directory has the same path).
 * It is stopped and its storage deleted when the job ends.
 *
 * The engine runs with the agent's privileges, so a job that uses it can do what the agent's
 * user can do on the builder (`docker run --privileged -v /:/host`): it is off unless the
 * builder's operator sets GYRE_REMOTE_DOCKER=podman, for builders whose jobs are trusted.
 */
import { join } from "node:path";
import { startPodmanEngine } from "../executor/engine.ts";
import type { StepRunner } from "./context.ts";

export const setup_remote_docker: StepRunner<"setup_remote_docker"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  if ((process.env.GYRE_REMOTE_DOCKER ?? "").trim() !== "podman") {
    say(
      "Gyre: this builder does not provide remote Docker engines (its operator can enable them with GYRE_REMOTE_DOCKER=podman; such an engine is not isolated from the builder).\n",
    );
    return { status: "failed", exitCode: null };
  }
  const dir = join(ctx.root, "remote-docker");
  const socket = join(dir, "docker.sock");
  if (ctx.env.DOCKER_HOST === `unix://${socket}`) {
    say(`The remote Docker engine is already running at ${ctx.env.DOCKER_HOST}.\n`);
    return { status: "success", exitCode: 0 };
  }
  if (step.version) say(`Gyre: version ${step.version} is ignored; the engine is this builder's podman.\n`);
  if (step.dockerLayerCaching) say("Gyre: docker_layer_caching is not supported; layers start empty.\n");
  const started = Date.now();
  try {
    const engine = await startPodmanEngine({ dir, socket });
    ctx.background.push({ stop: engine.stop });
  } catch (error) {
    say(`Gyre: could not start a remote Docker engine: ${(error as Error).message}\n`);
    return { status: "failed", exitCode: null };
  }
  // The job's environment object is shared by the steps that follow: they all see DOCKER_HOST.
  ctx.env.DOCKER_HOST = `unix://${socket}`;
  say(
    `Remote Docker engine (podman, its own storage) ready in ${((Date.now() - started) / 1000).toFixed(1)}s at DOCKER_HOST=${ctx.env.DOCKER_HOST}\n`,
  );
  return { status: "success", exitCode: 0 };
};
