import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { fingerprintQuery, isSshUrl, matchesFingerprint } from "./index.ts";
import {
  generateEd25519Key,
  md5Fingerprint,
  normalisePrivateKey,
  parsePrivateKey,
  publicKeyLine,
  sha256Fingerprint,
} from "./keys.ts";

const hasSshKeygen = spawnSync("ssh-keygen", ["-?"]).error === undefined;
const dir = mkdtempSync(join(tmpdir(), "gyre-ssh-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A key file written by `ssh-keygen` itself. */
function keygen(args: string[]): { privateKey: string; publicKey: string; file: string } {
  const file = join(dir, `k${n++}`);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", "", "-f", file, ...args]);
  return {
    file,
    privateKey: readFileSync(file, "utf8"),
    publicKey: readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "),
  };
}

/** What `ssh-keygen -l` prints for a key file: `[sha256, md5]`. */
function keygenFingerprints(file: string): [string, string] {
  const field = (args: string[]) => execFileSync("ssh-keygen", args).toString().split(" ")[1]!;
  return [field(["-l", "-f", file]), field(["-l", "-E", "md5", "-f", file]).replace(/^MD5:/, "")];
}

function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).code).toBe("bad_request");
    return (error as GyreError).message;
  }
  throw new Error("expected a bad_request error");
}

describe("generateEd25519Key", () => {
  it("writes OpenSSH's formats and CircleCI's MD5 fingerprint", () => {
    const key = generateEd25519Key();
    expect(key.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}=?$/);
    expect(key.privateKey).toMatch(
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=]{70}\n)+[A-Za-z0-9+/=]{1,70}\n-----END OPENSSH PRIVATE KEY-----\n$/,
    );
    expect(key.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    expect(key.sha256).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    // Our own parser reads it back to the same public key.
    const parsed = parsePrivateKey(key.privateKey);
    expect(publicKeyLine(parsed.publicKey)).toBe(key.publicKey);
    expect(md5Fingerprint(parsed.publicKey.blob)).toBe(key.fingerprint);
  });

  it("gives a different key every time", () => {
    expect(generateEd25519Key().publicKey).not.toBe(generateEd25519Key().publicKey);
  });

  it.skipIf(!hasSshKeygen)("is read by ssh-keygen: same public key, same fingerprints", () => {
    for (let i = 0; i < 5; i++) {
      const key = generateEd25519Key(i % 2 ? "gyre checkout key" : "");
      const file = join(dir, `gen${i}`);
      writeFileSync(file, key.privateKey, { mode: 0o600 });
      // -y derives the public key from the private key file: it must parse the whole file.
      expect(
        execFileSync("ssh-keygen", ["-y", "-f", file]).toString().trim().split(" ").slice(0, 2).join(" "),
      ).toBe(key.publicKey);
      expect(keygenFingerprints(file)).toEqual([key.sha256, key.fingerprint]);
    }
  });
});

describe.skipIf(!hasSshKeygen)("parsePrivateKey on keys ssh-keygen wrote", () => {
  const kinds: [string, string[]][] = [
    ["ed25519 (OpenSSH)", ["-t", "ed25519"]],
    ["rsa 2048 (OpenSSH)", ["-t", "rsa", "-b", "2048"]],
    ["ecdsa 256 (OpenSSH)", ["-t", "ecdsa", "-b", "256"]],
    ["ecdsa 384 (OpenSSH)", ["-t", "ecdsa", "-b", "384"]],
    ["ecdsa 521 (OpenSSH)", ["-t", "ecdsa", "-b", "521"]],
    ["rsa 2048 (PEM, PKCS#1)", ["-t", "rsa", "-b", "2048", "-m", "PEM"]],
    ["ecdsa 256 (PEM, SEC1)", ["-t", "ecdsa", "-b", "256", "-m", "PEM"]],
    ["rsa 3072 (PKCS#8)", ["-t", "rsa", "-b", "3072", "-m", "PKCS8"]],
  ];
  for (const [name, args] of kinds) {
    it(`derives the public key and fingerprints of ${name}`, () => {
      const key = keygen(args);
      const parsed = parsePrivateKey(key.privateKey);
      expect(publicKeyLine(parsed.publicKey)).toBe(key.publicKey);
      expect([sha256Fingerprint(parsed.publicKey.blob), md5Fingerprint(parsed.publicKey.blob)]).toEqual(
        keygenFingerprints(`${key.file}.pub`),
      );
    });
  }

  it("accepts CRLF line ends and missing final newlines, and stores the key normalised", () => {
    const key = keygen(["-t", "ed25519"]);
    const parsed = parsePrivateKey(`\r\n${key.privateKey.trim().replace(/\n/g, "\r\n")}`);
    expect(parsed.privateKey).toBe(key.privateKey);
    expect(publicKeyLine(parsed.publicKey)).toBe(key.publicKey);
  });

  it("refuses passphrase-protected keys, saying why", () => {
    for (const args of [
      ["-t", "ed25519"],
      ["-t", "rsa", "-b", "2048", "-m", "PEM"],
      ["-t", "rsa", "-b", "2048", "-m", "PKCS8"],
    ]) {
      const file = join(dir, `enc${n++}`);
      execFileSync("ssh-keygen", ["-q", "-N", "correct horse", "-f", file, ...args]);
      expect(badRequest(() => parsePrivateKey(readFileSync(file, "utf8")))).toMatch(/passphrase/);
    }
  });

  it("refuses a public key given as the private key", () => {
    const key = keygen(["-t", "ed25519"]);
    badRequest(() => parsePrivateKey(key.publicKey));
  });
});

