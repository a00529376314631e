/**
 * A user's SSH public keys: what an SSH rerun's builder lets them log in with (CircleCI uses the
 * keys of the user's GitHub account; Gyre keeps each user's own list until accounts are linked
 * to GitHub). Only public halves are stored; each is checked to be an OpenSSH public key line
 * whose blob names its own type, and is listed by its SHA-256 fingerprint as `ssh-keygen -l`
 * prints it.
 *
 *   pk USER#<id>   sk SSHKEY#<SHA256:...>
 */
import type { Gyre } from "../context.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, putNew, queryAll } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";
import { sha256Fingerprint } from "./keys.ts";

/** Key types OpenSSH accepts for user authentication (no DSA: OpenSSH refuses it). */
const TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);
export const MAX_USER_KEYS = 20;
const MAX_KEY_CHARS = 16 * 1024;

export const UserSshKeySchema = z.object({
  fingerprint: z.string(),
  publicKey: z.string(),
  title: z.string(),
  createdAt: z.string(),
});
export type UserSshKey = z.infer<typeof UserSshKeySchema>;

export const AddUserKeyBody = z
  .object({
    public_key: z.string().min(1).max(MAX_KEY_CHARS, `at most ${MAX_KEY_CHARS} characters`),
    title: z.string().max(200).optional(),
  })
  .strict();

/** `type base64 [comment]` checked and normalised to `type base64`, with its fingerprint. */
export function parsePublicKey(line: string): { publicKey: string; fingerprint: string; comment: string } {
  // A private key pasted by mistake: said so, and nothing of it kept or echoed.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(line))
    throw badRequest(
      "Invalid public_key: this is a private key, and Gyre kept nothing of it. Paste the public one: the .pub file beside it, or what `ssh-keygen -y -f <key file>` prints.",
    );
  const [type = "", data = "", ...comment] = line.trim().split(/\s+/);
  if (!TYPES.has(type))
    throw badRequest(
      `Invalid public_key: an OpenSSH public key line ("ssh-ed25519 AAAA... comment"); "${type.slice(0, 40)}" is not a key type OpenSSH accepts.`,
    );
  const blob = /^[A-Za-z0-9+/]+={0,2}$/.test(data) ? Buffer.from(data, "base64") : Buffer.alloc(0);
  const named = blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1") : "";
  if (named !== type) throw badRequest(`Invalid public_key: its key data is not a ${type} key.`);
  return { publicKey: `${type} ${data}`, fingerprint: sha256Fingerprint(blob), comment: comment.join(" ") };
}

export async function listUserKeys(gyre: Gyre, userId: string): Promise<UserSshKey[]> {
  const keys: UserSshKey[] = [];
  for await (const k of queryAll(
    gyre,
    { partition: Partitions.user(userId), sort: { beginsWith: Prefixes.sshKey } },
    UserSshKeySchema,
    "SSH public key",
  ))
    keys.push(k);
  return keys.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function addUserKey(
  gyre: Gyre,
  userId: string,
  body: z.infer<typeof AddUserKeyBody>,
): Promise<UserSshKey> {
  const parsed = parsePublicKey(body.public_key);
  const existing = await listUserKeys(gyre, userId);
  if (existing.length >= MAX_USER_KEYS) throw badRequest(`At most ${MAX_USER_KEYS} SSH keys per user.`);
  const key: UserSshKey = {
    fingerprint: parsed.fingerprint,
    publicKey: parsed.publicKey,
    title: body.title ?? parsed.comment,
    createdAt: new Date(gyre.now()).toISOString(),
  };
  if (!(await putNew(gyre, { ...Keys.userSshKey(userId, key.fingerprint), ...key })))
    throw conflict(`This key is already added (${key.fingerprint}).`);
  return key;
}

export async function deleteUserKey(gyre: Gyre, userId: string, fingerprint: string): Promise<void> {
  // Only a SHA-256 fingerprint names a key (anything else, of any length, names none).
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint))
    throw notFound(`No SSH key ${fingerprint.slice(0, 60)} for this user.`);
  if (!(await deleteItem(gyre, Keys.userSshKey(userId, fingerprint), [{ path: "pk", exists: true }])))
    throw notFound(`No SSH key ${fingerprint} for this user.`);
}

export const userKeyJson = (k: UserSshKey) => ({
  fingerprint: k.fingerprint,
  public_key: k.publicKey,
  title: k.title,
  created_at: k.createdAt,
});
