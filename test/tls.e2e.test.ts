/**
 * The local server over HTTPS (`gyre start --tls-cert --tls-key`): its URL is https://, the
 * local builders trust its certificate and run jobs end to end over it, the CLI reaches it with
 * GYRE_CA_BUNDLE (and not without), and session cookies are `Secure`. The key never leaves its
 * file: a --tls-cert file holding one is refused, and the builders' bundle holds certificates only.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_OAUTH_APP, type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { dispatcherFor, fetch as networkFetch } from "@gyre/core/network/fetch";
import { updateSettings } from "@gyre/core/settings/index";
import { selfSignedCertificate, testCertificateAuthority } from "@gyre/core/test-tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "../packages/cli/src/client.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { builderCaBundle, readTlsCertificate } from "../packages/cli/src/local/tls.ts";
import { gitRepo, tempDir, waitFor } from "./support.ts";

const CLI = join(import.meta.dirname, "..", "packages", "cli", "src", "main.ts");
const pair = selfSignedCertificate();

function pemFiles(tls: { cert: string; key: string }) {
  const dir = tempDir("tls");
  writeFileSync(join(dir, "cert.pem"), tls.cert);
  writeFileSync(join(dir, "key.pem"), tls.key, { mode: 0o600 });
  return { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}

/** Runs the CLI to its end: exit code and everything it said. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((ok) => {
    let output = "";
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
      env: { ...process.env, GYRE_CA_BUNDLE: undefined, NODE_EXTRA_CA_CERTS: undefined, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("exit", (code) => ok({ code, output }));
  });
}

describe.skipIf(!pair)("gyre start --tls-cert --tls-key", () => {
  it("serves https://, says how to point the CLI at it, and the CLI reaches it with GYRE_CA_BUNDLE only", async () => {
    const files = pemFiles(pair!);
    const dataDir = tempDir("tls-start");
    let output = "";
    const child = spawn(
      process.execPath,
      [
        ...[
          "--import",
          "tsx",
          CLI,
          "start",
          "--port",
          "0",
          "--data-dir",
          dataDir,
          "--agents",
          "0",
          "--no-demo",
        ],
        ...["--tls-cert", files.cert, "--tls-key", files.key],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exit = new Promise((ok) => child.on("exit", ok));
    try {
      const line = await waitFor(
        "the banner",
        async () => /^For the CLI in another shell: {2}export (.*)$/m.exec(output)?.[1],
      );
      const url = /^Gyre is running at (\S+)$/m.exec(output)![1]!;
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const env = Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
      expect(env).toEqual({
        GYRE_URL: url,
        GYRE_DATA_DIR: dataDir,
        GYRE_CA_BUNDLE: join(dataDir, "builder-ca.pem"),
      });
      expect(await cli(["nomad", "node", "status"], { ...env, GYRE_TOKEN: undefined })).toEqual({
        code: 0,
        output: "No nodes registered\n",
      });
      const refused = await cli(["nomad", "node", "status"], {
        ...env,
        GYRE_CA_BUNDLE: undefined,
        GYRE_TOKEN: undefined,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/Cannot reach Gyre at https:\/\/127\.0\.0\.1:\d+ \(fetch failed\)/);
    } finally {
      child.kill("SIGINT");
      await exit;
    }
  });

  it("refuses a lone --tls-cert, a key of another certificate, and a certificate for another host, before starting", async () => {
    const files = pemFiles(pair!);
    const start = (...args: string[]) =>
      cli(["start", "--port", "0", "--data-dir", tempDir("tls-bad"), ...args], {});
    expect((await start("--tls-cert", files.cert)).output).toContain("--tls-cert and --tls-key go together");
    const other = pemFiles(selfSignedCertificate()!);
    expect((await start("--tls-cert", files.cert, "--tls-key", other.key)).output).toContain(
      `--tls-key ${other.key} is not the key of the certificate in ${files.cert}`,
    );
    const ca = testCertificateAuthority()!;
    const elsewhere = pemFiles(ca.issue(["gyre.example.com"]));
    const answer = await start("--tls-cert", elsewhere.cert, "--tls-key", elsewhere.key);
    expect(answer.code).not.toBe(0);
    expect(answer.output).toContain("names neither IP 127.0.0.1 nor localhost");
  });

  it("refuses a --tls-cert file that holds the private key too, and copies the key nowhere", async () => {
    const dataDir = tempDir("tls-both");
    const both = join(tempDir("tls"), "server.pem");
    writeFileSync(both, `${pair!.cert}${pair!.key}`, { mode: 0o600 });
    const answer = await cli(
      ["start", "--port", "0", "--data-dir", dataDir, "--agents", "0", "--no-demo"].concat([
        "--tls-cert",
        both,
        "--tls-key",
        both,
      ]),
      {},
    );
    expect(answer.code).not.toBe(0);
    expect(answer.output).toContain("--tls-cert holds a private key: give the certificate alone");
    expect(existsSync(join(dataDir, "builder-ca.pem"))).toBe(false);
  });
});

describe.skipIf(!pair)("the certificate and key files", () => {
  it("warns of a --tls-key file others can read, and keeps only the certificate blocks", async () => {
    const files = pemFiles(pair!);
    const warnings: string[] = [];
    expect(await readTlsCertificate(files.cert, files.key, (m) => warnings.push(m))).toEqual(pair);
    expect(warnings).toEqual([]);
    const open = join(tempDir("tls"), "key.pem");
    writeFileSync(open, pair!.key, { mode: 0o644 });
    const chained = join(tempDir("tls"), "cert.pem");
    writeFileSync(chained, `# the server's certificate\n${pair!.cert}`);
    const tls = await readTlsCertificate(chained, open, (m) => warnings.push(m));
    expect(tls.cert).toBe(pair!.cert);
    expect(warnings).toEqual([
      `Warning: --tls-key ${open} can be read by other users (mode 0644): chmod 600 it.`,
    ]);
  });

  it("writes builder-ca.pem with certificate blocks only, whatever it is given, readable by all", async () => {
    const ca = testCertificateAuthority()!;
    const server = ca.issue(["127.0.0.1"]);
    const dataDir = tempDir("tls-bundle");
    // A key that came along: in the certificate handed over and in the operator's GYRE_CA_BUNDLE.
    const bundle = join(tempDir("tls"), "corporate.pem");
    writeFileSync(bundle, `${ca.cert}${server.key}`);
    // An earlier bundle (one written before this check, with a key in it) is replaced whole.
    writeFileSync(join(dataDir, "builder-ca.pem"), pair!.key, { mode: 0o644 });
    const file = await builderCaBundle(
      dataDir,
      { cert: `${pair!.cert}${pair!.key}`, key: pair!.key },
      {
        GYRE_CA_BUNDLE: bundle,
      },
    );
    expect(file).toBe(join(dataDir, "builder-ca.pem"));
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain("PRIVATE KEY");
    expect(text).toBe(`${ca.cert}${pair!.cert}`);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("644");
  });
});

describe.skipIf(!pair)("the local runtime over TLS", () => {
  let runtime: LocalRuntime;
  let github: GithubStandIn;
  let client: Client;

  beforeAll(async () => {
    [runtime, github] = await Promise.all([
      startLocalRuntime({ dataDir: tempDir("tls-runtime"), port: 0, tls: pair! }),
      startGithubStandIn(),
    ]);
    client = new Client(runtime.url, runtime.adminToken, { ca: runtime.ca });
  });
  afterAll(async () => {
    await runtime?.stop();
    await github?.close();
  });

  it("runs a job end to end: the builder registers, claims, streams output and finishes over https://", async () => {
    expect(runtime.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Not trusted without the certificate.
    const plain = await fetch(`${runtime.url}/healthz`).catch(
      (e: Error & { cause?: { code?: string } }) => e,
    );
    expect((plain as { cause?: { code?: string } }).cause?.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);

    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run: echo "talking to $GYRE_API_URL"
workflows:
  main:
    jobs: [build]
`,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug: "gh/acme/tls" });
    const { id } = await client.post<{ id: string }>("/api/v2/project/gh/acme/tls/pipeline", {
      branch: "main",
    });
    const job = await waitFor(
      "the job to finish",
      async () => {
        const workflows = await client.get<{ items: { id: string }[] }>(`/api/v2/pipeline/${id}/workflow`);
        if (!workflows.items[0]) return undefined;
        const jobs = await client.get<{ items: { status: string; job_number: number }[] }>(
          `/api/v2/workflow/${workflows.items[0].id}/job`,
        );
        const [first] = jobs.items;
        return first && !["blocked", "queued", "running"].includes(first.status) ? first : undefined;
      },
      60_000,
    );
    expect(job.status).toBe("success");
    const build = await client.get<{ steps: { name: string; actions: { output_url: string }[] }[] }>(
      `/api/v1.1/project/gh/acme/tls/${job.job_number}`,
    );
    const step = build.steps.find((s) => s.name.startsWith("echo"))!;
    const output = await client.get<{ message: string }[]>(new URL(step.actions[0]!.output_url).pathname);
    expect(output.map((m) => m.message).join("")).toContain(`talking to ${runtime.url}`);
  });

  it("marks the sign-in cookies Secure", async () => {
    await updateSettings(runtime.gyre, {
      github: {
        api_url: github.url,
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
      },
      required_orgs: [],
    });
    github.addUser({ login: "octocat", id: 583231, orgs: { acme: "active" } });
    github.signInAs("octocat");
    const dispatcher = dispatcherFor(process.env, runtime.ca);
    const get = (url: string, headers: Record<string, string> = {}) =>
      networkFetch(url, { headers, redirect: "manual", dispatcher });
    try {
      const begin = await get(`${runtime.url}/api/gyre/auth/github`);
      expect(begin.status).toBe(302);
      const stateCookie = begin.headers.getSetCookie().find((c) => c.startsWith("gyre_oauth_state="))!;
      expect(stateCookie).toMatch(/; Secure/);
      const granted = await get(begin.headers.get("location")!);
      const callback = new URL(granted.headers.get("location")!);
      expect(callback.origin).toBe(runtime.url);
      const answer = await get(callback.href, { cookie: stateCookie.split(";")[0]! });
      expect(answer.status).toBe(302);
      const session = answer.headers.getSetCookie().find((c) => c.startsWith("gyre_session="))!;
      expect(session).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
    } finally {
      await dispatcher.close();
    }
  });
});