describe("parsePrivateKey on garbage", () => {
  it("answers 400 for anything that is not a key, never another error", () => {
    const inputs: unknown[] = [undefined, null, 42, {}, "", "   ", "hello", "x".repeat(17 * 1024)];
    const valid = generateEd25519Key().privateKey;
    const body = valid.split("\n").slice(1, -2).join("");
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(body, "base64");
      // Flip, cut or extend the real key's bytes: every length field is a chance to overrun.
      const at = i % bytes.length;
      if (i % 3 === 0) bytes[at] = bytes[at]! ^ (1 + (i % 255));
      const mutated =
        i % 3 === 1
          ? bytes.subarray(0, at)
          : i % 3 === 2
            ? Buffer.concat([bytes, randomBytes(i % 9)])
            : bytes;
      inputs.push(
        `-----BEGIN OPENSSH PRIVATE KEY-----\n${mutated.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`,
      );
      inputs.push(
        `-----BEGIN RSA PRIVATE KEY-----\n${randomBytes(i).toString("base64")}\n-----END RSA PRIVATE KEY-----`,
      );
      inputs.push(randomBytes(i).toString("latin1"));
    }
    for (const input of inputs) {
      try {
        parsePrivateKey(input);
      } catch (error) {
        expect(error).toBeInstanceOf(GyreError);
        expect((error as GyreError).code).toBe("bad_request");
      }
    }
    // Untouched, it parses.
    expect(parsePrivateKey(valid).publicKey.type).toBe("ssh-ed25519");
  });

  it("normalises line ends", () => {
    expect(normalisePrivateKey("a\r\nb\rc\n\n")).toBe("a\nb\nc\n");
  });
});

describe("fingerprints and URLs", () => {
  const key = {
    fingerprint: "c9:0b:1c:4f:d5:65:56:b9:ad:88:f9:81:2b:37:74:2f",
    sha256: `SHA256:${"A".repeat(43)}`,
  };

  it("matches a fingerprint however it is spelled", () => {
    expect(matchesFingerprint(key, "c9:0b:1c:4f:d5:65:56:b9:ad:88:f9:81:2b:37:74:2f")).toBe(true);
    expect(matchesFingerprint(key, "C90B1C4FD56556B9AD88F9812B37742F")).toBe(true);
    expect(matchesFingerprint(key, "MD5:c9:0b:1c:4f:d5:65:56:b9:ad:88:f9:81:2b:37:74:2f")).toBe(true);
    expect(matchesFingerprint(key, key.sha256)).toBe(true);
    expect(matchesFingerprint(key, "00:0b:1c:4f:d5:65:56:b9:ad:88:f9:81:2b:37:74:2f")).toBe(false);
    badRequest(() => fingerprintQuery("nope"));
  });

  it("knows which repository URLs use SSH", () => {
    for (const url of [
      "git@github.com:acme/api.git",
      "ssh://git@127.0.0.1:2222/srv/repo.git",
      "git+ssh://git@host/repo",
      "github.com:acme/api",
    ])
      expect(isSshUrl(url), url).toBe(true);
    for (const url of [
      "https://github.com/acme/api.git",
      "/srv/git/repo",
      "./repo",
      "file:///srv/repo",
      "C:/repo",
      "git://host/repo",
    ])
      expect(isSshUrl(url), url).toBe(false);
  });
});
