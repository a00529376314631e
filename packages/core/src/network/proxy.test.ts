import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { describe, expect, it } from "vitest";
import { testCertificateAuthority } from "../test-tls.ts";
import { gitEnvironment } from "./git.ts";
import {
  bypassesProxy,
  isLoopback,
  jobProxyEnvironment,
  proxyEnvironment,
  proxyFor,
  proxySettings,
  redactProxy,
  withoutCredentials,
} from "./proxy.ts";
import {
  customCertificates,
  gitCaFile,
  holdsPrivateKey,
  pemCertificates,
  trustedCertificates,
} from "./trust.ts";

const PROXY = "http://10.0.0.33:3128";

describe("proxySettings", () => {
  it("reads lower case first, each scheme its own, and adds http:// to a bare host:port", () => {
    expect(
      proxySettings({ HTTP_PROXY: "10.0.0.33:3128", https_proxy: "https://p:8443/", NO_PROXY: "x" }),
    ).toEqual({
      http: PROXY,
      https: "https://p:8443",
      noProxy: "x",
    });
    expect(proxySettings({ http_proxy: "http://lower:1", HTTP_PROXY: "http://upper:2" }).http).toBe(
      "http://lower:1",
    );
    expect(proxySettings({ HTTP_PROXY: "  " })).toEqual({ noProxy: "" });
  });

  it("refuses what is not an http(s) proxy URL, naming the variable", () => {
    expect(() => proxySettings({ HTTPS_PROXY: "socks5://p:1080" })).toThrow(/HTTPS_PROXY must be an http/);
    expect(() => proxySettings({ HTTP_PROXY: "http://[bad" })).toThrow(/HTTP_PROXY is not a proxy URL/);
  });

  it("never repeats a proxy's credentials in its messages", () => {
    const message = (value: string) => {
      try {
        proxySettings({ HTTPS_PROXY: value });
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error(`${value} was accepted`);
    };
    expect(message("socks5://alice:s3cret@p:1080")).toBe(
      'HTTPS_PROXY must be an http:// or https:// proxy, not "socks5://alice:***@p:1080".',
    );
    expect(message("http://alice:s3cret@[bad")).toContain('"http://alice:***@[bad"');
    // Unparsed: whatever stands before the last @ is hidden, a lone user name (a token) too.
    expect(message("alice:pa/ss@word@[bad:3128")).toContain('"alice:***@[bad:3128"');
    expect(message("http://ghp_T0KEN@[bad")).toContain('"http://***@[bad"');
    for (const value of ["socks5://alice:s3cret@p:1080", "http://alice:s3cret@[bad", "alice:s3cret@[x"])
      expect(message(value)).not.toContain("s3cret");
    expect(redactProxy("http://p:3128")).toBe("http://p:3128");
  });

  it("keeps the credentials for Gyre's own calls", () => {
    expect(proxySettings({ HTTPS_PROXY: "alice:s%40cret@p:3128" }).https).toBe(
      "http://alice:s%40cret@p:3128",
    );
    expect(withoutCredentials("http://alice:s%40cret@p:3128")).toBe("http://p:3128");
    expect(withoutCredentials("https://p:8443")).toBe("https://p:8443");
  });
});

describe("proxyFor", () => {
  const settings = proxySettings({ HTTP_PROXY: PROXY, NO_PROXY: "" });

  it("proxies http:// with HTTP_PROXY only, https:// with HTTPS_PROXY only", () => {
    expect(proxyFor("http://api.github.com/x", settings)).toBe(PROXY);
    expect(proxyFor("https://api.github.com/x", settings)).toBeUndefined();
    const both = proxySettings({ HTTPS_PROXY: "http://tls-proxy:3128" });
    expect(proxyFor("https://s3.amazonaws.com", both)).toBe("http://tls-proxy:3128");
    expect(proxyFor("http://s3.amazonaws.com", both)).toBeUndefined();
  });

  it("never proxies loopback, whatever NO_PROXY says", () => {
    for (const url of [
      "http://127.0.0.1:4566",
      "http://127.9.9.9/",
      "http://localhost:8080",
      "http://api.localhost",
      "http://[::1]:80",
      "http://[::ffff:127.0.0.1]:80",
    ])
      expect(proxyFor(url, settings), url).toBeUndefined();
    expect(isLoopback("128.0.0.1")).toBe(false);
    expect(isLoopback("localhost.example.com")).toBe(false);
  });

  it("follows NO_PROXY as the reference writes it: hosts, domains, IPs, CIDR blocks, ports, *", () => {
    const noProxy =
      "169.254.169.254, 10.0.1.238,ghe.example.com .s3.amazonaws.com,*.internal,10.8.0.0/16,svc:8080";
    const direct = (host: string, port = 443) => bypassesProxy(host, port, noProxy);
    expect(direct("169.254.169.254", 80)).toBe(true);
    expect(direct("10.0.1.238")).toBe(true);
    expect(direct("ghe.example.com")).toBe(true);
    expect(direct("api.ghe.example.com")).toBe(true);
    expect(direct("GHE.Example.Com.")).toBe(true);
    expect(direct("notghe.example.com")).toBe(false);
    expect(direct("bucket.s3.amazonaws.com")).toBe(true);
    expect(direct("s3.amazonaws.com")).toBe(true);
    expect(direct("a.b.internal")).toBe(true);
    expect(direct("10.8.200.1")).toBe(true);
    expect(direct("10.9.0.1")).toBe(false);
    expect(direct("svc", 8080)).toBe(true);
    expect(direct("svc", 8081)).toBe(false);
    expect(direct("github.com")).toBe(false);
    expect(bypassesProxy("anything", 1, "*")).toBe(true);
    expect(bypassesProxy("fe80::1", 1, "[fe80::1]:1")).toBe(true);
    expect(bypassesProxy("fe80::1", 1, "fe80::1")).toBe(true);
  });
});

describe("proxyEnvironment (for git and jobs)", () => {
  it("sets both cases and adds loopback to NO_PROXY", () => {
    expect(proxyEnvironment({ HTTPS_PROXY: "10.0.0.33:3128", NO_PROXY: "ghe.example.com" })).toEqual({
      https_proxy: PROXY,
      HTTPS_PROXY: PROXY,
      no_proxy: "ghe.example.com,127.0.0.1,localhost,::1",
      NO_PROXY: "ghe.example.com,127.0.0.1,localhost,::1",
    });
  });

  it("is empty without a proxy, and passes a lone NO_PROXY on as it is", () => {
    expect(proxyEnvironment({})).toEqual({});
    expect(proxyEnvironment({ NO_PROXY: "a,b" })).toEqual({ no_proxy: "a,b", NO_PROXY: "a,b" });
  });

  it("keeps the proxies' credentials for Gyre's processes, and drops them on request", () => {
    const env = { HTTP_PROXY: "http://alice:s3cret@p:3128", https_proxy: "https://ghp_T0KEN@p:8443" };
    expect(proxyEnvironment(env).HTTP_PROXY).toBe("http://alice:s3cret@p:3128");
    expect(proxyEnvironment(env, { credentials: false })).toEqual({
      http_proxy: "http://p:3128",
      HTTP_PROXY: "http://p:3128",
      https_proxy: "https://p:8443",
      HTTPS_PROXY: "https://p:8443",
      no_proxy: "127.0.0.1,localhost,::1",
      NO_PROXY: "127.0.0.1,localhost,::1",
    });
  });
});

describe("jobProxyEnvironment", () => {
  const builder = { HTTP_PROXY: "http://alice:s3cret@p:3128", HTTPS_PROXY: "http://alice:s3cret@p:3128" };

  it("hands a job the builder's proxies without their credentials", () => {
    const env = jobProxyEnvironment(builder);
    expect(env.HTTP_PROXY).toBe("http://p:3128");
    expect(env.https_proxy).toBe("http://p:3128");
    expect(JSON.stringify(env)).not.toMatch(/alice|s3cret/);
  });

  it("leaves out, in both cases, what the job's own variables set", () => {
    // A project variable HTTPS_PROXY (with its credentials, masked) is read whichever case a tool reads first.
    expect(jobProxyEnvironment(builder, { HTTPS_PROXY: "http://bob:pw@q:3128", OTHER: "x" })).toEqual({
      http_proxy: "http://p:3128",
      HTTP_PROXY: "http://p:3128",
      no_proxy: "127.0.0.1,localhost,::1",
      NO_PROXY: "127.0.0.1,localhost,::1",
    });
    expect(Object.keys(jobProxyEnvironment(builder, { no_proxy: "" })).sort()).toEqual([
      "HTTPS_PROXY",
      "HTTP_PROXY",
      "http_proxy",
      "https_proxy",
    ]);
  });
});

describe("trust", () => {
  const ca = testCertificateAuthority();
  const dir = () => mkdtempSync(join(tmpdir(), "gyre-trust-"));

  it("takes certificate blocks only from a PEM, never a key", () => {
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA==\n-----END CERTIFICATE-----";
    const key = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----";
    const rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
    expect(pemCertificates(`subject=CN x\n${cert}\n${key}\n${cert}\r\n${rsa}\n`)).toBe(`${cert}\n${cert}\n`);
    expect(pemCertificates(key)).toBe("");
    // A key hidden inside a certificate block is no certificate.
    expect(pemCertificates(`-----BEGIN CERTIFICATE-----\n${key}\n-----END CERTIFICATE-----\n`)).toBe("");
    expect(holdsPrivateKey(`${cert}\n${rsa}`)).toBe(true);
    expect(holdsPrivateKey("-----BEGIN ENCRYPTED PRIVATE KEY-----")).toBe(true);
    expect(holdsPrivateKey(cert)).toBe(false);
  });

  it("adds nothing when no private CA is named", () => {
    expect(customCertificates({})).toEqual([]);
    expect(trustedCertificates({})).toBeUndefined();
  });

  it.skipIf(!ca)("trusts GYRE_CA_BUNDLE and NODE_EXTRA_CA_CERTS besides Node's roots", () => {
    const other = join(dir(), "extra.pem");
    writeFileSync(other, ca!.issue(["127.0.0.1"]).cert);
    const trusted = trustedCertificates({ GYRE_CA_BUNDLE: ca!.certFile, NODE_EXTRA_CA_CERTS: other }, [
      "more",
    ]);
    expect(trusted!.length).toBe(rootCertificates.length + 3);
    expect(trusted!.slice(-3)).toEqual([ca!.cert, readFileSync(other, "utf8"), "more"]);
    // An unreadable NODE_EXTRA_CA_CERTS is skipped, as Node skips it; GYRE_CA_BUNDLE is required.
    expect(customCertificates({ NODE_EXTRA_CA_CERTS: "/nonexistent.pem" })).toEqual([]);
    expect(() => customCertificates({ GYRE_CA_BUNDLE: "/nonexistent.pem" })).toThrow(
      /GYRE_CA_BUNDLE names \/nonexistent.pem, which cannot be read/,
    );
  });

  it.skipIf(!ca)("writes git one bundle: the system's CAs, then the private ones", async () => {
    const where = dir();
    expect(await gitCaFile(where, {})).toBeUndefined();
    const file = await gitCaFile(where, { GYRE_CA_BUNDLE: ca!.certFile });
    const text = readFileSync(file!, "utf8");
    expect(text.trimEnd().endsWith(ca!.cert.trimEnd())).toBe(true);
    // The system's bundle comes first (more than one certificate before ours).
    expect(text.split("-----BEGIN CERTIFICATE-----").length).toBeGreaterThan(3);
    // Written again from the same inputs, it stays the same (an already set GIT_SSL_CAINFO that is
    // this file is not read into itself).
    expect(await gitCaFile(where, { GYRE_CA_BUNDLE: ca!.certFile, GIT_SSL_CAINFO: file })).toBe(file);
    expect(readFileSync(file!, "utf8")).toBe(text);
    expect(holdsPrivateKey(text)).toBe(false);
    expect((statSync(file!).mode & 0o777).toString(8)).toBe("644");
    expect(await gitEnvironment(where, { GYRE_CA_BUNDLE: ca!.certFile, HTTP_PROXY: PROXY })).toEqual({
      http_proxy: PROXY,
      HTTP_PROXY: PROXY,
      no_proxy: "127.0.0.1,localhost,::1",
      NO_PROXY: "127.0.0.1,localhost,::1",
      GIT_SSL_CAINFO: file,
    });
  });

  it.skipIf(!ca)(
    "copies no key from a bundle holding one: GYRE_CA_BUNDLE, the git bundle, a connection's CA",
    async () => {
      const server = ca!.issue(["127.0.0.1"]);
      const both = join(dir(), "both.pem");
      writeFileSync(both, `${server.cert}${server.key}${ca!.cert}`);
      const onlyKey = join(dir(), "key.pem");
      writeFileSync(onlyKey, server.key);
      expect(customCertificates({ GYRE_CA_BUNDLE: both })).toEqual([`${server.cert}${ca!.cert}`]);
      expect(customCertificates({ NODE_EXTRA_CA_CERTS: both }).join("")).not.toContain("PRIVATE KEY");
      expect(trustedCertificates({ GYRE_CA_BUNDLE: both })!.join("")).not.toContain("PRIVATE KEY");
      expect(() => customCertificates({ GYRE_CA_BUNDLE: onlyKey })).toThrow(/holds no PEM certificate/);
      expect(customCertificates({ NODE_EXTRA_CA_CERTS: onlyKey })).toEqual([]);
      const where = dir();
      // An earlier bundle (say, written before this check) is replaced whole.
      writeFileSync(join(where, "ca-certificates.pem"), server.key, { mode: 0o644 });
      const file = await gitCaFile(where, { GYRE_CA_BUNDLE: both, GIT_SSL_CAINFO: both }, [
        `${server.key}${ca!.cert}`,
        server.key,
      ]);
      const text = readFileSync(file!, "utf8");
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).toContain(server.cert.trim());
      expect(text.split("-----BEGIN CERTIFICATE-----").length - 1).toBe(5);
    },
  );
});
