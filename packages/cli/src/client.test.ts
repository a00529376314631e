/**
 * Client.fromEnv: which token the CLI sends. GYRE_TOKEN when set; unset, the local admin token
 * in GYRE_DATA_DIR; set but empty, an error (an unexpanded `GYRE_TOKEN=$TOKEN` must not act
 * as the local administrator). And what the CLI says when TLS is what failed, against a local
 * HTTPS server with throwaway certificates (a self-signed one, and one a test CA issued for
 * another host): the certificate error and host, or the GYRE_CA_BUNDLE that cannot be read.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCertificate, testCertificateAuthority } from "@gyre/core/test-tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, Client } from "./client.ts";

let server: Server;
let url: string;
const dataDir = mkdtempSync(join(tmpdir(), "gyre-client-"));
writeFileSync(join(dataDir, "admin-token"), "gyre_local_admin\n");

beforeAll(async () => {
  // Answers the token it was sent.
  server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ token: req.headers["circle-token"] ?? null }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

const sent = (env: NodeJS.ProcessEnv) =>
  Client.fromEnv({ GYRE_URL: url, GYRE_DATA_DIR: dataDir, ...env })
    .get<{ token: string | null }>("/")
    .then((answer) => answer.token);

describe("Client.fromEnv", () => {
  it("sends GYRE_TOKEN when it is set (trimmed)", async () => {
    expect(await sent({ GYRE_TOKEN: "gyre_mine" })).toBe("gyre_mine");
    expect(await sent({ GYRE_TOKEN: " gyre_mine\n" })).toBe("gyre_mine");
  });

  it("with GYRE_TOKEN unset, sends the admin token in GYRE_DATA_DIR; with none there, no token", async () => {
    expect(await sent({})).toBe("gyre_local_admin");
    const empty = mkdtempSync(join(tmpdir(), "gyre-client-none-"));
    expect(await sent({ GYRE_DATA_DIR: empty })).toBe(null);
  });

  it("refuses GYRE_TOKEN set but empty or blank, rather than falling back to the admin token", () => {
    for (const blank of ["", "  ", "\n"])
      expect(() => Client.fromEnv({ GYRE_URL: url, GYRE_DATA_DIR: dataDir, GYRE_TOKEN: blank })).toThrow(
        `GYRE_TOKEN is set but empty: set it to your token (gyre token create makes one), or unset it to use the local admin token in ${join(dataDir, "admin-token")}.`,
      );
  });
});

/** An HTTPS server with `pair` for its certificate that answers `{ok: true}`; its URL and a way to stop it. */
async function httpsServer(pair: { cert: string; key: string }) {
  const https = createHttpsServer(pair, (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ok: true }));
  });
  await new Promise<void>((ok) => https.listen(0, "127.0.0.1", ok));
  return {
    url: `https://127.0.0.1:${(https.address() as AddressInfo).port}`,
    close: () => new Promise<void>((ok) => https.close(() => ok())),
  };
}

/** The error a request of the client made from `env` ends in (an ApiError), by way of `get` and `stream`. */
async function refused(env: NodeJS.ProcessEnv): Promise<string[]> {
  const client = Client.fromEnv({ GYRE_TOKEN: "gyre_t", ...env });
  const messages: string[] = [];
  for (const call of [() => client.get("/"), () => client.stream("/")]) {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    messages.push((error as ApiError).message);
  }
  return messages;
}

const file = (name: string, text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "gyre-client-tls-")), name);
  writeFileSync(path, text);
  return path;
};

const pair = selfSignedCertificate();
const ca = testCertificateAuthority();

describe.skipIf(!pair || !ca)("the CLI over HTTPS: what it says when TLS fails", () => {
  it("names the certificate error and host of a server it does not trust, and GYRE_CA_BUNDLE as the fix", async () => {
    const server = await httpsServer(pair!);
    try {
      for (const message of await refused({ GYRE_URL: server.url }))
        expect(message).toBe(
          `Cannot reach Gyre at ${server.url} (fetch failed): the certificate 127.0.0.1 presented is not trusted ` +
            "(DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate). Set GYRE_CA_BUNDLE to a PEM file of the CA " +
            "that signed it (for gyre start --tls-cert: <data dir>/builder-ca.pem).",
        );
      // A bundle of another CA: still not trusted, and said so (not "is gyre start running?").
      const [other] = await refused({ GYRE_URL: server.url, GYRE_CA_BUNDLE: ca!.certFile });
      expect(other).toMatch(
        /the certificate 127\.0\.0\.1 presented is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT/,
      );
      expect(other).not.toMatch(/gyre start" running/);
      // The fix it names works: the bundle with the certificate that signed it.
      const trusted = Client.fromEnv({
        GYRE_URL: server.url,
        GYRE_TOKEN: "gyre_t",
        GYRE_CA_BUNDLE: file("server.pem", pair!.cert),
      });
      expect(await trusted.get("/")).toEqual({ ok: true });
    } finally {
      await server.close();
    }
  });

  it("says a certificate a trusted CA issued for another host does not name the host asked for", async () => {
    const server = await httpsServer(ca!.issue(["gyre.example.test"]));
    try {
      for (const message of await refused({ GYRE_URL: server.url, GYRE_CA_BUNDLE: ca!.certFile })) {
        expect(message).toMatch(
          new RegExp(
            `^Cannot reach Gyre at ${server.url.replace(/\./g, "\\.")} \\(fetch failed\\): the certificate the server ` +
              "presented does not name 127\\.0\\.0\\.1 \\(it names DNS:gyre\\.example\\.test\\) " +
              "\\(ERR_TLS_CERT_ALTNAME_INVALID: [^)]*127\\.0\\.0\\.1[^)]*\\)\\. " +
              "Put a host name the certificate names in GYRE_URL, or give the server a certificate for 127\\.0\\.0\\.1\\.$",
          ),
        );
      }
    } finally {
      await server.close();
    }
  });

  it("names a GYRE_CA_BUNDLE that cannot be read, or holds no certificate, without trying the server", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "gyre-client-tls-")), "nope.pem");
    for (const message of await refused({ GYRE_URL: "https://127.0.0.1:9", GYRE_CA_BUNDLE: missing }))
      expect(message).toBe(
        `GYRE_CA_BUNDLE names ${missing}, which cannot be read: ENOENT: no such file or directory, open '${missing}'. ` +
          "Set GYRE_CA_BUNDLE to a readable PEM file of the CA that signed Gyre's certificate, or unset it.",
      );
    const empty = file("empty.pem", "no certificate here\n");
    const [message] = await refused({ GYRE_URL: "https://127.0.0.1:9", GYRE_CA_BUNDLE: empty });
    expect(message).toBe(
      `GYRE_CA_BUNDLE names ${empty}, which holds no PEM certificate. ` +
        "Set GYRE_CA_BUNDLE to a readable PEM file of the CA that signed Gyre's certificate, or unset it.",
    );
  });

  it("still says the server is not there when nothing listens (no certificate involved)", async () => {
    const [message] = await refused({ GYRE_URL: "http://127.0.0.1:9" });
    expect(message).toMatch(
      /^Cannot reach Gyre at http:\/\/127\.0\.0\.1:9 \(fetch failed\)\. Is "gyre start" running\?/,
    );
  });
});
