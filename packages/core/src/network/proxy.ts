/**
 * Which proxy an outbound request goes through, read from the environment as curl reads it:
 * `http_proxy` / `HTTP_PROXY` for http:// URLs, `https_proxy` / `HTTPS_PROXY` for https:// URLs
 * (lower case first; each scheme has its own, as curl and git have it), and none for a host
 * that `no_proxy` / `NO_PROXY` names. A proxy written without a scheme (`10.0.0.33:3128`, as
 * the reference's examples write it) is `http://10.0.0.33:3128`.
 *
 * NO_PROXY is a list separated by commas or spaces of: `*` (nothing is proxied), a host name
 * (that host and every host below it: `example.com` and `.example.com` both cover
 * `ghe.example.com`), an IP address, an IPv4 CIDR block (`10.0.0.0/8`), each optionally with
 * `:port`. Loopback (`localhost`, 127.0.0.0/8, ::1) is never proxied whatever NO_PROXY says:
 * the local stand-ins, the local API and a builder's own services live there.
 *
 * A proxy URL may carry credentials (`http://user:password@proxy:3128`): Gyre's own calls use
 * them, but they are never repeated in a message (redactProxy), and the variables handed to a
 * job carry none (jobProxyEnvironment): a job that needs them gets them from a project or
 * context variable, which its output masks.
 */
import { isIP } from "node:net";

export interface ProxySettings {
  /** For http:// URLs. */
  readonly http?: string;
  /** For https:// URLs. */
  readonly https?: string;
  /** NO_PROXY, as written (the loopback rule is not in it). */
  readonly noProxy: string;
}

const LOOPBACK_NO_PROXY = ["127.0.0.1", "localhost", "::1"];

/** One variable, lower case first; empty counts as unset. */
function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = (env[name.toLowerCase()] ?? env[name.toUpperCase()])?.trim();
  return value ? value : undefined;
}

/**
 * A proxy variable's value as a message may show it: its credentials (everything between the
 * scheme and the last `@`, parsed or not) replaced by `***`, the user name kept when a password
 * follows it (`http://alice:***@proxy:3128`).
 */
export function redactProxy(value: string): string {
  const at = value.lastIndexOf("@");
  if (at < 0) return value;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0] ?? "";
  const userinfo = value.slice(scheme.length, at);
  const colon = userinfo.indexOf(":");
  const user = userinfo.slice(0, colon);
  // A user name with a password is kept; a lone user name may be a token, and so is hidden.
  const shown = colon > 0 && !/[/?#]/.test(user) ? `${user}:***` : "***";
  return `${scheme}${shown}${value.slice(at)}`;
}

/** A proxy URL without its credentials (`user:password@`). */
export function withoutCredentials(proxy: string): string {
  if (!URL.canParse(proxy)) return redactProxy(proxy);
  const url = new URL(proxy);
  if (!url.username && !url.password) return proxy;
  url.username = "";
  url.password = "";
  return url.href.replace(/\/$/, "");
}

/** A proxy's URL: `http://` when no scheme is given. Refuses what is not a URL, naming the variable (never its credentials). */
export function proxyUrl(value: string, name: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  if (!URL.canParse(withScheme))
    throw new Error(`${name} is not a proxy URL: "${redactProxy(value)}" (write it as http://host:port).`);
  const url = new URL(withScheme);
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Error(`${name} must be an http:// or https:// proxy, not "${redactProxy(value)}".`);
  return url.href.replace(/\/$/, "");
}

/** The proxy settings the environment gives. */
export function proxySettings(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const http = variable(env, "http_proxy");
  const https = variable(env, "https_proxy");
  return {
    ...(http ? { http: proxyUrl(http, "HTTP_PROXY") } : {}),
    ...(https ? { https: proxyUrl(https, "HTTPS_PROXY") } : {}),
    noProxy: variable(env, "no_proxy") ?? "",
  };
}

/** True when some requests go through a proxy. */
export const proxied = (settings: ProxySettings) => Boolean(settings.http || settings.https);

interface NoProxyEntry {
  /** Lower case, without brackets, leading `*.` / `.` or trailing dot. */
  host: string;
  port?: number;
  /** An IPv4 block: the network and its mask. */
  block?: { network: number; mask: number };
}

const ipv4 = (text: string) => text.split(".").reduce((n, part) => n * 256 + Number(part), 0) >>> 0;

