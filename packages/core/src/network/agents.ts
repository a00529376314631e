/**
 * `http.Agent`s for Node's own HTTP clients (the AWS SDK's NodeHttpHandler, `node:http`
 * requests) that go through the environment's proxy (proxy.ts) and trust its private CAs
 * (trust.ts). The SDK reads no proxy variable itself: it is handed these.
 *
 * Each request is routed on its own host: through the proxy (`http-proxy-agent`: the
 * absolute URI to the proxy for http://; `https-proxy-agent`: a CONNECT tunnel, then TLS to
 * the host, for https://; both from TooTallNate/proxy-agents, the agents npm, pac-proxy-agent
 * and most of the ecosystem build on), or directly for NO_PROXY's hosts and loopback.
 * Connections are kept alive and pooled per host in the agent that made them.
 */
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { HttpProxyAgent } from "http-proxy-agent";
import { HttpsProxyAgent } from "https-proxy-agent";
import { proxied, proxyFor, proxySettings } from "./proxy.ts";
import { trustedCertificates } from "./trust.ts";

export interface AgentOptions {
  keepAlive?: boolean;
  /** Per host, as http.Agent counts them (default: Node's, unlimited). */
  maxSockets?: number;
}

export interface NodeAgents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
}

/** What Node hands an agent for each request (the part read here). */
interface RequestOptions {
  host?: string | null;
  port?: number | string | null;
}

/** `addRequest` is how Node gives an agent a request; proxy agents override it too. */
type Delegate = HttpAgent & { addRequest(request: unknown, options: object): void };

/**
 * An agent that hands each request, as Node gives it (before any byte is written, so that a
 * forwarding proxy agent can still make its path absolute), to the agent that carries it.
 */
function routingAgent<A extends typeof HttpAgent | typeof HttpsAgent>(
  Base: A,
  secure: boolean,
  choose: (secure: boolean, host: string, port: number) => HttpAgent,
  /** TLS options for every request (a proxy agent takes its target's TLS options from the request's). */
  tls: object = {},
): InstanceType<A> {
  class Routing extends (Base as typeof HttpAgent) {
    addRequest(request: unknown, options: RequestOptions): void {
      const port = Number(options.port) || (secure ? 443 : 80);
      const agent = choose(secure, String(options.host ?? "localhost"), port) as Delegate;
      agent.addRequest(request, { ...tls, ...options, secureEndpoint: secure });
    }
  }
  // Kept alive so that requests ask for reuse; the sockets are pooled in the chosen agents.
  return new Routing({ keepAlive: true }) as InstanceType<A>;
}

/**
 * The agents for the environment's proxy and CAs, or undefined when it names neither (callers
 * then keep their own defaults). `options` shape every agent made.
 */
export function nodeAgents(
  env: NodeJS.ProcessEnv = process.env,
  options: AgentOptions = {},
): NodeAgents | undefined {
  const settings = proxySettings(env);
  const ca = trustedCertificates(env);
  if (!proxied(settings) && !ca) return undefined;
  const pool = {
    keepAlive: options.keepAlive ?? true,
    ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
  };
  const trust = ca ? { ca } : {};
  const direct = { http: new HttpAgent(pool), https: new HttpsAgent({ ...pool, ...trust }) };
  if (!proxied(settings)) return { httpAgent: direct.http, httpsAgent: direct.https };
  // One agent per proxy and scheme, made when first used; `ca` is the target's trust through
  // a tunnel, and the proxy's own when it is an https:// proxy.
  const made = new Map<string, HttpAgent>();
  const throughProxy = (proxy: string, secure: boolean): HttpAgent => {
    const key = `${secure ? "tunnel" : "forward"} ${proxy}`;
    let agent = made.get(key);
    if (!agent) {
      agent = secure
        ? new HttpsProxyAgent(proxy, { ...pool, ...trust })
        : new HttpProxyAgent(proxy, { ...pool, ...trust });
      made.set(key, agent);
    }
    return agent;
  };
  const choose = (secure: boolean, host: string, port: number): HttpAgent => {
    const url = `${secure ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const proxy = proxyFor(url, settings);
    if (!proxy) return secure ? direct.https : direct.http;
    return throughProxy(proxy, secure);
  };
  return {
    httpAgent: routingAgent(HttpAgent, false, choose),
    httpsAgent: routingAgent(HttpsAgent, true, choose, trust),
  };
}

const shared = new Map<string, NodeAgents | undefined>();

/** nodeAgents for this process's environment, made once per set of options. */
export function processAgents(options: AgentOptions = {}): NodeAgents | undefined {
  const key = JSON.stringify(options);
  if (!shared.has(key)) shared.set(key, nodeAgents(process.env, options));
  return shared.get(key);
}
