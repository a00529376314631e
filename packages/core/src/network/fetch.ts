/**
 * `fetch` for Gyre's outbound calls (GitHub, OAuth, STS, the agent's calls to the API, the
 * CLI's), over an undici dispatcher that goes through the environment's proxy (proxy.ts: the
 * same NO_PROXY and loopback rules as the AWS SDK's agents) and trusts its private CAs
 * (trust.ts). Node's global fetch reads neither.
 */
import { Agent, Dispatcher, ProxyAgent, fetch as undiciFetch } from "undici";
import { proxied, proxyFor, proxySettings } from "./proxy.ts";
import { trustedCertificates } from "./trust.ts";

/** Routes each request to the proxy's agent or the direct one by its origin. */
class ProxyRouter extends Dispatcher {
  private readonly agents = new Map<string, Dispatcher>();

  constructor(
    private readonly route: (origin: string) => string | undefined,
    private readonly make: (proxy: string | undefined) => Dispatcher,
  ) {
    super();
  }

  private agentFor(origin: string): Dispatcher {
    const proxy = this.route(origin);
    const key = proxy ?? "";
    let agent = this.agents.get(key);
    if (!agent) {
      agent = this.make(proxy);
      this.agents.set(key, agent);
    }
    return agent;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agentFor(String(options.origin)).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const closed = Promise.all([...this.agents.values()].map((a) => a.close())).then(() => {});
    if (!callback) return closed;
    closed.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === "function" ? null : (a ?? null);
    const callback = typeof a === "function" ? a : b;
    const done = Promise.all([...this.agents.values()].map((d) => d.destroy(err))).then(() => {});
    if (!callback) return done;
    done.then(callback, callback);
  }
}

/**
 * A dispatcher for the environment's proxy and CAs, trusting `more` besides (a connection's
 * own CA). The caller owns it (close it when done, or keep it for the process).
 */
export function dispatcherFor(env: NodeJS.ProcessEnv = process.env, more: string[] = []): Dispatcher {
  const ca = trustedCertificates(env, more);
  const tls = ca ? { ca } : undefined;
  const settings = proxySettings(env);
  if (!proxied(settings)) return new Agent(tls ? { connect: tls } : {});
  return new ProxyRouter(
    (origin) => proxyFor(origin, settings),
    (proxy) =>
      proxy
        ? // http:// requests as absolute URIs (proxies often allow CONNECT to port 443 only),
          // https:// ones through a CONNECT tunnel.
          new ProxyAgent({
            uri: proxy,
            proxyTunnel: false,
            ...(tls ? { requestTls: tls, proxyTls: tls } : {}),
          })
        : new Agent(tls ? { connect: tls } : {}),
  );
}

let shared: Dispatcher | undefined;

/** The dispatcher for this process's environment, made once. */
export function processDispatcher(): Dispatcher {
  shared ??= dispatcherFor(process.env);
  return shared;
}

/** The global fetch's options, and the dispatcher to use instead of this process's. */
export type FetchInit = RequestInit & { dispatcher?: Dispatcher };

/**
 * The global `fetch`, through this process's dispatcher (or `init.dispatcher`), answering the
 * global Response type: undici's Request, Response and Headers are what Node's fetch is built on.
 */
export const fetch = (input: string | URL, init?: FetchInit): Promise<Response> =>
  undiciFetch(input, {
    ...(init as Parameters<typeof undiciFetch>[1]),
    dispatcher: init?.dispatcher ?? processDispatcher(),
  }) as unknown as Promise<Response>;
