/**
 * The docker executor, through the Docker Engine API (Docker, or `podman system service`).
 * One job is one network and a set of containers:
 * - the primary container (`docker[0]`) sleeps; every step is one exec in it, with the step's
 *   environment and working directory, its output streamed like a local process's
 *   (process.ts `runProcess` through this file's launcher);
 * - the job's directory is bind-mounted at the same path (its `tmp` as /tmp), so HOME, the
 *   working directory and the file steps the agent runs on the host stay what they are in
 *   the sandbox; a local repository to check out is bind-mounted read-only;
 * - service containers (`docker[1..]`) share the primary's network namespace, as on
 *   CircleCI: a service is reachable on `localhost` and by its `name`;
 * - the job's resource class limits the primary container (memory, CPUs, processes);
 * - everything is removed at the end, also after a failure or a cancel.
 *
 * Configured per agent by environment: GYRE_DOCKER_SOCKET (a socket path, `unix://path` or
 * `tcp://host:port`; otherwise DOCKER_HOST; otherwise /var/run/docker.sock).
 */
import { readdirSync, readFileSync } from "node:fs";
import { chown, stat } from "node:fs/promises";
import { basename } from "node:path";
import { PassThrough } from "node:stream";
import type { DockerImage } from "@gyre/core/config/plan";
import Docker from "dockerode";
import type { Launched, Launcher } from "../process.ts";
import { formatMemory, type ResourceLimits } from "../sandbox/resources.ts";
import { isInside } from "../steps/paths.ts";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/** Where the agent's Docker engine is: GYRE_DOCKER_SOCKET, else DOCKER_HOST, else the default socket. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.GYRE_DOCKER_SOCKET?.trim() || env.DOCKER_HOST?.trim() || DEFAULT_DOCKER_SOCKET;
}

/** A client for `endpoint` (a socket path, `unix://path`, `tcp://host:port` or `http://host:port`). */
export function dockerClient(endpoint: string): Docker {
  if (endpoint.startsWith("/")) return new Docker({ socketPath: endpoint });
  const url = new URL(endpoint);
  if (url.protocol === "unix:") return new Docker({ socketPath: url.pathname });
  if (url.protocol === "tcp:" || url.protocol === "http:")
    return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: "http" });
  throw new Error(`Unsupported Docker endpoint ${endpoint}: use a socket path, unix://, tcp:// or http://.`);
}

/** Whether the engine answers `_ping` within `timeoutMs`; when not, why. */
export async function pingEngine(docker: Docker, timeoutMs = 3000): Promise<{ unreachable?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([docker.ping(), timeout]);
    return {};
  } catch (error) {
    return { unreachable: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export interface DockerJobSpec {
  images: DockerImage[];
  /** The allocation's directory (bind-mounted at the same path) and its HOME. */
  root: string;
  home: string;
  /** The job's /tmp on the host (inside root). */
  tmp: string;
  /** A local repository to mount read-only for `checkout`, if any. */
  repository?: string;
  limits: ResourceLimits;
  /** Variables the agent puts in every job from its own environment (PATH, LANG, USER): a container has its own. */
  hostEnv: Record<string, string>;
  /** What the project, contexts and config set: a host variable set there is kept as it is. */
  configured: Record<string, string>;
  /** Says a line in "Spin up environment". */
  say: (line: string) => void;
}

export interface DockerJob {
  /** "Docker: image X (pulled|local), services: a, b" and the limits. */
  summary: string;
  launch: Launcher;
  /** Removes the containers and the network. */
  close(): Promise<void>;
}

const LABEL = "dev.gyre.allocation";

/** The name a service is reachable by: its `name`, else the image's name without registry and tag. */
export function serviceName(image: DockerImage): string {
  if (image.name) return image.name;
  const last = image.image.split("/").pop() ?? image.image;
  return last.split(/[:@]/)[0]!;
}

/** Uses the image when the engine has it, else pulls it (with the image's credentials). */
async function ensureImage(docker: Docker, image: DockerImage, say: (line: string) => void): Promise<string> {
  const present = await docker
    .getImage(image.image)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (present) return "local";
  if (image.awsAuth) say(`Gyre: aws_auth is not supported yet; pulling ${image.image} without credentials.`);
  say(`Pulling ${image.image}...`);
  const auth = image.auth ? { username: image.auth.username, password: image.auth.password } : undefined;
  const stream = await docker.pull(image.image, auth ? { authconfig: auth } : {});
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
      const failed = error?.message ?? events?.find((e) => e.error)?.error;
      if (failed) reject(new Error(`Could not pull ${image.image}: ${failed}`));
      else resolve();
    }),
  );
  return "pulled";
}

