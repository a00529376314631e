/**
 * HTTPS for the local server (`gyre start --tls-cert cert.pem --tls-key key.pem`): the
 * certificate and key read and checked before anything starts, the name the server is reached
 * by (the certificate must name 127.0.0.1 or localhost: the server listens on loopback only),
 * and the CA bundle the local builders are given so that they trust it (the operator's own
 * GYRE_CA_BUNDLE / NODE_EXTRA_CA_CERTS, then this certificate).
 *
 * The key stays in its own file: a --tls-cert file that holds a private key too is refused, and
 * the bundle holds certificate blocks only, whatever the files it is made of hold besides.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { customCertificates, holdsPrivateKey, pemCertificates } from "@gyre/core/network/trust";
import type { TlsCertificate } from "@gyre/functions/http/node-server";

/**
 * Reads a PEM certificate (its chain may follow it) and its private key; says what is wrong with
 * either. A certificate file that holds a key is refused (the certificate is copied where others
 * read it); a key file others may read is accepted with a warning.
 */
export async function readTlsCertificate(
  certFile: string,
  keyFile: string,
  warn: (message: string) => void = (message) => process.stderr.write(`${message}\n`),
): Promise<TlsCertificate> {
  const read = (file: string, flag: string) =>
    readFile(file, "utf8").catch((error: Error) => {
      throw new Error(`${flag} ${file} cannot be read: ${error.message}`);
    });
  const [text, key] = await Promise.all([read(certFile, "--tls-cert"), read(keyFile, "--tls-key")]);
  if (holdsPrivateKey(text))
    throw new Error(
      `--tls-cert holds a private key: give the certificate alone (its chain may follow it), ` +
        `and its key in a file of its own with --tls-key (${certFile} holds both).`,
    );
  const mode = process.platform === "win32" ? 0 : (await stat(keyFile)).mode;
  if (mode & 0o044)
    warn(
      `Warning: --tls-key ${keyFile} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): chmod 600 it.`,
    );
  // Certificate blocks only: whatever else the file holds is not copied on.
  const cert = pemCertificates(text);
  let x509: X509Certificate;
  try {
    if (!cert) throw new Error("no certificate block");
    x509 = new X509Certificate(cert);
  } catch {
    throw new Error(`--tls-cert ${certFile} is not a PEM certificate.`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new Error(`--tls-key ${keyFile} is not a PEM private key (an encrypted key is not supported).`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new Error(`--tls-key ${keyFile} is not the key of the certificate in ${certFile}.`);
  if (Date.parse(x509.validTo) < Date.now())
    throw new Error(`The certificate in ${certFile} expired on ${x509.validTo}.`);
  return { cert, key };
}

/** The name the local server is reached by over TLS: one its certificate names. */
export function tlsHost(tls: TlsCertificate): "127.0.0.1" | "localhost" {
  const x509 = new X509Certificate(tls.cert);
  if (x509.checkIP("127.0.0.1")) return "127.0.0.1";
  if (x509.checkHost("localhost")) return "localhost";
  throw new Error(
    `The certificate (${x509.subject.replace(/\n/g, ", ")}) names neither IP 127.0.0.1 nor localhost, ` +
      "and the local server listens on 127.0.0.1 only: add subjectAltName=IP:127.0.0.1 (or DNS:localhost).",
  );
}

/**
 * Writes `<dataDir>/builder-ca.pem`, the GYRE_CA_BUNDLE of the local builders: the CAs this
 * process trusts besides Node's, and the server's certificate (a self-signed one is its own CA).
 * It holds certificate blocks only (never a key that came with them), and is then written
 * readable by all (0644: the CLI's users read it too), replacing any earlier one whole.
 */
export async function builderCaBundle(
  dataDir: string,
  tls: TlsCertificate,
  env = process.env,
): Promise<string> {
  const file = join(dataDir, "builder-ca.pem");
  const blocks = [...customCertificates(env), tls.cert].map(pemCertificates).filter(Boolean);
  const text = `${blocks.map((pem) => pem.trimEnd()).join("\n")}\n`;
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await chmod(tmp, 0o644); // whatever the umask: it holds certificates only
  await rename(tmp, file);
  return file;
}
