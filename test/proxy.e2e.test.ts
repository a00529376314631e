/**
 * Proxies and private CAs, for every outbound call of the server and the agent: a recording
 * forward proxy on 127.0.0.1 (support/proxy.ts) that alone can resolve `*.example.test` (to
 * 127.0.0.1), so a call that reached such a host went through it, and one that went directly
 * failed to resolve it. HTTPS servers there have certificates from a throwaway CA, trusted only
 * through GYRE_CA_BUNDLE.
 *
 * First each client on its own (the AWS SDK clients, the GitHub client, fetch, node:http
 * uploads, git), then the local runtime end to end: the server mirrors and the builder checks
 * out a repository over HTTPS through the proxy, and the job sees the proxy variables (without
 * the credentials the builder's carry).
 */
import { execFile } from "node:child_process";
import {
  createServer,
  type Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import { createAwsClients } from "@gyre/core/aws/index";
import { githubClient } from "@gyre/core/github/client";
import { startGithubStandIn } from "@gyre/core/github/stand-in";
import { nodeAgents } from "@gyre/core/network/agents";
import { dispatcherFor, fetch as networkFetch } from "@gyre/core/network/fetch";
import { gitEnvironment } from "@gyre/core/network/git";
import type { Resources } from "@gyre/core/resources";
import { type TestCertificateAuthority, testCertificateAuthority } from "@gyre/core/test-tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { type GitHttpServer, startGitHttpServer } from "./support/git-http.ts";
import { type RecordingProxy, startProxy } from "./support/proxy.ts";
import { api, gitRepo, outputsByName, runPipeline, tempDir } from "./support.ts";

const run = promisify(execFile);
const ca = testCertificateAuthority() as TestCertificateAuthority;
const TOKEN = "ghp_proxiedTOKEN1234567890";

let proxy: RecordingProxy;

/** A stand-in speaking just enough of the AWS JSON protocol: ListTables and ListQueues, recording each Host. */
function startAwsStandIn(tls?: { cert: string; key: string }) {
  const hosts: string[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    hosts.push(req.headers.host ?? "");
    req.resume();
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const body = target.endsWith("ListTables")
        ? { TableNames: ["reached"] }
        : target.endsWith("ListQueues")
          ? { QueueUrls: ["http://127.0.0.1/queue/reached"] }
          : {};
      res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
      res.end(JSON.stringify(body));
    });
  };
  const server = tls ? createHttpsServer(tls, listener) : createServer(listener);
  return new Promise<{ port: number; hosts: string[]; close: () => void }>((ok) =>
    server.listen(0, "127.0.0.1", () =>
      ok({
        port: (server.address() as AddressInfo).port,
        hosts,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

const resources = (endpoints: Resources["endpoints"]): Resources =>
  ({
    region: "us-east-1",
    tableName: "gyre",
    bucketName: "gyre",
    intakeQueueUrl: "",
    jobQueueUrls: {},
    stateMachineArn: "",
    heartbeatSeconds: 30,
    queueTimeoutSeconds: 60,
    maxJobSeconds: 60,
    endpoints,
  }) as Resources;

beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(async () => {
  await proxy?.close();
});

describe.skipIf(!ca)("each outbound client, through the proxy", () => {
  it("AWS SDK clients: http:// and https:// endpoints through it, loopback and NO_PROXY hosts past it", async () => {
    const plain = await startAwsStandIn();
    const secure = await startAwsStandIn(ca.issue(["dynamodb-tls.example.test"]));
    try {
      const env = {
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        NO_PROXY: "direct.example.test",
        GYRE_CA_BUNDLE: ca.certFile,
      };
      const via = (endpoint: string) => createAwsClients(resources({ dynamodb: endpoint }), undefined, env);
      // http://: the absolute URI to the proxy.
      const tables = await via(`http://dynamodb.example.test:${plain.port}`).dynamo.send(
        new ListTablesCommand({}) as never,
      );
      expect((tables as { TableNames: string[] }).TableNames).toEqual(["reached"]);
      expect(proxy.seen).toContain(`POST http://dynamodb.example.test:${plain.port}/`);
      // https://: a CONNECT tunnel, TLS verified against GYRE_CA_BUNDLE's CA.
      const overTls = await via(`https://dynamodb-tls.example.test:${secure.port}`).dynamo.send(
        new ListTablesCommand({}) as never,
      );
      expect((overTls as { TableNames: string[] }).TableNames).toEqual(["reached"]);
      expect(proxy.seen).toContain(`CONNECT dynamodb-tls.example.test:${secure.port}`);
      expect(secure.hosts).toEqual([`dynamodb-tls.example.test:${secure.port}`]);
      // The same without the CA: refused (the certificate is not trusted).
      const { GYRE_CA_BUNDLE: _, ...untrusting } = env;
      const refused = await createAwsClients(
        resources({ dynamodb: `https://dynamodb-tls.example.test:${secure.port}` }),
        undefined,
        untrusting,
      )
        .dynamo.send(new ListTablesCommand({}) as never)
        .catch((e: Error) => e);
      expect(String((refused as Error & { code?: string }).code ?? (refused as Error).message)).toMatch(
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify|self.signed|SELF_SIGNED/i,
      );

      // Loopback is never proxied: a local stand-in on 127.0.0.1 is reached directly.
      const before = proxy.seen.length;
      const queues = await createAwsClients(
        resources({ sqs: `http://127.0.0.1:${plain.port}` }),
        undefined,
        env,
      ).sqs.send(new ListQueuesCommand({}));
      expect(queues.QueueUrls).toEqual(["http://127.0.0.1/queue/reached"]);
      expect(plain.hosts).toContain(`127.0.0.1:${plain.port}`);
      // A NO_PROXY host is reached directly too: it resolves nowhere, and the proxy saw nothing.
      const direct = await via(`http://direct.example.test:${plain.port}`)
        .dynamo.send(new ListTablesCommand({}) as never)
        .catch((e: Error) => e);
      expect(String((direct as Error & { code?: string }).code ?? direct)).toMatch(/ENOTFOUND|EAI_AGAIN/);
      expect(proxy.seen.slice(before)).toEqual([]);
    } finally {
      plain.close();
      secure.close();
    }
  });

  it("the GitHub client: through the proxy to github.com-like hosts, a GHES behind a private CA, NO_PROXY past it", async () => {
    const github = await startGithubStandIn();
    const ghes = await startGithubStandIn({ basePath: "/api/v3", tls: ca.issue(["ghes.example.test"]) });
    try {
      const post = (apiUrl: string, env: NodeJS.ProcessEnv) =>
        githubClient(
          { apiUrl, token: TOKEN },
          { env, retries: 0, log: () => {} },
        ).rest.repos.createCommitStatus({
          owner: "acme",
          repo: "api",
          sha: "a".repeat(40),
          state: "success",
          context: "ci/gyre",
        });
      const port = new URL(github.url).port;
      await post(`http://api.example.test:${port}`, { HTTP_PROXY: proxy.url });
      expect(proxy.seen).toContain(
        `POST http://api.example.test:${port}/repos/acme/api/statuses/${"a".repeat(40)}`,
      );
      expect(github.requests.map((r) => r.headers.host)).toEqual([`api.example.test:${port}`]);

      const ghesPort = new URL(ghes.url).port;
      await post(`https://ghes.example.test:${ghesPort}/api/v3`, {
        HTTPS_PROXY: proxy.url,
        GYRE_CA_BUNDLE: ca.certFile,
      });
      expect(proxy.seen).toContain(`CONNECT ghes.example.test:${ghesPort}`);
      expect(ghes.requests).toHaveLength(1);
      const untrusted = await post(`https://ghes.example.test:${ghesPort}/api/v3`, {
        HTTPS_PROXY: proxy.url,
      }).catch((e: Error) => e);
      expect(untrusted).toBeInstanceOf(Error);
      expect(ghes.requests).toHaveLength(1);

      const before = proxy.seen.length;
      const bypassed = await post(`http://api.example.test:${port}`, {
        HTTP_PROXY: proxy.url,
        NO_PROXY: "example.test",
      }).catch((e: Error) => e);
      expect(bypassed).toBeInstanceOf(Error);
      expect(proxy.seen.slice(before)).toEqual([]);
      // Loopback: directly, whatever the proxy.
      await post(github.url, { HTTP_PROXY: proxy.url });
      expect(proxy.seen.slice(before)).toEqual([]);
      expect(github.requests).toHaveLength(2);
    } finally {
      await github.close();
      await ghes.close();
    }
  });

  it("fetch (agent → API, CLI, OAuth, STS) and node:http uploads (the agent's presigned PUTs)", async () => {
    const secure = await startAwsStandIn(ca.issue(["api.example.test"]));
    const plain = await startAwsStandIn();
    try {
      const env = { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, GYRE_CA_BUNDLE: ca.certFile };
      const dispatcher = dispatcherFor(env);
      const answer = await networkFetch(`https://api.example.test:${secure.port}/healthz`, { dispatcher });
      expect(answer.status).toBe(200);
      await dispatcher.close();
      expect(proxy.seen).toContain(`CONNECT api.example.test:${secure.port}`);

      const agents = nodeAgents(env)!;
      const put = (url: string, agent: HttpAgent) =>
        new Promise<number>((ok, fail) => {
          const send = url.startsWith("https:") ? httpsRequest : httpRequest;
          const req = send(url, { method: "PUT", agent, headers: { "content-length": "2" } }, (res) => {
            res.resume();
            ok(res.statusCode ?? 0);
          });
          req.on("error", fail);
          req.end("ok");
        });
      expect(await put(`http://bucket.example.test:${plain.port}/key`, agents.httpAgent)).toBe(200);
      expect(proxy.seen).toContain(`PUT http://bucket.example.test:${plain.port}/key`);
      // Twice over one kept-alive connection to the proxy: the second request is forwarded right too.
      expect(await put(`http://bucket.example.test:${plain.port}/again`, agents.httpAgent)).toBe(200);
      expect(proxy.seen).toContain(`PUT http://bucket.example.test:${plain.port}/again`);
      expect(plain.hosts).toEqual([`bucket.example.test:${plain.port}`, `bucket.example.test:${plain.port}`]);
      expect(await put(`https://api.example.test:${secure.port}/key`, agents.httpsAgent)).toBe(200);
      expect(proxy.seen.filter((l) => l === `CONNECT api.example.test:${secure.port}`)).toHaveLength(2);
    } finally {
      secure.close();
      plain.close();
    }
  });

  it("git over https:// through the proxy, trusting the private CA only with GIT_SSL_CAINFO's bundle", async () => {
    const root = tempDir("git-root");
    const source = gitRepo({ "README.md": "proxied\n" });
    await run("git", ["clone", "-q", "--bare", source.path, join(root, "app.git")]);
    const git = await startGitHttpServer({ root, tls: ca.issue(["git.example.test"]) });
    try {
      const url = `https://git.example.test:${git.port}/app.git`;
      const clean = Object.fromEntries(
        Object.entries(process.env).filter(
          ([k]) => !/^(https?|no)_proxy$/i.test(k) && k !== "GIT_SSL_CAINFO",
        ),
      );
      const env: NodeJS.ProcessEnv = {
        ...clean,
        GIT_TERMINAL_PROMPT: "0",
        ...(await gitEnvironment(tempDir("git-ca"), { HTTPS_PROXY: proxy.url, GYRE_CA_BUNDLE: ca.certFile })),
      };
      const into = join(tempDir("clone"), "app");
      await run("git", ["clone", "-q", url, into], { env });
      expect((await run("git", ["-C", into, "rev-parse", "HEAD"])).stdout.trim()).toBe(source.head);
      expect(proxy.seen).toContain(`CONNECT git.example.test:${git.port}`);
      // Without the bundle git trusts only the system's CAs: refused.
      const { GIT_SSL_CAINFO: _, ...untrusting } = env;
      const refused = await run("git", ["clone", "-q", url, join(tempDir("clone"), "app")], {
        env: untrusting,
      }).catch((e: { stderr: string }) => e);
      expect((refused as { stderr: string }).stderr).toMatch(/certificate|SSL/i);
    } finally {
      await git.close();
    }
  });
});

describe.skipIf(!ca)("the local runtime behind the proxy", () => {
  let runtime: LocalRuntime;
  let git: GitHttpServer;
  let source: ReturnType<typeof gitRepo>;
  const saved: Record<string, string | undefined> = {};
  const VARIABLES = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "GYRE_CA_BUNDLE",
  ];

  beforeAll(async () => {
    const root = tempDir("git-root");
    source = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: Proxy
          command: |
            echo "HTTP_PROXY=$HTTP_PROXY"
            echo "https_proxy=$https_proxy"
            echo "NO_PROXY=$NO_PROXY"
            echo "credentials=$(env | grep -c @127.0.0.1)"
            git log -1 --format=checked-out:%H
workflows:
  main:
    jobs: [build]
`,
    });
    await run("git", ["clone", "-q", "--bare", source.path, join(root, "app.git")]);
    git = await startGitHttpServer({ root, tls: ca.issue(["git.example.test"]) });
    // The server (this process) and its builders (child processes) all get the proxy and the CA.
    for (const name of VARIABLES) saved[name] = process.env[name];
    for (const name of VARIABLES) delete process.env[name];
    // With credentials (the recording proxy takes any): Gyre's own calls use them, jobs never see them.
    const authenticated = proxy.url.replace("http://", "http://gyre:s3cret@");
    Object.assign(process.env, {
      HTTP_PROXY: authenticated,
      HTTPS_PROXY: authenticated,
      GYRE_CA_BUNDLE: ca.certFile,
    });
    runtime = await startLocalRuntime({ dataDir: tempDir("proxy"), port: 0 });
  });

  afterAll(async () => {
    await runtime?.stop();
    await git?.close();
    for (const name of VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it("mirrors and checks out over https:// through the proxy; the job sees the proxy variables, not their credentials; nothing on loopback is proxied", async () => {
    const client = api(runtime.url, runtime.adminToken);
    const repoUrl = `https://git.example.test:${git.port}/app.git`;
    expect(
      (await client.post("/api/gyre/projects", { repo_url: repoUrl, slug: "gh/acme/proxied" })).status,
    ).toBe(201);
    const done = await runPipeline(client, "gh/acme/proxied");
    const job = done.byName.build!;
    const outputs = await outputsByName(client, "gh/acme/proxied", job.job_number as number);
    expect(job.status, JSON.stringify(outputs)).toBe("success");
    expect(outputs.Proxy).toContain(`HTTP_PROXY=${proxy.url}\n`);
    expect(outputs.Proxy).toContain(`https_proxy=${proxy.url}\n`);
    expect(outputs.Proxy).toContain("NO_PROXY=127.0.0.1,localhost,::1\n");
    expect(outputs.Proxy).toContain("credentials=0\n");
    expect(JSON.stringify(outputs)).not.toContain("s3cret");
    expect(outputs.Proxy).toContain(`checked-out:${source.head}`);
    // The server's mirror and the builder's checkout both went through the tunnel.
    const tunnels = proxy.seen.filter((line) => line === `CONNECT git.example.test:${git.port}`);
    expect(tunnels.length).toBeGreaterThanOrEqual(2);
    expect(git.requests.filter((r) => r.includes("/info/refs")).length).toBeGreaterThanOrEqual(2);
    // The API, the stand-ins (SQS, S3, DynamoDB) and presigned URLs are all on 127.0.0.1: never proxied.
    expect(proxy.targets().filter((t) => t.startsWith("127.0.0.1") || t.startsWith("localhost"))).toEqual([]);
  });
});
