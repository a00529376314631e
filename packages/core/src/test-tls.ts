/**
 * For tests: a throwaway self-signed certificate for 127.0.0.1 (EC, instant to make), made with
 * the openssl CLI; undefined where there is no openssl. Stand-ins serve HTTPS with it.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function selfSignedCertificate(): { cert: string; key: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "gyre-ca-"));
  try {
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
        ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2"],
        ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ],
      { stdio: "ignore" },
    );
  } catch {
    return undefined;
  }
  return {
    cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    key: readFileSync(join(dir, "key.pem"), "utf8"),
  };
}

/** For tests: a throwaway certificate authority (its PEM, and that PEM in a file) that issues server certificates. */
export interface TestCertificateAuthority {
  /** The CA's certificate (PEM). */
  cert: string;
  /** A file holding `cert`, for GYRE_CA_BUNDLE and friends. */
  certFile: string;
  /** A server certificate and key for `names` (IP addresses and DNS names, `*.example.test` allowed). */
  issue(names: string[]): { cert: string; key: string };
}

/** A CA made with the openssl CLI (EC keys: instant), or undefined where there is no openssl. */
export function testCertificateAuthority(): TestCertificateAuthority | undefined {
  const dir = mkdtempSync(join(tmpdir(), "gyre-test-ca-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    openssl(
      ...["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
      ...["-subj", "/CN=Gyre throwaway test CA", "-addext", "basicConstraints=critical,CA:TRUE"],
      ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    );
  } catch {
    return undefined;
  }
  let serial = 0;
  return {
    cert: readFileSync(join(dir, "ca.pem"), "utf8"),
    certFile: join(dir, "ca.pem"),
    issue(names) {
      const name = `server-${++serial}`;
      const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
      writeFileSync(
        join(dir, `${name}.ext`),
        `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
      );
      openssl(
        "req",
        "-new",
        ...ec,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/CN=${names[0]}`,
      );
      openssl(
        ...["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key"],
        ...["-set_serial", String(serial), "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`],
      );
      return {
        cert: readFileSync(join(dir, `${name}.pem`), "utf8"),
        key: readFileSync(join(dir, `${name}.key`), "utf8"),
      };
    },
  };
}
