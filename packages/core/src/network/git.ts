/** What git needs to reach a repository as the rest of Gyre reaches the network: the proxy and the CAs. */
import { proxyEnvironment } from "./proxy.ts";
import { gitCaFile } from "./trust.ts";

/**
 * The environment for a git that fetches over HTTPS: the proxy variables (proxy.ts: lower case
 * too, as libcurl reads only `http_proxy`; loopback in NO_PROXY) and, when the installation has
 * private CAs, GIT_SSL_CAINFO naming a bundle written in `dir` (the system's CAs and those).
 */
export async function gitEnvironment(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
  more: string[] = [],
): Promise<Record<string, string>> {
  const ca = await gitCaFile(dir, env, more);
  return { ...proxyEnvironment(env), ...(ca ? { GIT_SSL_CAINFO: ca } : {}) };
}
