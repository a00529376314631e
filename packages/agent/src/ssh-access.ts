/**
 * "Rerun job with SSH" (the reference's "SSH into a running build"): a real OpenSSH server of
 * the job's own, started before its steps, that lets in only the rerunning user's public keys
 * and puts each session in the job's environment: its sandbox (the same command line its
 * steps run under, so the same mounts, cgroup and limits), its working directory and its
 * variables. After the steps the job waits for the user: until GYRE_SSH_GRACE_SECONDS (default
 * 60) after the last session ended with no new one, or until nobody has connected for
 * GYRE_SSH_WAIT_SECONDS (default 600, CircleCI's ten minutes), and never longer than
 * GYRE_SSH_MAX_SECONDS (default two hours) after the steps ended.
 *
 * The server runs as the agent's user, on a port of GYRE_SSH_PORTS (default any free one)
 * and prints the address to use: GYRE_SSH_HOST (the builder's reachable address) or the host
 * name. Its files (host key, authorized keys, the session's entry script, which holds the job's
 * variables) are in a directory only the agent's user can read, outside every mount of the
 * job, removed with the job. Each authorized key is `restrict`ed (no forwarding of any kind)
 * except for a terminal.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { killTree, quote } from "./process.ts";
import type { WrapOptions } from "./sandbox/index.ts";

const run = promisify(execFile);

export interface SshAccessOptions {
  /** A directory of the agent's own (created, 0700, and removed on close). */
  dir: string;
  /** The rerunning user's public key lines. */
  keys: readonly string[];
  /** How a session enters the job: the sandbox's command line for a shell, where, and with what. */
  enter: {
    wrap: (argv: string[], cwd: string, options?: WrapOptions) => string[];
    hostCwd: string;
    jobCwd: string;
    env: Record<string, string>;
  };
  env?: NodeJS.ProcessEnv;
}

