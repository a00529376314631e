/**
 * SSH keys as OpenSSH writes them, without shelling out to `ssh-keygen` (Lambda has none):
 * - `generateEd25519Key`: a fresh pair, the private half as an unencrypted OpenSSH key
 *   (`-----BEGIN OPENSSH PRIVATE KEY-----`), the public half as `ssh-ed25519 AAAA...`;
 * - `parsePrivateKey`: a key a person uploads (OpenSSH, or PEM: PKCS#1 RSA, SEC1 EC, PKCS#8),
 *   checked and reduced to its public key; passphrase-protected keys are refused, since a job
 *   could not use them;
 * - `md5Fingerprint` (`c9:0b:...`, what CircleCI shows and `add_ssh_keys` takes) and
 *   `sha256Fingerprint` (`SHA256:...`, what `ssh-keygen -l` prints today), both over the
 *   public key's wire encoding (RFC 4253 section 6.6).
 *
 * Formats: PROTOCOL.key in the OpenSSH sources for the private key container, RFC 4253 for
 * the `string`/`uint32`/`mpint` encodings, RFC 5656 for ECDSA and RFC 8709 for Ed25519.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  randomBytes,
} from "node:crypto";
import { badRequest } from "../error.ts";

const MAGIC = Buffer.from("openssh-key-v1\0", "latin1");
const OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----";
/** An uploaded private key larger than this is not a key (RSA 16384 is about 12 KB). */
export const MAX_PRIVATE_KEY_BYTES = 16 * 1024;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sshString = (value: Buffer | string) => {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([u32(bytes.length), bytes]);
};
/** RFC 4253 mpint for a non-negative integer given as big-endian bytes. */
const mpint = (bytes: Buffer) => {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return sshString(
    trimmed.length && trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed,
  );
};
const b64url = (s: string | undefined) => Buffer.from(s ?? "", "base64url");

/** Reads RFC 4253 values from a buffer; any overrun is a malformed key. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  uint32(): number {
    if (this.at + 4 > this.buf.length) throw malformed();
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }
  bytes(): Buffer {
    const length = this.uint32();
    if (length > this.buf.length - this.at) throw malformed();
    const out = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }
  text(): string {
    return this.bytes().toString("latin1");
  }
  get rest(): number {
    return this.buf.length - this.at;
  }
}

const malformed = () =>
  badRequest("private_key is not a valid SSH private key (OpenSSH or PEM format, without a passphrase).");

export interface SshPublicKey {
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, ... */
  type: string;
  /** The public key's wire encoding (what fingerprints hash). */
  blob: Buffer;
}

/** `type AAAA...` (authorized_keys format, no comment). */
export const publicKeyLine = (key: SshPublicKey) => `${key.type} ${key.blob.toString("base64")}`;

/** CircleCI's fingerprint: MD5 of the public key, as colon-separated lowercase hex. */
export function md5Fingerprint(blob: Buffer): string {
  return createHash("md5")
    .update(blob)
    .digest("hex")
    .replace(/(..)(?!$)/g, "$1:");
}

/** `ssh-keygen -l`'s default: `SHA256:` and unpadded base64. */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** PEM armour at OpenSSH's 70 characters a line. */
function armour(body: Buffer): string {
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `${OPENSSH_BEGIN}\n${lines.join("\n")}\n${OPENSSH_END}\n`;
}

/** An unencrypted OpenSSH private key file holding one key. */
export function encodeOpenSshPrivateKey(publicBlob: Buffer, privateFields: Buffer, comment = ""): string {
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, privateFields, sshString(comment)]);
  // Padded with 1, 2, 3, ... to the cipher's block size (8 for "none").
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    MAGIC,
    sshString("none"),
    sshString("none"),
    sshString(""),
    u32(1),
    sshString(publicBlob),
    sshString(section),
  ]);
  return armour(body);
}

export interface GeneratedKey {
  publicKey: string;
  privateKey: string;
  fingerprint: string;
  sha256: string;
}

/** A fresh Ed25519 key pair in OpenSSH formats. */
export function generateEd25519Key(comment = ""): GeneratedKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const pub = b64url(jwk.x);
  const seed = b64url(jwk.d);
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const fields = Buffer.concat([
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
  ]);
  return {
    publicKey: publicKeyLine({ type: "ssh-ed25519", blob }),
    privateKey: encodeOpenSshPrivateKey(blob, fields, comment),
    fingerprint: md5Fingerprint(blob),
    sha256: sha256Fingerprint(blob),
  };
}

/** A private key as uploaded, normalised: LF line ends and one final newline (OpenSSH needs it). */
export function normalisePrivateKey(text: string): string {
  return `${text.replace(/\r\n?/g, "\n").trim()}\n`;
}

