/**
 * Which certificate authorities Gyre trusts on its outbound TLS connections: Node's own roots,
 * plus an installation's private ones: GYRE_CA_BUNDLE (a PEM file of one or more CA
 * certificates: a corporate root, a GitHub Enterprise's CA, a self-signed server certificate)
 * and NODE_EXTRA_CA_CERTS (which Node reads itself at start, but only there, and which a `ca`
 * option would otherwise replace).
 *
 * git (libcurl) trusts only the file `GIT_SSL_CAINFO` names once it is set, not the system's
 * store besides: gitCaFile writes the system's bundle and the private CAs into one file for it.
 *
 * Only `-----BEGIN CERTIFICATE-----` blocks are ever taken from a file named here
 * (pemCertificates): a PEM that holds a private key besides its certificate gives the
 * certificate alone, so that no key is copied into a bundle others read.
 */
import { readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { rootCertificates } from "node:tls";

/** Where distributions keep the system's CA bundle (Debian, RHEL, SUSE, Alpine and macOS, FreeBSD). */
const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/ssl/cert.pem",
  "/usr/local/share/certs/ca-root-nss.crt",
];

const files = new Map<string, string>();

/** A PEM certificate block: its body base64 only (nothing else, such as a key, can hide in it). */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----/g;

/**
 * The `-----BEGIN CERTIFICATE-----` blocks of a PEM text, in order, one a line after the other
 * (ending in a newline), or "" when it has none: private keys, parameters, comments and
 * anything else are left out.
 */
export function pemCertificates(text: string): string {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  return blocks.length > 0 ? `${blocks.map((block) => block.replace(/\r\n/g, "\n")).join("\n")}\n` : "";
}

/** True when a PEM text holds a private key (of any kind: PKCS#8, RSA, EC, encrypted...). */
export const holdsPrivateKey = (text: string) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text);

function readPem(path: string, name: string, required: boolean): string | undefined {
  const known = files.get(path);
  if (known !== undefined) return known;
  let text: string;
  try {
    text = pemCertificates(readFileSync(path, "utf8"));
  } catch (error) {
    if (!required) return undefined;
    throw new Error(`${name} names ${path}, which cannot be read: ${(error as Error).message}`);
  }
  if (!text) {
    if (!required) return undefined;
    throw new Error(`${name} names ${path}, which holds no PEM certificate.`);
  }
  files.set(path, text);
  return text;
}

/**
 * The private CA certificates the environment names (PEM texts, certificate blocks only): GYRE_CA_BUNDLE's, then
 * NODE_EXTRA_CA_CERTS'. A GYRE_CA_BUNDLE that cannot be read is an error (an installation
 * that names a CA expects it trusted); an unreadable NODE_EXTRA_CA_CERTS is skipped, as Node
 * skips it.
 */
export function customCertificates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const bundle = env.GYRE_CA_BUNDLE?.trim();
  if (bundle) out.push(readPem(bundle, "GYRE_CA_BUNDLE", true)!);
  const extra = env.NODE_EXTRA_CA_CERTS?.trim();
  if (extra && extra !== bundle) {
    const text = readPem(extra, "NODE_EXTRA_CA_CERTS", false);
    if (text) out.push(text);
  }
  return out;
}

/**
 * The `ca` for a TLS connection: Node's roots with the environment's private CAs and `more`
 * (a connection's own, such as a GitHub Enterprise's), or undefined when there is nothing
 * beyond Node's defaults (the option is then left out).
 */
export function trustedCertificates(
  env: NodeJS.ProcessEnv = process.env,
  more: string[] = [],
): string[] | undefined {
  const custom = [...customCertificates(env), ...more.filter(Boolean)];
  return custom.length > 0 ? [...rootCertificates, ...custom] : undefined;
}

/** The system bundle git would trust without GIT_SSL_CAINFO: an already set one, the distribution's, or Node's roots. */
async function systemBundle(env: NodeJS.ProcessEnv, written: string): Promise<string> {
  for (const path of [env.GIT_SSL_CAINFO, env.SSL_CERT_FILE, ...SYSTEM_BUNDLES]) {
    if (!path || path === written) continue;
    const text = pemCertificates(await readFile(path, "utf8").catch(() => ""));
    if (text) return text;
  }
  return rootCertificates.join("\n");
}

/**
 * Writes, in `dir`, the file git's `GIT_SSL_CAINFO` (`http.sslCAInfo`) should name: the system
 * bundle followed by the private CAs (and `more`); answers its path, or undefined when there
 * is no private CA (git then keeps its own default). Rewritten only when it changed. It holds
 * certificate blocks only (pemCertificates), so it is written readable by all (0644): a job's
 * git, perhaps another user in a container, reads it.
 */
export async function gitCaFile(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
  more: string[] = [],
): Promise<string | undefined> {
  const custom = [...customCertificates(env), ...more.map(pemCertificates)].filter(Boolean);
  if (custom.length === 0) return undefined;
  const file = join(dir, "ca-certificates.pem");
  const text = `${[await systemBundle(env, file), ...custom].map((pem) => pem.trimEnd()).join("\n")}\n`;
  if ((await readFile(file, "utf8").catch(() => undefined)) === text) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await chmod(tmp, 0o644); // whatever the umask: it holds certificates only
  await rename(tmp, file);
  return file;
}
