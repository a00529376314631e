/**
 * The GitHub REST client: `@octokit/rest` with GitHub's recommended throttling
 * (`@octokit/plugin-throttling`: writes one at a time per token, a second apart; primary and
 * secondary rate-limit answers waited out) and retries (`@octokit/plugin-retry`: 5xx and
 * network failures, with backoff), over undici so that it goes through the proxy the
 * environment names (HTTP_PROXY, HTTPS_PROXY, NO_PROXY: network/fetch.ts) and trusts the
 * connection's CA bundle and the installation's (GYRE_CA_BUNDLE, NODE_EXTRA_CA_CERTS) besides Node's.
 *
 * Every wait is bounded (a few retries, a rate-limit wait only up to a limit, each request
 * timed out), so a caller learns in bounded time that GitHub could not be reached. The token is
 * only ever in the Authorization header: errors are described by method, path, status and
 * GitHub's message, never with the request's headers.
 */
import { createHash } from "node:crypto";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import { Octokit } from "@octokit/rest";
import { type Dispatcher, fetch as undiciFetch } from "undici";
import { dispatcherFor as networkDispatcher } from "../network/fetch.ts";
import type { GithubConnection } from "../project/github.ts";

export interface ClientOptions {
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read (default: the process's environment). */
  env?: NodeJS.ProcessEnv;
  /** Retries of a request after a failure or a rate limit (default 2). */
  retries?: number;
  /** A rate limit is waited out when it resets within this many seconds (default 60). */
  maxRateLimitWaitSeconds?: number;
  /** Each request's time limit (default 10 s). */
  timeoutMs?: number;
  /** Backoff unit of retries after a failure: 1, 4, 9 × this (default 1 s). */
  retryBaseMs?: number;
  /** Where rate-limit waits and Octokit's warnings are said (default: console.warn). */
  log?: (line: string) => void;
}

const GyreOctokit = Octokit.plugin(retry, throttling);
export type GithubClient = InstanceType<typeof GyreOctokit>;

const PROXY_VARIABLES = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"];
/** What the dispatcher is made from: a client is kept per set of these. */
const NETWORK_VARIABLES = [...PROXY_VARIABLES, "GYRE_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"];

/**
 * The dispatcher for a connection: direct or through the environment's proxy (NO_PROXY and
 * loopback direct), trusting the connection's CA and the installation's (network/).
 */
export function dispatcherFor(caPem: string | undefined, env: NodeJS.ProcessEnv = process.env): Dispatcher {
  return networkDispatcher(env, caPem ? [caPem] : []);
}

/** Clients by connection and environment, so that one token's writes share one throttle. */
const clients = new Map<string, GithubClient>();
const MAX_CLIENTS = 200;

export function githubClient(connection: GithubConnection, options: ClientOptions = {}): GithubClient {
  const env = options.env ?? process.env;
  const key = createHash("sha256")
    .update(
      JSON.stringify([
        connection.apiUrl,
        connection.token,
        connection.caPem ?? "",
        NETWORK_VARIABLES.map((name) => env[name] ?? ""),
        options.retries,
        options.maxRateLimitWaitSeconds,
        options.timeoutMs,
        options.retryBaseMs,
      ]),
    )
    .digest("hex");
  const known = clients.get(key);
  if (known) return known;
  const log = options.log ?? ((line: string) => console.warn(line));
  const retries = options.retries ?? 2;
  const maxWait = options.maxRateLimitWaitSeconds ?? 60;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dispatcher = dispatcherFor(connection.caPem, env);
  const limited =
    (kind: string) =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const again = retryCount < retries && retryAfter <= maxWait;
      log(
        `github: ${kind} rate limit on ${request.method} ${request.url}: ${again ? `retrying in ${retryAfter} s` : "giving up"}`,
      );
      return again;
    };
  const client = new GyreOctokit({
    auth: connection.token,
    baseUrl: connection.apiUrl,
    userAgent: "gyre",
    request: {
      fetch: (url: string, init: RequestInit) => {
        const timeout = AbortSignal.timeout(timeoutMs);
        return undiciFetch(url, {
          ...(init as object),
          dispatcher,
          signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
        } as Parameters<typeof undiciFetch>[1]);
      },
    },
    // Failed requests are said by whoever made them (errors.ts), once, not per attempt.
    log: { debug: () => {}, info: () => {}, warn: (m: string) => log(`github: ${m}`), error: () => {} },
    retry: {
      retries,
      // Rate limits (403, 429) are the throttle's: it waits as long as GitHub says to.
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
      ...(options.retryBaseMs !== undefined ? { retryAfterBaseValue: options.retryBaseMs } : {}),
    },
    throttle: {
      // One throttle per token (GitHub's limits are per token), not one for the whole process.
      id: createHash("sha256")
        .update(`${connection.apiUrl}\u0000${connection.token}`)
        .digest("hex")
        .slice(0, 16),
      onRateLimit: limited("primary"),
      onSecondaryRateLimit: limited("secondary"),
    },
  });
  if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
  clients.set(key, client);
  return client;
}