function parseEntry(raw: string): NoProxyEntry | undefined {
  let text = raw.trim().toLowerCase();
  if (!text) return undefined;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    text = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (isIP(text) !== 6) {
    // host:port or a.b.c.d:port (a bare IPv6 address has no port: it would be bracketed).
    const withPort = /^(.*[^:]):(\d+)$/.exec(text);
    if (withPort && !withPort[1]!.includes(":")) {
      text = withPort[1]!;
      port = Number(withPort[2]);
    }
  }
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(text);
  if (cidr && isIP(cidr[1]!) === 4 && Number(cidr[2]) <= 32) {
    const bits = Number(cidr[2]);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { host: text, port, block: { network: (ipv4(cidr[1]!) & mask) >>> 0, mask } };
  }
  const host = text.replace(/^\*?\./, "").replace(/\.$/, "");
  return host ? { host, ...(port !== undefined ? { port } : {}) } : undefined;
}

/** The host of a URL as NO_PROXY compares it: lower case, no brackets, no trailing dot. */
const bareHost = (hostname: string) =>
  hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");

/** Loopback: never proxied. */
export function isLoopback(hostname: string): boolean {
  const host = bareHost(hostname);
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  // ::1, and IPv4-mapped 127.x (written ::ffff:127.0.0.1, or ::ffff:7f00:1 as URL writes it).
  if (isIP(host) === 6)
    return host === "::1" || /^0*:(0*:){6}0*1$/.test(host) || /^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(host);
  return false;
}

/** Whether NO_PROXY (or the loopback rule) sends requests to this host and port directly. */
export function bypassesProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = bareHost(hostname);
  if (isLoopback(host)) return true;
  for (const raw of noProxy.split(/[\s,]+/)) {
    if (raw.trim() === "*") return true;
    const entry = parseEntry(raw);
    if (!entry || (entry.port !== undefined && entry.port !== port)) continue;
    if (entry.block) {
      if (isIP(host) === 4 && (ipv4(host) & entry.block.mask) >>> 0 === entry.block.network) return true;
    } else if (host === entry.host || host.endsWith(`.${entry.host}`)) return true;
  }
  return false;
}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };

/** The proxy a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: string | URL, settings: ProxySettings): string | undefined {
  const target = typeof url === "string" ? new URL(url) : url;
  const proxy =
    target.protocol === "https:" ? settings.https : target.protocol === "http:" ? settings.http : undefined;
  if (!proxy) return undefined;
  const port = target.port ? Number(target.port) : (DEFAULT_PORTS[target.protocol] ?? 0);
  return bypassesProxy(target.hostname, port, settings.noProxy) ? undefined : proxy;
}

export interface ProxyEnvironmentOptions {
  /** Keep the proxies' credentials (default true: for Gyre's own processes, such as the server's git). */
  credentials?: boolean;
}

/**
 * The proxy variables for a process Gyre starts (git, a job's steps), in both cases (curl reads
 * only the lower-case `http_proxy`), with loopback added to NO_PROXY so that such a process
 * does not proxy what Gyre never proxies. Empty when the environment names no proxy (a NO_PROXY
 * alone is passed on as it is).
 */
export function proxyEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  options: ProxyEnvironmentOptions = {},
): Record<string, string> {
  const settings = proxySettings(env);
  const shown = (proxy: string) => (options.credentials === false ? withoutCredentials(proxy) : proxy);
  const out: Record<string, string> = {};
  if (settings.http) out.http_proxy = out.HTTP_PROXY = shown(settings.http);
  if (settings.https) out.https_proxy = out.HTTPS_PROXY = shown(settings.https);
  const listed = settings.noProxy.split(/[\s,]+/).filter(Boolean);
  const noProxy = proxied(settings)
    ? [...listed, ...LOOPBACK_NO_PROXY.filter((host) => !listed.includes(host))]
    : listed;
  if (noProxy.length > 0) out.no_proxy = out.NO_PROXY = noProxy.join(",");
  return out;
}

const PROXY_VARIABLES = ["http_proxy", "https_proxy", "no_proxy"];

/**
 * The builder's proxy variables for a job (proxyEnvironment), without the proxies' credentials
 * (a job that needs them gets them from a project or context variable, masked in its output).
 * A variable the job's own configuration sets in either case (`configured`: the project's,
 * contexts' and config's variables) is left out in both, so that the job's value is the one
 * read whichever case a tool reads first.
 */
export function jobProxyEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  configured: Record<string, string | undefined> = {},
): Record<string, string> {
  const set = new Set(Object.keys(configured).map((name) => name.toLowerCase()));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(proxyEnvironment(env, { credentials: false })))
    if (!(PROXY_VARIABLES.includes(name.toLowerCase()) && set.has(name.toLowerCase()))) out[name] = value;
  return out;
}
