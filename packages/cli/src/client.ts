/**
 * The CLI's API client: GYRE_URL and GYRE_TOKEN, defaulting to the local runtime's address
 * and the admin token it wrote into its data directory. Requests go through the environment's
 * proxy and trust GYRE_CA_BUNDLE / NODE_EXTRA_CA_CERTS (a server with its own certificate:
 * `gyre start --tls-cert`), as every outbound call does (core network/).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { dispatcherFor, type FetchInit, fetch } from "@gyre/core/network/fetch";

export const DEFAULT_URL = "http://127.0.0.1:8080";
export const DEFAULT_DATA_DIR = ".gyre";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** CA certificates (PEM) to trust for this server besides the environment's (a local server's own). */
  ca?: string[];
}

export class Client {
  private readonly dispatcher: FetchInit["dispatcher"];

  constructor(
    readonly url: string,
    private readonly token: string | undefined,
    options: ClientOptions = {},
  ) {
    this.dispatcher = options.ca?.length ? dispatcherFor(process.env, options.ca) : undefined;
  }

  /**
   * GYRE_URL and GYRE_TOKEN; with GYRE_TOKEN unset, the local admin token in GYRE_DATA_DIR
   * (default .gyre). GYRE_TOKEN set but empty is an error, not the admin token: an empty
   * `GYRE_TOKEN=` (a variable that did not expand) must not act as the local administrator.
   */
  static fromEnv(env = process.env): Client {
    const url = (env.GYRE_URL ?? DEFAULT_URL).replace(/\/+$/, "");
    const adminToken = join(resolve(env.GYRE_DATA_DIR ?? DEFAULT_DATA_DIR), "admin-token");
    if (env.GYRE_TOKEN !== undefined) {
      const token = env.GYRE_TOKEN.trim();
      if (!token)
        throw new Error(
          `GYRE_TOKEN is set but empty: set it to your token (gyre token create makes one), or unset it to use the local admin token in ${adminToken}.`,
        );
      return new Client(url, token);
    }
    let token: string | undefined;
    try {
      token = readFileSync(adminToken, "utf8").trim() || undefined;
    } catch {
      token = undefined;
    }
    return new Client(url, token);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        dispatcher: this.dispatcher,
        method,
        headers: {
          ...(this.token ? { "circle-token": this.token } : {}),
          ...(body ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new ApiError(
        0,
        `Cannot reach Gyre at ${this.url} (${(error as Error).message}). Is "gyre start" running? Set GYRE_URL otherwise.`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      if (response.status === 401 && !this.token)
        message += " (set GYRE_TOKEN, or run from the directory holding .gyre/)";
      throw new ApiError(response.status, message);
    }
    return JSON.parse(text) as T;
  }

  /** A GET whose answer is read as it arrives (a log stream); errors as `request` words them. */
  async stream(path: string): Promise<AsyncIterable<Uint8Array>> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        dispatcher: this.dispatcher,
        headers: this.token ? { "circle-token": this.token } : {},
      });
    } catch (error) {
      throw new ApiError(0, `Cannot reach Gyre at ${this.url} (${(error as Error).message}).`);
    }
    if (!response.ok || !response.body) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      throw new ApiError(response.status, message);
    }
    return response.body as unknown as AsyncIterable<Uint8Array>;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>("POST", path, body, headers);
  }
}