export interface ParsedPrivateKey {
  /** The key, normalised (what a job writes to disk). */
  privateKey: string;
  publicKey: SshPublicKey;
}

/** Checks an uploaded private key and derives its public key; 400 for anything else. */
export function parsePrivateKey(input: unknown): ParsedPrivateKey {
  if (typeof input !== "string" || !input.trim()) throw badRequest("private_key must be a non-empty string.");
  if (Buffer.byteLength(input) > MAX_PRIVATE_KEY_BYTES)
    throw badRequest(`private_key is larger than ${MAX_PRIVATE_KEY_BYTES} bytes.`);
  const privateKey = normalisePrivateKey(input);
  if (privateKey.startsWith(OPENSSH_BEGIN)) return { privateKey, publicKey: parseOpenSsh(privateKey) };
  if (/ENCRYPTED/.test(privateKey)) throw encrypted();
  if (!/^-----BEGIN (RSA |EC )?PRIVATE KEY-----\n/.test(privateKey)) throw malformed();
  let jwk: JsonWebKey;
  try {
    jwk = createPublicKey(createPrivateKey({ key: privateKey, format: "pem" })).export({ format: "jwk" });
  } catch {
    throw malformed();
  }
  return { privateKey, publicKey: publicKeyFromJwk(jwk) };
}

const encrypted = () =>
  badRequest(
    "private_key is protected by a passphrase: a job cannot use it. Upload the key without a passphrase (ssh-keygen -p -N '' -f <file>).",
  );

const CURVES: Record<string, string> = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" };

function publicKeyFromJwk(jwk: JsonWebKey): SshPublicKey {
  if (jwk.kty === "RSA") {
    const blob = Buffer.concat([sshString("ssh-rsa"), mpint(b64url(jwk.e)), mpint(b64url(jwk.n))]);
    return { type: "ssh-rsa", blob };
  }
  if (jwk.kty === "EC" && jwk.crv && CURVES[jwk.crv]) {
    const curve = CURVES[jwk.crv]!;
    const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
    const type = `ecdsa-sha2-${curve}`;
    return { type, blob: Buffer.concat([sshString(type), sshString(curve), sshString(point)]) };
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(b64url(jwk.x))]);
    return { type: "ssh-ed25519", blob };
  }
  throw badRequest("private_key is of a kind SSH does not use: RSA, ECDSA (P-256/384/521) or Ed25519 only.");
}

const SSH_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

function parseOpenSsh(text: string): SshPublicKey {
  const end = text.indexOf(OPENSSH_END);
  if (end < 0) throw malformed();
  const base64 = text.slice(OPENSSH_BEGIN.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw malformed();
  const body = Buffer.from(base64, "base64");
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw malformed();
  const r = new Reader(body.subarray(MAGIC.length));
  const cipher = r.text();
  const kdf = r.text();
  r.bytes(); // kdf options
  if (cipher !== "none" || kdf !== "none") throw encrypted();
  if (r.uint32() !== 1) throw badRequest("private_key must hold exactly one key.");
  const blob = r.bytes();
  const section = new Reader(r.bytes());
  const type = new Reader(blob).text();
  if (!SSH_TYPES.has(type)) throw badRequest(`private_key is of an unsupported type (${type.slice(0, 40)}).`);
  // Unencrypted: the two check numbers must agree, and the private part names the same type.
  const check = section.uint32();
  if (section.uint32() !== check || section.text() !== type) throw malformed();
  if (section.rest <= 0) throw malformed();
  return { type, blob };
}

/** Any of a fingerprint's spellings → how the key is matched: `{md5}` (bare hex) or `{sha256}`. */
export function fingerprintQuery(raw: string): { md5: string } | { sha256: string } {
  const value = raw.trim();
  if (/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(value)) return { sha256: value.replace(/=$/, "") };
  const hex = value.replace(/^MD5:/i, "").replace(/:/g, "").toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex)) return { md5: hex };
  throw badRequest(
    `Invalid fingerprint "${value.slice(0, 100)}": expected an MD5 fingerprint (c9:0b:1c:...) or SHA256:...`,
  );
}

export function matchesFingerprint(key: { fingerprint: string; sha256: string }, raw: string): boolean {
  const q = fingerprintQuery(raw);
  return "md5" in q ? key.fingerprint.replace(/:/g, "") === q.md5 : key.sha256 === q.sha256;
}

/** `ssh://`, `git+ssh://` and scp-like `user@host:path` repository URLs. */
export function isSshUrl(url: string): boolean {
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(url)) return true;
  if (url.includes("://") || url.startsWith("/") || url.startsWith(".")) return false;
  // git's rule: a colon before any slash makes it scp-like (a drive letter does not).
  return /^[^/]*:/.test(url) && !/^[A-Za-z]:[\\/]/.test(url);
}