export interface SshAccess {
  /** What the job's output says: how to connect. */
  instructions: string;
  /** After the steps: resolves when the user is done (see the header), or at `signal`. */
  waitForSessions(signal: AbortSignal, say: (line: string) => void): Promise<void>;
  close(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";

/** The pids whose parent is in `roots`, transitively (from /proc): sshd's connections and their sessions. */
function descendants(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after the last ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  for (let queue = [root]; queue.length > 0; ) {
    const next = queue.flatMap((p) => parents.get(p) ?? []);
    found.push(...next);
    queue = next;
  }
  return found;
}

/** Kills sshd, its connections and their sessions (they left its process group with setsid). */
function stopAll(sshd: ChildProcess): void {
  const children = sshd.pid ? descendants(sshd.pid) : [];
  killTree(sshd);
  for (const pid of children) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A port of GYRE_SSH_PORTS (`64535-65535`), or any free one. */
async function pickPort(env: NodeJS.ProcessEnv): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(env.GYRE_SSH_PORTS ?? "");
  if (!range) return freePort();
  const [low, high] = [Number(range[1]), Number(range[2])];
  if (!(low >= 1 && high <= 65535 && low <= high))
    throw new Error(`GYRE_SSH_PORTS "${env.GYRE_SSH_PORTS}" is not a port range such as 64535-65535.`);
  return low + Math.floor(Math.random() * (high - low + 1));
}

const seconds = (env: NodeJS.ProcessEnv, name: string, fallback: number) => {
  const value = Number(env[name] ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

export async function openSshAccess(options: SshAccessOptions): Promise<SshAccess> {
  const env = options.env ?? process.env;
  const { dir } = options;
  // The port first: nothing is written for a bad GYRE_SSH_PORTS.
  const port = await pickPort(env);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    return await serve(options, env, port);
  } catch (error) {
    // The entry script holds the job's variables: nothing of it outlives a failed start.
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function serve(options: SshAccessOptions, env: NodeJS.ProcessEnv, port: number): Promise<SshAccess> {
  const { dir, enter } = options;
  const hostKey = join(dir, "host_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "gyre-job", "-f", hostKey]);
  const fingerprint = (await run("ssh-keygen", ["-l", "-f", `${hostKey}.pub`])).stdout.split(" ")[1] ?? "";

  // The session's entry: the job's variables only (`env -i`), then the sandbox's command line.
  const inner =
    'if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"; fi; exec /bin/bash -l';
  const argv = enter.wrap(["/bin/bash", "-c", inner], enter.jobCwd, { terminal: true });
  const vars = Object.entries(enter.env).map(([k, v]) => quote(`${k}=${v}`));
  const script = [
    "#!/bin/sh",
    `cd ${quote(enter.hostCwd)} || exit 1`,
    `exec env -i ${vars.join(" ")} TERM="\${TERM:-xterm}" SSH_ORIGINAL_COMMAND="$SSH_ORIGINAL_COMMAND" ${argv.map(quote).join(" ")}`,
    "",
  ].join("\n");
  const entry = join(dir, "enter.sh");
  await writeFile(entry, script, { mode: 0o700 });
  const authorized = join(dir, "authorized_keys");
  await writeFile(
    authorized,
    options.keys.map((k) => `restrict,pty,command=${JSON.stringify(entry)} ${k}\n`).join(""),
    { mode: 0o600 },
  );
  await chmod(dir, 0o700);

  const user = userInfo().username;
  const config = join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      // One address, bound or not started: another process on the port is never reached instead.
      "ListenAddress 0.0.0.0",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `AllowUsers ${user}`,
      "PidFile none",
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "AllowTcpForwarding no",
      "AllowAgentForwarding no",
      "AllowStreamLocalForwarding no",
      "X11Forwarding no",
      "PermitTunnel no",
      "ClientAliveInterval 30",
      // Connections and disconnections are what the wait counts.
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );

  const sessions = new Set<string>();
  let connected = 0;
  /** When the last session ended (the job ends GYRE_SSH_GRACE_SECONDS after, unless one opens). */
  let lastEnded = 0;
  let changed: () => void = () => {};
  // Its own process group; closing also kills every connection it serves (each in its own session).
  const sshd: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let log = "";
  let partial = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sshd did not start: ${log.trim().slice(-500)}`)),
      10_000,
    );
    sshd.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${SSHD}: ${e.message}`));
    });
    sshd.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`sshd exited: ${log.trim().slice(-500)}`));
    });
    sshd.stderr!.setEncoding("utf8");
    sshd.stderr!.on("data", (chunk: string) => {
      if (log.length < 64 * 1024) log += chunk;
      // Whole lines only: a line may arrive in two chunks.
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (/^Server listening on /.test(line)) {
          clearTimeout(timer);
          resolve();
        }
        const opened = /^Accepted publickey for \S+ from (\S+) port (\d+)/.exec(line);
        if (opened) {
          sessions.add(`${opened[1]}:${opened[2]}`);
          connected++;
          changed();
        }
        const closed =
          /^(?:Disconnected from user \S+|Connection closed by user \S+|Timeout, client not responding from user \S+|Connection reset by user \S+) (\S+) port (\d+)/.exec(
            line,
          );
        if (closed && sessions.delete(`${closed[1]}:${closed[2]}`)) {
          if (sessions.size === 0) lastEnded = Date.now();
          changed();
        }
      }
    });
  }).catch((error) => {
    stopAll(sshd);
    throw error;
  });
  sshd.removeAllListeners("exit");

  const host = env.GYRE_SSH_HOST || hostname();
  const instructions =
    "You can now SSH into this job with your SSH key (the job stays up after its steps until you leave):\n" +
    `    ssh -p ${port} ${user}@${host}\n` +
    `Its host key is ${fingerprint} (ED25519): check it when ssh asks.\n`;

  return {
    instructions,
    async waitForSessions(signal, say) {
      const wait = seconds(env, "GYRE_SSH_WAIT_SECONDS", 600) * 1000;
      const max = seconds(env, "GYRE_SSH_MAX_SECONDS", 7200) * 1000;
      const grace = seconds(env, "GYRE_SSH_GRACE_SECONDS", 60) * 1000;
      const started = Date.now();
      say(
        sessions.size > 0
          ? `Waiting for the ${sessions.size} SSH session(s) to end.\n`
          : connected > 0
            ? `Waiting ${Math.round(grace / 1000)} s for another SSH session.\n`
            : `Waiting up to ${Math.round(wait / 1000)} s for an SSH session.\n`,
      );
      await new Promise<void>((resolve) => {
        const done = (why: string) => {
          clearInterval(tick);
          signal.removeEventListener("abort", abort);
          changed = () => {};
          say(why);
          resolve();
        };
        const check = () => {
          const now = Date.now();
          // A session ended: the job ends after a short grace, unless another one opens.
          if (connected > 0 && sessions.size === 0 && now - lastEnded >= grace)
            done("The SSH session ended: the job ends.\n");
          else if (connected === 0 && now - started >= wait)
            done(`Nobody connected over SSH within ${Math.round(wait / 1000)} s: the job ends.\n`);
          else if (now - started >= max)
            done(`The job reached the ${Math.round(max / 1000)} s an SSH rerun may stay up: it ends.\n`);
        };
        const abort = () => done("The job was stopped.\n");
        const tick = setInterval(check, 1000);
        changed = check;
        signal.addEventListener("abort", abort, { once: true });
        check();
      });
    },
    async close() {
      stopAll(sshd);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
