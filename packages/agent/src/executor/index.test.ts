import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { Executor } from "@gyre/core/config/plan";
import { afterAll, describe, expect, it } from "vitest";
import { type Launcher, runProcess } from "../process.ts";
import type { SandboxPolicy } from "../sandbox/index.ts";
import { CIRCLECI_RESOURCE_CLASSES } from "../sandbox/resources.ts";
import type { StepContext } from "../steps/context.ts";
import { dockerClient, dockerEndpoint, serviceName } from "./docker.ts";
import { dockerFallbackFromEnv, openJobEnvironment } from "./index.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the Docker engine's address", () => {
  it("is GYRE_DOCKER_SOCKET, else DOCKER_HOST, else the default socket", () => {
    expect(dockerEndpoint({ GYRE_DOCKER_SOCKET: "/run/a.sock", DOCKER_HOST: "tcp://b:2375" })).toBe(
      "/run/a.sock",
    );
    expect(dockerEndpoint({ DOCKER_HOST: "unix:///run/b.sock" })).toBe("unix:///run/b.sock");
    expect(dockerEndpoint({})).toBe("/var/run/docker.sock");
  });

  it("becomes a client for a socket path, unix:// and tcp://", () => {
    const modem = (endpoint: string) =>
      dockerClient(endpoint).modem as unknown as { socketPath?: string; host?: string; port?: number };
    expect(modem("/run/a.sock").socketPath).toBe("/run/a.sock");
    expect(modem("unix:///run/b.sock").socketPath).toBe("/run/b.sock");
    const tcp = modem("tcp://engine:2376");
    expect([tcp.host, tcp.port]).toEqual(["engine", 2376]);
    expect(() => dockerClient("ssh://engine")).toThrow(/Unsupported Docker endpoint/);
  });
});

describe("GYRE_DOCKER_FALLBACK", () => {
  it("defaults to the sandbox and accepts only sandbox or fail", () => {
    expect(dockerFallbackFromEnv({})).toBe("sandbox");
    expect(dockerFallbackFromEnv({ GYRE_DOCKER_FALLBACK: "fail" })).toBe("fail");
    expect(() => dockerFallbackFromEnv({ GYRE_DOCKER_FALLBACK: "host" })).toThrow(/"sandbox" or "fail"/);
  });
});

it("names a service by its name, else by its image", () => {
  expect(serviceName({ image: "cimg/postgres:16.2", name: "db", environment: {} })).toBe("db");
  expect(serviceName({ image: "registry.example.com/team/redis:7@sha256:abc", environment: {} })).toBe(
    "redis",
  );
});

describe("a docker job without a reachable engine", () => {
  const policy: SandboxPolicy = {
    bwrap: { missing: "not in this test" },
    network: "host",
    allowUnsandboxed: true,
    classes: CIRCLECI_RESOURCE_CLASSES,
    system: [],
    masked: [],
    hidden: [],
    shared: [],
    cgroups: false,
  };
  const executor: Executor = { type: "docker", images: [{ image: "cimg/base:stable", environment: {} }] };
  const place = () => {
    const root = mkdtempSync(join(tmpdir(), "gyre-executor-"));
    dirs.push(root);
    return {
      root,
      home: join(root, "home"),
      resourceClass: "medium",
      repoUrl: "/nowhere",
      mounts: [{ at: "/tmp", host: join(root, "tmp") }],
      executor,
      env: {},
      configured: {},
    };
  };
  const nowhere = { GYRE_DOCKER_SOCKET: "/nonexistent/docker.sock" };

  it("runs on the host and says so first, naming the image", async () => {
    const opened = await openJobEnvironment(policy, place(), nowhere);
    expect(opened.refusal).toBeUndefined();
    expect(opened.launch).toBeUndefined();
    expect(opened.warning!.split("\n")[0]).toBe(
      "Gyre: this builder cannot provide the docker executor yet; running on the host in a fresh working directory instead of docker image cimg/base:stable.",
    );
    expect(opened.warning).toContain("no Docker engine answers at /nonexistent/docker.sock (connect ENOENT");
  });

  it("is refused as an infrastructure problem with GYRE_DOCKER_FALLBACK=fail", async () => {
    const opened = await openJobEnvironment(policy, place(), { ...nowhere, GYRE_DOCKER_FALLBACK: "fail" });
    expect(opened.refusal).toMatch(
      /^Gyre: infrastructure problem: this job needs the docker executor \(image cimg\/base:stable\)/,
    );
  });
});

describe("runProcess through a launcher", () => {
  function context(launch: Launcher) {
    const written: string[] = [];
    const ctx = {
      output: { write: (_: number, text: string) => written.push(text) },
      signal: new AbortController().signal,
      background: [],
      wrap: (argv: string[]) => argv,
      launch,
    } as unknown as StepContext;
    return { ctx, written };
  }
  const record = { index: 1 } as never;

  it("streams both outputs and reports the exit code the launcher gives", async () => {
    const { ctx, written } = context(async () => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      setTimeout(() => {
        stdout.end("out\n");
        stderr.end("err\n");
      }, 5);
      return {
        stdout,
        stderr,
        exit: new Promise((r) => setTimeout(() => r({ code: 4, signal: null }), 20)),
        kill() {},
      };
    });
    const result = await runProcess(["x"], record, ctx, { cwd: "/", env: {}, noOutputTimeout: 5 });
    expect(result).toEqual({ status: "failed", exitCode: 4 });
    expect(written.join("")).toBe("out\nerr\n\nExited with code 4\n");
  });

  it("kills a silent process through the launcher and reports a timeout", async () => {
    let killed = false;
    const { ctx, written } = context(async () => {
      let end: (v: { code: number | null; signal: string | null }) => void = () => undefined;
      const exit = new Promise<{ code: number | null; signal: string | null }>((r) => {
        end = r;
      });
      return {
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        exit,
        kill() {
          killed = true;
          end({ code: 137, signal: null });
        },
      };
    });
    const result = await runProcess(["x"], record, ctx, { cwd: "/", env: {}, noOutputTimeout: 0.05 });
    expect(killed).toBe(true);
    expect(result).toEqual({ status: "timedout", exitCode: null });
    expect(written.join("")).toContain("Too long with no output (exceeded 0.05s)");
  });

  it("fails the step when the launcher cannot start it", async () => {
    const { ctx, written } = context(async () => {
      throw new Error("Could not start x: no such container");
    });
    expect(await runProcess(["x"], record, ctx, { cwd: "/", env: {}, noOutputTimeout: 5 })).toEqual({
      status: "failed",
      exitCode: null,
    });
    expect(written).toEqual(["Could not start x: no such container\n"]);
  });
});