const envList = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v}`);

/**
 * Kills `pid` and its descendants on this host when `pid` is a process of `containerId` here (a
 * local engine's exec: its cgroup names the container); false otherwise.
 */
function killHostTree(pid: number, containerId: string): boolean {
  try {
    if (!readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(containerId)) return false;
  } catch {
    return false;
  }
  const children = new Map<number, number[]>();
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return false;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  for (const p of tree) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return true;
}

/** Creates the job's network and containers; every step then runs through `launch`. */
export async function openDockerJob(docker: Docker, spec: DockerJobSpec): Promise<DockerJob> {
  const [primaryImage, ...serviceImages] = spec.images;
  if (!primaryImage) throw new Error("The docker executor needs at least one image.");
  const id = basename(spec.root);
  const labels = { [LABEL]: id };
  const containers: Docker.Container[] = [];
  let network: Docker.Network | undefined;

  const close = async () => {
    for (const container of containers.reverse())
      await container.remove({ force: true, v: true }).catch(() => undefined);
    await network?.remove().catch(() => undefined);
  };

  try {
    const pulled = new Map<string, string>();
    for (const image of spec.images)
      if (!pulled.has(image.image)) pulled.set(image.image, await ensureImage(docker, image, spec.say));

    network = await docker.createNetwork({ Name: `gyre-${id}`, Labels: labels });
    const services = serviceImages.map(serviceName);
    const binds = [`${spec.root}:${spec.root}`, `${spec.tmp}:/tmp`];
    if (spec.repository) binds.push(`${spec.repository}:${spec.repository}:ro`);
    const primary = await docker.createContainer({
      name: `gyre-${id}`,
      Image: primaryImage.image,
      // Sleeps until removed; the extra arguments an image's CMD might add are ignored.
      Entrypoint: [
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done",
        "gyre",
      ],
      Cmd: [],
      Env: envList({ ...primaryImage.environment, HOME: spec.home }),
      ...(primaryImage.user ? { User: primaryImage.user } : {}),
      Labels: labels,
      HostConfig: {
        NetworkMode: network.id,
        Binds: binds,
        ExtraHosts: services.map((name) => `${name}:127.0.0.1`),
        Memory: spec.limits.memoryMb * 1024 * 1024,
        MemorySwap: spec.limits.memoryMb * 1024 * 1024,
        NanoCpus: Math.round(spec.limits.cpus * 1e9),
        PidsLimit: spec.limits.pids,
      },
    });
    containers.push(primary);
    await primary.start();
    let owner: { uid: number; gid: number } | undefined;
    if (primaryImage.user) {
      // The job's directory belongs to the image's user, as HOME does on CircleCI; so do the
      // step scripts the agent writes there later (see launch).
      await execToEnd(docker, primary, ["chown", "-R", primaryImage.user, spec.root], "0").catch(
        () => undefined,
      );
      const { uid, gid } = await stat(spec.home);
      if (uid !== process.getuid?.()) owner = { uid, gid };
    }

    for (const [i, image] of serviceImages.entries()) {
      const service = await docker.createContainer({
        name: `gyre-${id}-${i + 1}`,
        Image: image.image,
        Env: envList(image.environment),
        ...(image.entrypoint ? { Entrypoint: image.entrypoint } : {}),
        ...(image.command ? { Cmd: image.command } : {}),
        ...(image.user ? { User: image.user } : {}),
        Labels: labels,
        HostConfig: { NetworkMode: `container:${primary.id}` },
      });
      containers.push(service);
      await service.start();
    }

    const sizes = `memory ${formatMemory(spec.limits.memoryMb)}, pids ${spec.limits.pids}, ${spec.limits.cpus} vCPU`;
    const summary = [
      `Docker: image ${primaryImage.image} (${pulled.get(primaryImage.image)})${
        services.length ? `, services: ${services.join(", ")}` : ""
      }`,
      `Container: ${primary.id.slice(0, 12)} on network gyre-${id}, ${sizes}`,
    ].join("\n");

    const hostOnly = Object.keys(spec.hostEnv).filter((k) => !(k in spec.configured));
    const imagePath =
      ((await primary.inspect()).Config.Env ?? []).find((e) => e.startsWith("PATH="))?.slice(5) ||
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const launch: Launcher = async (argv, place) => {
      const env = { ...place.env };
      // The agent's own PATH, LANG and USER mean nothing in the image: the image's apply. The
      // job's own directories on the agent's PATH (its tools) stay in front.
      for (const key of hostOnly) {
        if (env[key] !== spec.hostEnv[key]) continue;
        if (key !== "PATH") delete env[key];
        else
          env.PATH = [...env.PATH!.split(":").filter((d) => d && isInside(d, spec.root)), imagePath].join(
            ":",
          );
      }
      if (owner)
        for (const arg of argv)
          if (isInside(arg, spec.root)) await chown(arg, owner.uid, owner.gid).catch(() => undefined);
      if (!isInside(place.jobCwd, spec.root) && !isInside(place.jobCwd, "/tmp"))
        await execToEnd(docker, primary, ["mkdir", "-p", place.jobCwd], primaryImage.user).catch(
          () => undefined,
        );
      return startExec(docker, primary, argv, { env, cwd: place.jobCwd, user: primaryImage.user });
    };
    return { summary: `${summary}\n`, launch, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs one exec in `container` and streams it as a Launched process. */
async function startExec(
  docker: Docker,
  container: Docker.Container,
  argv: string[],
  options: { env: Record<string, string>; cwd: string; user?: string },
): Promise<Launched> {
  const exec = await container.exec({
    Cmd: argv,
    Env: envList(options.env),
    WorkingDir: options.cwd,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    ...(options.user ? { User: options.user } : {}),
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(stream, stdout, stderr);
  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  const exit = ended.then(async () => {
    stdout.end();
    stderr.end();
    const info = await exec.inspect().catch(() => undefined);
    if (!info || info.Running) return { code: null, signal: "SIGKILL" };
    return { code: info.ExitCode ?? null, signal: null };
  });
  const kill = () => {
    void exec
      .inspect()
      .then((info) => {
        // A local engine's exec is a process on this host: kill it and what it started.
        if (info.Running && info.Pid && killHostTree(info.Pid, container.id)) return;
        stream.destroy();
      })
      .catch(() => stream.destroy());
  };
  return { stdout, stderr, exit, kill };
}

/** Runs a short command in `container` and waits for it; rejects when it fails. */
async function execToEnd(docker: Docker, container: Docker.Container, argv: string[], user?: string) {
  const launched = await startExec(docker, container, argv, { env: {}, cwd: "/", user });
  launched.stdout.resume();
  launched.stderr.resume();
  const { code } = await launched.exit;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}`);
}
