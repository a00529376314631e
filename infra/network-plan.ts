/**
 * The stage's network as plain data (no SST or Pulumi globals, so test/infra checks it offline):
 * the proxy and the private certificate authorities the stage's Lambdas and builders go out
 * through, read from the deploying shell as the other stage settings are. infra/function.ts
 * gives it to every function, infra/fleet.ts to the builders' boot script (fleet-plan.ts).
 * docs/operations.md, "Proxies and certificates".
 *
 * - GYRE_STAGE_HTTP_PROXY, GYRE_STAGE_HTTPS_PROXY, GYRE_STAGE_NO_PROXY: become HTTP_PROXY,
 *   HTTPS_PROXY and NO_PROXY in the functions' and the builders' environment, which Gyre reads
 *   as the local runtime does (packages/core/src/network/proxy.ts).
 * - GYRE_STAGE_CA_BUNDLE: a PEM file of CA certificates; its certificates (nothing else of the
 *   file) go into each function's package and onto each builder, and GYRE_CA_BUNDLE names them.
 *
 * Not the shell's own HTTP_PROXY and GYRE_CA_BUNDLE: those are the deploying machine's (what
 * `sst deploy` and the CLI go through), which a stage in AWS may not reach, or may not need.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { proxySettings } from "../packages/core/src/network/proxy.ts";
import { pemCertificates } from "../packages/core/src/network/trust.ts";

export interface StageNetwork {
  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY as the runtime reads them: only those given. */
  proxy: { HTTP_PROXY?: string; HTTPS_PROXY?: string; NO_PROXY?: string };
  /** The private CAs' certificates (PEM blocks only), when GYRE_STAGE_CA_BUNDLE names a file. */
  caCertificates?: string;
}

/** The stage's network from the deploying shell (see above); a proxy that is no URL, or a bundle without a certificate, is refused. */
export function stageNetwork(env: Record<string, string | undefined>): StageNetwork {
  const given = (name: string) => env[`GYRE_STAGE_${name}`]?.trim() || undefined;
  const settings = proxySettings({
    HTTP_PROXY: given("HTTP_PROXY"),
    HTTPS_PROXY: given("HTTPS_PROXY"),
    NO_PROXY: given("NO_PROXY"),
  });
  const proxy = {
    ...(settings.http ? { HTTP_PROXY: settings.http } : {}),
    ...(settings.https ? { HTTPS_PROXY: settings.https } : {}),
    ...(settings.noProxy ? { NO_PROXY: settings.noProxy } : {}),
  };
  const bundle = given("CA_BUNDLE");
  if (!bundle) return { proxy };
  let text: string;
  try {
    text = readFileSync(bundle, "utf8");
  } catch (error) {
    throw new Error(
      `GYRE_STAGE_CA_BUNDLE names ${bundle}, which cannot be read: ${(error as Error).message}`,
    );
  }
  const caCertificates = pemCertificates(text);
  if (!caCertificates)
    throw new Error(`GYRE_STAGE_CA_BUNDLE names ${bundle}, which holds no PEM certificate.`);
  return { proxy, caCertificates };
}

/** Where a function's package holds the stage's CAs (Lambda unpacks the package into /var/task). */
export const LAMBDA_CA_FILE = "gyre-ca-bundle.pem";

/**
 * What the functions get of the stage's network: its proxy variables and, with private CAs,
 * GYRE_CA_BUNDLE naming their certificates, copied into each package from `artifacts` (written
 * there at deploy). Nothing when the stage has neither.
 */
export function lambdaNetwork(network: StageNetwork, artifacts = ".sst/artifacts") {
  const environment: Record<string, string> = { ...network.proxy };
  const copyFiles: { from: string; to: string }[] = [];
  if (network.caCertificates) {
    mkdirSync(artifacts, { recursive: true });
    const from = join(artifacts, LAMBDA_CA_FILE);
    writeFileSync(from, network.caCertificates, { mode: 0o644 });
    copyFiles.push({ from, to: LAMBDA_CA_FILE });
    environment.GYRE_CA_BUNDLE = `/var/task/${LAMBDA_CA_FILE}`;
  }
  return {
    ...(Object.keys(environment).length > 0 ? { environment } : {}),
    ...(copyFiles.length > 0 ? { copyFiles } : {}),
  };
}
