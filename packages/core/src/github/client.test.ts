import { createServer, request as httpRequest, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { testCertificateAuthority } from "../test-tls.ts";
import { type ClientOptions, githubClient } from "./client.ts";
import { describeGithubError } from "./errors.ts";
import { type GithubStandIn, startGithubStandIn } from "./stand-in.ts";

const TOKEN = "ghp_secretTOKENvalue1234567890";
const SHA = "a".repeat(40);
const quiet: string[] = [];
const options = (more: ClientOptions = {}): ClientOptions => ({
  env: {},
  retryBaseMs: 20,
  log: (line) => quiet.push(line),
  ...more,
});

/**
 * A proxy as corporate networks have: CONNECT tunnels, and absolute-URI requests forwarded. It
 * alone resolves `*.example.test` (to 127.0.0.1): loopback itself is never proxied.
 */
const resolveName = (host: string) => (host.endsWith(".example.test") ? "127.0.0.1" : host);
const viaProxy = (url: string) => url.replace("//127.0.0.1:", "//github.example.test:");

async function startProxy() {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = httpRequest(
      {
        host: resolveName(target.hostname),
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  server.on("connection", (s) => sockets.add(s));
  server.on("connect", (req, client: Socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(":");
    const upstream = connect(Number(port), resolveName(host!), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}

let github: GithubStandIn;
let proxy: Awaited<ReturnType<typeof startProxy>>;

beforeAll(async () => {
  github = await startGithubStandIn();
  proxy = await startProxy();
});
afterAll(async () => {
  await github?.close();
  await proxy?.close();
});
afterEach(() => {
  github.requests.length = 0;
  proxy.seen.length = 0;
});

const post = (client: ReturnType<typeof githubClient>) =>
  client.rest.repos.createCommitStatus({
    owner: "acme",
    repo: "api",
    sha: SHA,
    state: "success",
    context: "ci/circleci: main",
  });

describe("the GitHub client", () => {
  it("posts a status with the token in the Authorization header only", async () => {
    await post(githubClient({ apiUrl: github.url, token: TOKEN }, options()));
    const [request] = github.requests;
    expect(request).toMatchObject({ method: "POST", path: `/repos/acme/api/statuses/${SHA}`, status: 201 });
    expect(request!.headers.authorization).toBe(`token ${TOKEN}`);
    expect(request!.body).toEqual({ state: "success", context: "ci/circleci: main" });
  });

  it("goes through the proxy HTTP_PROXY names (an absolute URI), and past it for NO_PROXY hosts and loopback", async () => {
    const apiUrl = viaProxy(github.url);
    await post(githubClient({ apiUrl, token: TOKEN }, options({ env: { HTTP_PROXY: proxy.url } })));
    expect(proxy.seen).toEqual([`POST ${apiUrl}/repos/acme/api/statuses/${SHA}`]);
    expect(github.requests).toHaveLength(1);

    proxy.seen.length = 0;
    const bypassed = await post(
      githubClient(
        { apiUrl, token: TOKEN },
        options({ retries: 0, env: { HTTP_PROXY: proxy.url, NO_PROXY: "github.example.test" } }),
      ),
    ).catch((e) => e);
    // Directly: the name resolves nowhere but in the proxy.
    expect(bypassed).toBeInstanceOf(Error);
    await post(
      githubClient({ apiUrl: github.url, token: TOKEN }, options({ env: { HTTP_PROXY: proxy.url } })),
    );
    expect(proxy.seen).toEqual([]);
    expect(github.requests).toHaveLength(2);
  });

  it("waits out a primary rate limit (403, x-ratelimit-remaining 0, x-ratelimit-reset), then succeeds", async () => {
    github.answerNext({
      status: 403,
      method: "POST",
      headers: {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(Math.floor(Date.now() / 1000)),
      },
      body: { message: "API rate limit exceeded for user ID 1." },
    });
    const started = Date.now();
    await post(githubClient({ apiUrl: github.url, token: `${TOKEN}-primary` }, options()));
    expect(github.requests.map((r) => r.status)).toEqual([403, 201]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(quiet.some((l) => /primary rate limit.*retrying in \d+ s/.test(l))).toBe(true);
  });

  it("waits out a secondary rate limit (429 with retry-after), then succeeds", async () => {
    github.answerNext({
      status: 429,
      method: "POST",
      headers: { "retry-after": "1" },
      body: {
        message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
      },
    });
    const started = Date.now();
    await post(githubClient({ apiUrl: github.url, token: `${TOKEN}-secondary` }, options()));
    expect(github.requests.map((r) => r.status)).toEqual([429, 201]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("retries a 5xx, and gives up after its retries with a message that names no token", async () => {
    github.answerNext({ status: 502, body: { message: "Server Error" } });
    await post(githubClient({ apiUrl: github.url, token: `${TOKEN}-5xx` }, options()));
    expect(github.requests.map((r) => r.status)).toEqual([502, 201]);

    github.requests.length = 0;
    const bad = { status: 500, body: { message: "Server Error" } };
    github.answerNext(bad, bad, bad);
    const error = await post(githubClient({ apiUrl: github.url, token: `${TOKEN}-down` }, options())).catch(
      (e) => e,
    );
    expect(github.requests.map((r) => r.status)).toEqual([500, 500, 500]);
    const said = describeGithubError(error);
    expect(said).toBe(`POST /repos/acme/api/statuses/${SHA}: 500 Server Error`);
    expect(JSON.stringify(quiet)).not.toContain(TOKEN);
  });

  it("does not wait for a rate limit that resets too far ahead", async () => {
    github.answerNext({
      status: 403,
      headers: {
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 3600),
      },
      body: { message: "API rate limit exceeded" },
    });
    const error = await post(githubClient({ apiUrl: github.url, token: `${TOKEN}-far` }, options())).catch(
      (e) => e,
    );
    expect(error.status).toBe(403);
    expect(github.requests).toHaveLength(1);
  });

  it("times out a GitHub that never answers, within the request limit and its retries", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const started = Date.now();
    const error = await post(
      githubClient({ apiUrl: url, token: TOKEN }, options({ timeoutMs: 200, retries: 1 })),
    ).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(5000);
    silent.closeAllConnections();
    silent.close();
  });
});

describe("a GitHub Enterprise Server behind a private CA", () => {
  const ca = testCertificateAuthority();

  it.skipIf(!ca)(
    "trusts the project's CA bundle, directly and through the proxy; refuses without it",
    async () => {
      const ghes = await startGithubStandIn({
        basePath: "/api/v3",
        tls: ca!.issue(["127.0.0.1", "github.example.test"]),
      });
      try {
        expect(ghes.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api\/v3$/);
        await post(githubClient({ apiUrl: ghes.url, token: TOKEN, caPem: ca!.cert }, options()));
        await post(
          githubClient(
            { apiUrl: viaProxy(ghes.url), token: TOKEN, caPem: ca!.cert },
            options({ env: { HTTPS_PROXY: proxy.url } }),
          ),
        );
        expect(ghes.requests.map((r) => [r.path, r.status])).toEqual([
          [`/repos/acme/api/statuses/${SHA}`, 201],
          [`/repos/acme/api/statuses/${SHA}`, 201],
        ]);
        expect(proxy.seen).toEqual([`CONNECT ${new URL(viaProxy(ghes.url)).host}`]);
        const refused = await post(
          githubClient({ apiUrl: ghes.url, token: TOKEN }, options({ retries: 0 })),
        ).catch((e) => e);
        expect(refused).toBeInstanceOf(Error);
        expect(ghes.requests).toHaveLength(2);
      } finally {
        await ghes.close();
      }
    },
  );
});
