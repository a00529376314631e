/**
 * Gyre's outbound network: every call the server and the agent make goes through the proxy
 * the environment names (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) and trusts the installation's
 * private CAs (GYRE_CA_BUNDLE, NODE_EXTRA_CA_CERTS).
 *
 * - proxy.ts: which proxy a URL goes through (NO_PROXY, loopback never), and the variables for
 *   the processes Gyre starts (git, jobs).
 * - trust.ts: the CA certificates trusted, and the bundle file git needs.
 * - agents.ts: Node `http.Agent`s for the AWS SDK and `node:http` requests.
 * - fetch.ts: undici dispatchers and `fetch`.
 * - git.ts: git's environment.
 *
 * Import the file you need where a cold start matters (agents.ts does not load undici).
 */
export * from "./agents.ts";
export * from "./fetch.ts";
export * from "./git.ts";
export * from "./proxy.ts";
export * from "./trust.ts";
