/**
 * A private Docker-compatible engine: `podman system service` with its own configuration,
 * storage root, run root, locks, networks and unix socket, all below one directory. Nothing
 * is shared with the builder's engine or another private engine, so stopping it and deleting
 * the directory removes everything it made. Used by `setup_remote_docker` (a job's own
 * engine) and by the tests (the builder's engine).
 *
 * Runs podman with runc and cgroupfs (crun and systemd do not work on every builder, such as
 * a hybrid cgroup v1 host), file-based locks (the default shared-memory locks would collide
 * with other podman instances) and CircleCI's ulimits.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PodmanEngine {
  /** The API's unix socket. */
  socket: string;
  /** The environment that points the podman CLI at this engine's configuration. */
  env: Record<string, string>;
  /** Removes its containers, stops the service, unmounts and deletes its directory. */
  stop(): Promise<void>;
}

export interface PodmanEngineOptions {
  /** Everything of the engine lives below this directory (deleted by stop). */
  dir: string;
  /** The socket path (default `<dir>/docker.sock`; a unix socket path must stay under 108 bytes). */
  socket?: string;
  /** The default network's name and IPv4 /24 (default: a free 10.214.N.0/24). */
  network?: { name: string; subnet: string };
  /** How long to wait for the API to answer (default 30 s). */
  timeoutMs?: number;
}

/** `_ping` on a unix socket: true when it answers OK. */
export function pingSocket(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: "/_ping", timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve(res.statusCode === 200 && body.trim() === "OK"));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** A 10.214.N.0/24 that no route on this host uses yet. */
function freeSubnet(seed: string): string {
  const used = new Set<string>();
  try {
    for (const line of readFileSync("/proc/net/route", "utf8").split("\n").slice(1)) {
      const hex = line.split("\t")[1];
      if (hex?.length !== 8) continue;
      const bytes = hex
        .match(/../g)!
        .map((h) => Number.parseInt(h, 16))
        .reverse();
      used.add(bytes.slice(0, 3).join("."));
    }
  } catch {
    // no route table: take the first candidate
  }
  let start = 0;
  for (const c of seed) start = (start * 31 + c.charCodeAt(0)) % 250;
  for (let i = 0; i < 250; i++) {
    const n = ((start + i) % 250) + 1;
    if (!used.has(`10.214.${n}`)) return `10.214.${n}.0/24`;
  }
  return `10.214.${start + 1}.0/24`;
}

const toml = (s: string) => JSON.stringify(s);

/** Starts a private podman engine below `options.dir` and waits until its API answers. */
export async function startPodmanEngine(options: PodmanEngineOptions): Promise<PodmanEngine> {
  const dir = options.dir;
  const socket = options.socket ?? join(dir, "docker.sock");
  const id = dir.split("/").filter(Boolean).slice(-2).join("-");
  const network = options.network ?? {
    name: `gyre-${id}`.replace(/[^a-zA-Z0-9_.-]/g, "-").slice(0, 60),
    subnet: freeSubnet(dir),
  };
  await mkdir(join(dir, "tmp"), { recursive: true });
  await writeFile(
    join(dir, "containers.conf"),
    [
      "[containers]",
      `default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]`,
      "[engine]",
      `runtime = "runc"`,
      `cgroup_manager = "cgroupfs"`,
      `events_logger = "file"`,
      `events_logfile_path = ${toml(join(dir, "events.log"))}`,
      `lock_type = "file"`,
      // How long an exec's conmon waits before cleaning it up (default 5 min, a process each).
      "exit_command_delay = 20",
      `tmp_dir = ${toml(join(dir, "tmp"))}`,
      "[network]",
      `network_config_dir = ${toml(join(dir, "networks"))}`,
      `default_network = ${toml(network.name)}`,
      `default_subnet = ${toml(network.subnet)}`,
      "",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "storage.conf"),
    [
      "[storage]",
      `driver = "overlay"`,
      `graphroot = ${toml(join(dir, "storage"))}`,
      `runroot = ${toml(join(dir, "run"))}`,
      "",
    ].join("\n"),
  );
  const env = {
    CONTAINERS_CONF: join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
  };
  const log = openSync(join(dir, "service.log"), "a");
  const service: ChildProcess = spawn("podman", ["system", "service", "--time=0", `unix://${socket}`], {
    env: { ...process.env, ...env },
    stdio: ["ignore", log, log],
    detached: true,
  });
  const exited = new Promise<string>((resolve) => {
    service.on("error", (error) => resolve(error.message));
    service.on("exit", (code, signal) => resolve(`exited with ${code ?? signal}`));
  });
  let gone: string | undefined;
  void exited.then((why) => {
    gone = why;
  });

  const podman = (...args: string[]) =>
    run("podman", args, { env: { ...process.env, ...env }, timeout: 60_000 }).catch(() => undefined);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!gone) {
      await podman("rm", "--all", "--force", "--time", "0");
      try {
        process.kill(-service.pid!, "SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-service.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(killer);
    }
    // Deletes images, volumes and networks, and unmounts the storage.
    await podman("system", "reset", "--force");
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (await pingSocket(socket)) return { socket, env, stop };
    if (gone || Date.now() > deadline) {
      const why = gone ?? "no answer in time";
      let tail = "";
      try {
        tail = readFileSync(join(dir, "service.log"), "utf8").trim().split("\n").slice(-3).join("\n");
      } catch {
        // no log
      }
      await stop();
      throw new Error(`podman system service ${why}${tail ? `: ${tail}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Lazily unmounts whatever is still mounted below `dir` (deepest first). */
async function unmountBelow(dir: string): Promise<void> {
  let mounts: string[] = [];
  try {
    mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .map((l) => (l.split(" ")[1] ?? "").replace(/\\040/g, " "))
      .filter((m) => m === dir || m.startsWith(`${dir}/`));
  } catch {
    return;
  }
  for (const mount of mounts.sort((a, b) => b.length - a.length))
    await run("umount", ["-l", mount]).catch(() => undefined);
}
