/**
 * The agent's calls to Gyre's API. Every endpoint is idempotent, so a request that gets no
 * answer in time, a network error and a 5xx answer are retried, with jittered exponential
 * backoff; a 409 means the allocation is no longer ours, a 423 that the node drains, a 403 that it may
 * not do this, a 401 that its credential is refused, and any other 4xx fails at once.
 * No request waits for ever: a stalled connection must not freeze heartbeats or the finish.
 * Requests go through the environment's proxy and trust its private CAs (GYRE_CA_BUNDLE: a
 * server with its own certificate), as every outbound call does (core network/).
 */
import { fetch } from "@gyre/core/network/fetch";
import { describeIssues, type z } from "@gyre/core/protocol/schema";
import pRetry, { AbortError } from "p-retry";

export class AllocationLost extends Error {
  override readonly name = "AllocationLost";
}

/** 423: an operator drains this node; it takes no new allocation until the drain ends. */
export class NodeDraining extends Error {
  override readonly name = "NodeDraining";
}

/**
 * 403: the server will not let this node do this (a claim of a job whose resource class the node
 * does not offer: the queue it polls carries jobs it must not run). The job stays for another node.
 */
export class NodeForbidden extends Error {
  override readonly name = "NodeForbidden";
}

/** 401: the credential is unknown or was revoked; no retry helps. */
export class CredentialRefused extends Error {
  override readonly name = "CredentialRefused";
}

export interface RequestOptions {
  /** Tries in all, the first included. */
  attempts?: number;
  /** How long one try may take, answer body included, before it is abandoned. */
  timeoutMs?: number;
  /** The backoff before the first retry (then doubled, and each randomized to 1–2x). */
  minDelayMs?: number;
  /** The longest backoff between two tries. */
  maxDelayMs?: number;
}

const DEFAULTS: Required<RequestOptions> = {
  attempts: 5,
  timeoutMs: 15_000,
  minDelayMs: 100,
  maxDelayMs: 5_000,
};

/**
 * Paths whose callers need an answer sooner than the default. A heartbeat is sent every third
 * of the heartbeat timeout (10 s by default): one that is slower than that is better abandoned
 * and sent again than waited for.
 */
const PATH_DEFAULTS: Record<string, RequestOptions> = {
  "/heartbeat": { timeoutMs: 5_000 },
};

export class GyreApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    /** Options for every call, over the built-in ones (tests use small ones); a call's own win. */
    private readonly defaults: RequestOptions = {},
  ) {}

  /** POSTs to `/agent/v1${path}` and parses the answer with its protocol schema. */
  async call<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
    options: number | RequestOptions = {},
  ): Promise<z.output<S>> {
    const answer = await this.post<unknown>(path, body, options);
    const parsed = schema.safeParse(answer);
    if (!parsed.success)
      throw new Error(`POST ${path}: unexpected answer: ${describeIssues(parsed.error).join("; ")}`);
    return parsed.data;
  }

  /**
   * POSTs to `/agent/v1${path}`; `options` may be just the number of attempts. A function as
   * `body` makes each try's body afresh (a signed registration is good for one use).
   */
  async post<T>(path: string, body: unknown, options: number | RequestOptions = {}): Promise<T> {
    const { attempts, timeoutMs, minDelayMs, maxDelayMs } = merge(
      DEFAULTS,
      PATH_DEFAULTS[path],
      this.defaults,
      typeof options === "number" ? { attempts: options } : options,
    );
    const url = `${this.baseUrl}/agent/v1${path}`;
    const fixed = typeof body === "function" ? undefined : JSON.stringify(body);
    const attempt = async (): Promise<T> => {
      const payload = fixed ?? JSON.stringify(await (body as () => Promise<unknown>)());
      // One signal per try, covering the connection, the headers and the body.
      const signal = AbortSignal.timeout(timeoutMs);
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            // No token before an IAM registration: the body carries the proof.
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          },
          body: payload,
          signal,
        });
      } catch (error) {
        throw requestFailed(path, error, timeoutMs);
      }
      if (response.ok) {
        let text: string;
        try {
          text = await response.text();
        } catch (error) {
          throw requestFailed(path, error, timeoutMs);
        }
        try {
          return JSON.parse(text) as T;
        } catch {
          // The server answered and said something that is not JSON: asking again will not help.
          throw new AbortError(`POST ${path}: ${response.status} answer is not JSON`);
        }
      }
      // A 5xx is retried whatever its body; a 4xx fails with whatever of it arrived.
      const message = serverMessage(await response.text().catch(() => ""));
      if (response.status === 409) throw new AbortError(new AllocationLost(message));
      if (response.status === 423) throw new AbortError(new NodeDraining(message));
      if (response.status === 403) throw new AbortError(new NodeForbidden(`POST ${path}: 403 ${message}`));
      if (response.status === 401)
        throw new AbortError(new CredentialRefused(`POST ${path}: 401 ${message}`));
      const error = new Error(`POST ${path}: ${response.status} ${message}`);
      throw response.status < 500 ? new AbortError(error) : error;
    };
    return pRetry(attempt, {
      retries: Math.max(0, attempts - 1),
      factor: 2,
      minTimeout: minDelayMs,
      maxTimeout: maxDelayMs,
      randomize: true,
    });
  }
}

/** Later options win; an option left undefined keeps the earlier value. */
function merge(base: Required<RequestOptions>, ...layers: (RequestOptions | undefined)[]) {
  const out = { ...base };
  for (const layer of layers)
    for (const [key, value] of Object.entries(layer ?? {}))
      if (value !== undefined) out[key as keyof RequestOptions] = value;
  return out;
}

/**
 * A try that got no full answer: timed out or broke on the network, both retried. Anything
 * else (a URL fetch cannot parse, say) is a bug that no retry mends.
 */
function requestFailed(path: string, error: unknown, timeoutMs: number): Error {
  if (error instanceof Error && error.name === "TimeoutError")
    return new Error(`POST ${path}: no answer within ${timeoutMs} ms`, { cause: error });
  if (error instanceof TypeError && (error.message === "fetch failed" || error.message === "terminated")) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return new Error(`POST ${path}: ${error.message}${cause}`, { cause: error });
  }
  return new AbortError(error instanceof Error ? error : String(error));
}

/**
 * The API answers errors as `{"message": …}`; anything else (a proxy's page) is shown as is,
 * cut short enough for a log line.
 */
function serverMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === "string") return parsed.message;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500);
}
