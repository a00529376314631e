/**
 * The CLI's API client: GYRE_URL and GYRE_TOKEN, defaulting to the local runtime's address
 * and the admin token it wrote into its data directory. Requests go through the environment's
 * proxy and trust GYRE_CA_BUNDLE / NODE_EXTRA_CA_CERTS (a server with its own certificate:
 * `gyre start --tls-cert`), as every outbound call does (core network/).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { dispatcherFor, type FetchInit, fetch, processDispatcher } from "@gyre/core/network/fetch";

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
  /** The environment whose proxy and CAs (GYRE_CA_BUNDLE) the requests use (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The certificate errors Node reports for a server it does not trust (OpenSSL's verify codes):
 * fixed by trusting the CA that signed the certificate.
 */
const UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_UNTRUSTED",
  "INVALID_CA",
]);
/** A certificate that does not name the host asked for. */
const MISMATCHED = new Set(["ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH"]);
/** A certificate outside its validity period. */
const OUT_OF_DATE = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);

/** The certificate error behind a failed fetch (undici wraps it in `cause`), if that is what it was. */
function certificateError(error: unknown): { code: string; message: string; names?: string } | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    // A name mismatch carries the certificate (node:tls checkServerIdentity).
    const names = (e as { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    if (code && (UNTRUSTED.has(code) || /CERT/.test(code)))
      return { code, message: e.message, ...(names ? { names } : {}) };
  }
  return undefined;
}

/** What to say of a certificate the CLI refused for `host`, and what to do about it. */
function certificateAdvice(host: string, cert: { code: string; message: string; names?: string }): string {
  const { code } = cert;
  const what = `${code}: ${cert.message}`;
  if (UNTRUSTED.has(code))
    return (
      `the certificate ${host} presented is not trusted (${what}). Set GYRE_CA_BUNDLE to a PEM file of the CA ` +
      "that signed it (for gyre start --tls-cert: <data dir>/builder-ca.pem)."
    );
  if (MISMATCHED.has(code))
    return (
      `the certificate the server presented does not name ${host}${cert.names ? ` (it names ${cert.names})` : ""} ` +
      `(${what}). Put a host name the ` +
      `certificate names in GYRE_URL, or give the server a certificate for ${host}.`
    );
  if (OUT_OF_DATE.has(code))
    return `the certificate ${host} presented is out of date (${what}). Renew it (or check this machine's clock).`;
  return `the certificate ${host} presented was refused (${what}).`;
}

/**
 * Why a request did not reach the server at `url`, in words that say what to do: a certificate
 * the CLI refused (which error, for which host, and the fix), or else the server not being there.
 */
function unreachable(url: string, error: unknown, hint: string): ApiError {
  const reason = error instanceof Error ? error.message : String(error);
  const cert = certificateError(error);
  if (!cert) return new ApiError(0, `Cannot reach Gyre at ${url} (${reason}).${hint}`);
  return new ApiError(
    0,
    `Cannot reach Gyre at ${url} (${reason}): ${certificateAdvice(new URL(url).hostname, cert)}`,
  );
}

export class Client {
  private dispatcher: FetchInit["dispatcher"];
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly ca: string[];

  constructor(
    readonly url: string,
    private readonly token: string | undefined,
    options: ClientOptions = {},
  ) {
    this.env = options.env;
    this.ca = options.ca ?? [];
  }

  /**
   * The dispatcher for this client's environment and CAs, made at the first request (the
   * process's shared one for this process's environment). A GYRE_CA_BUNDLE that cannot be
   * read, or a proxy that is not a URL, is said as what it is: the server was never tried.
   */
  private connection(): FetchInit["dispatcher"] {
    if (this.dispatcher) return this.dispatcher;
    const env = this.env ?? process.env;
    try {
      this.dispatcher =
        env === process.env && this.ca.length === 0 ? processDispatcher() : dispatcherFor(env, this.ca);
    } catch (error) {
      const message = (error as Error).message;
      throw new ApiError(
        0,
        /^GYRE_CA_BUNDLE /.test(message)
          ? `${message.replace(/\.$/, "")}. Set GYRE_CA_BUNDLE to a readable PEM file of the CA that signed Gyre's certificate, or unset it.`
          : message,
      );
    }
    return this.dispatcher;
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
      return new Client(url, token, { env });
    }
    let token: string | undefined;
    try {
      token = readFileSync(adminToken, "utf8").trim() || undefined;
    } catch {
      token = undefined;
    }
    return new Client(url, token, { env });
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const dispatcher = this.connection();
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        dispatcher,
        method,
        headers: {
          ...(this.token ? { "circle-token": this.token } : {}),
          ...(body ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw unreachable(this.url, error, ' Is "gyre start" running? Set GYRE_URL otherwise.');
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
    const dispatcher = this.connection();
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        dispatcher,
        headers: this.token ? { "circle-token": this.token } : {},
      });
    } catch (error) {
      throw unreachable(this.url, error, "");
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
