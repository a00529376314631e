/**
 * A project's SSH keys, CircleCI's two kinds:
 * - **checkout keys** (API v2 `/project/{slug}/checkout-key`): Gyre generates an Ed25519 pair,
 *   answers with the public half (to install as a deploy key on the git server) and keeps the
 *   private half sealed. The preferred one (the newest) checks out `git@...`/`ssh://` repos;
 * - **additional keys** (API v1.1 `/project/:vcs/:org/:repo/ssh-key`): a private key a person
 *   uploads with a hostname, installed by a job's `add_ssh_keys` step.
 *
 * Private keys are sealed at rest (envelope encryption, bound to the project and the key) and
 * are never returned by the API: only a builder running one of the project's jobs receives
 * them in clear (`jobSshKeys`). Fingerprints are CircleCI's MD5 colon-hex; lookups also take
 * the hex without colons and `SHA256:...`.
 *
 *   pk PROJECT#<slug>   sk CHECKOUTKEY#<md5>              a checkout key
 *   pk PROJECT#<slug>   sk SSHKEY#<md5>#<hostname>        an additional key (one per host)
 */
import type { Gyre } from "../context.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { z } from "../protocol/schema.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import { deleteItem, putItem, putNew, queryAll } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";
import {
  generateEd25519Key,
  isSshUrl,
  matchesFingerprint,
  md5Fingerprint,
  parsePrivateKey,
  publicKeyLine,
  sha256Fingerprint,
} from "./keys.ts";

export * from "./keys.ts";

/** What CircleCI answers for a key's `type`. */
export const CheckoutKeyTypeSchema = z.enum(["deploy-key", "github-user-key"]);
export type CheckoutKeyType = z.infer<typeof CheckoutKeyTypeSchema>;

export interface CheckoutKey {
  publicKey: string;
  type: CheckoutKeyType;
  fingerprint: string;
  sha256: string;
  preferred: boolean;
  createdAt: string;
}

export interface AdditionalKey {
  /** Empty: every host. */
  hostname: string;
  fingerprint: string;
  sha256: string;
  publicKey: string;
  createdAt: string;
}

/** A key in clear, for a job. */
export interface JobKey {
  hostname: string;
  fingerprint: string;
  sha256: string;
  privateKey: string;
}

const SealedItemSchema = z.object({
  sk: z.string(),
  fingerprint: z.string(),
  sha256: z.string(),
  publicKey: z.string(),
  createdAt: z.string(),
  sealed: z.string(),
});
/** A checkout key as the table holds it (`Keys.checkoutKey`), its private half sealed. */
export const CheckoutItemSchema = SealedItemSchema.extend({ type: CheckoutKeyTypeSchema });
type CheckoutItem = z.infer<typeof CheckoutItemSchema>;
/** An additional key as the table holds it (`Keys.sshKey`), its private half sealed. */
export const AdditionalItemSchema = SealedItemSchema.extend({ hostname: z.string() });
type AdditionalItem = z.infer<typeof AdditionalItemSchema>;

/** Keys a project may hold of each kind (CircleCI sets no number; this bounds a claim's work). */
export const MAX_KEYS = 50;
/** A fingerprint as its key spells it: the MD5 hex without colons. */
const md5Hex = (fingerprint: string) => fingerprint.replace(/:/g, "");
const checkoutAad = (slug: string, fp: string) => `project:${slug}:checkout-key:${fp}`;
const additionalAad = (slug: string, fp: string, host: string) => `project:${slug}:ssh-key:${fp}:${host}`;
/** Goes into a job's ~/.ssh/config as a `Host` pattern: no spaces, quotes or line breaks. */
const HOSTNAME = /^[A-Za-z0-9._:*?\-[\]]{0,253}$/;

/** The project's keys of one kind, read consistently (a key just added is there). */
async function keysOf<S extends z.ZodType>(
  gyre: Gyre,
  slug: string,
  prefix: string,
  schema: S,
  what: string,
) {
  const found: z.output<S>[] = [];
  const spec = { partition: Partitions.project(slug), sort: { beginsWith: prefix }, consistent: true };
  for await (const item of queryAll(gyre, spec, schema, what)) found.push(item);
  return found;
}
const checkoutItems = (gyre: Gyre, slug: string) =>
  keysOf(gyre, slug, Prefixes.checkoutKey, CheckoutItemSchema, "checkout key");
const additionalItems = (gyre: Gyre, slug: string) =>
  keysOf(gyre, slug, Prefixes.sshKey, AdditionalItemSchema, "ssh key");

/** The preferred checkout key is the newest (ties: by fingerprint), as a new key replaces an old one. */
function withPreferred(list: CheckoutItem[]): CheckoutKey[] {
  const sorted = [...list].sort(
    (a, b) => a.createdAt.localeCompare(b.createdAt) || a.fingerprint.localeCompare(b.fingerprint),
  );
  const preferred = sorted.at(-1)?.fingerprint;
  return sorted.map((i) => ({
    publicKey: i.publicKey,
    type: i.type,
    fingerprint: i.fingerprint,
    sha256: i.sha256,
    preferred: i.fingerprint === preferred,
    createdAt: i.createdAt,
  }));
}

export async function createCheckoutKey(gyre: Gyre, rawSlug: string, type: unknown): Promise<CheckoutKey> {
  const { slug } = parseSlug(rawSlug);
  if (type !== "deploy-key" && type !== "user-key")
    throw badRequest('type must be "deploy-key" or "user-key".');
  if ((await checkoutItems(gyre, slug)).length >= MAX_KEYS)
    throw conflict(`Project ${slug} already has ${MAX_KEYS} checkout keys: delete one first.`);
  const key = generateEd25519Key();
  const { pk, sk } = Keys.checkoutKey(slug, md5Hex(key.fingerprint));
  const item: CheckoutItem = {
    sk,
    type: type === "user-key" ? "github-user-key" : "deploy-key",
    fingerprint: key.fingerprint,
    sha256: key.sha256,
    publicKey: key.publicKey,
    createdAt: new Date(gyre.now()).toISOString(),
    sealed: await encryptSecret(gyre.keys, key.privateKey, checkoutAad(slug, key.fingerprint)),
  };
  await putNew(gyre, { pk, ...item });
  return withPreferred(await checkoutItems(gyre, slug)).find((k) => k.fingerprint === key.fingerprint)!;
}

export async function listCheckoutKeys(gyre: Gyre, rawSlug: string): Promise<CheckoutKey[]> {
  const { slug } = parseSlug(rawSlug);
  // Newest first, as CircleCI lists them.
  return withPreferred(await checkoutItems(gyre, slug)).reverse();
}

export async function getCheckoutKey(gyre: Gyre, rawSlug: string, fingerprint: string): Promise<CheckoutKey> {
  const { slug } = parseSlug(rawSlug);
  const key = (await listCheckoutKeys(gyre, slug)).find((k) => matchesFingerprint(k, fingerprint));
  if (!key) throw notFound(`Checkout key ${fingerprint} not found in project ${slug}.`);
  return key;
}

export async function deleteCheckoutKey(gyre: Gyre, rawSlug: string, fingerprint: string): Promise<void> {
  const { slug } = parseSlug(rawSlug);
  const key = await getCheckoutKey(gyre, slug, fingerprint);
  await deleteItem(gyre, Keys.checkoutKey(slug, md5Hex(key.fingerprint)));
}

/** CircleCI API v2 `CheckoutKey`. */
export function checkoutKeyJson(k: CheckoutKey) {
  return {
    "public-key": k.publicKey,
    type: k.type,
    fingerprint: k.fingerprint,
    preferred: k.preferred,
    "created-at": k.createdAt,
  };
}

export function validateHostname(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string" || !HOSTNAME.test(value.trim()))
    throw badRequest(
      "hostname must be a host name or pattern (letters, digits, . - _ : * ?), or empty for every host.",
    );
  return value.trim();
}

/** Adds (or replaces) an additional key for `hostname`, as CircleCI's v1.1 POST does. */
export async function addSshKey(
  gyre: Gyre,
  rawSlug: string,
  input: { hostname: unknown; privateKey: unknown },
): Promise<AdditionalKey> {
  const { slug } = parseSlug(rawSlug);
  const hostname = validateHostname(input.hostname);
  const { privateKey, publicKey } = parsePrivateKey(input.privateKey);
  const fingerprint = md5Fingerprint(publicKey.blob);
  const existing = await additionalItems(gyre, slug);
  const { pk, sk } = Keys.sshKey(slug, md5Hex(fingerprint), hostname);
  if (existing.length >= MAX_KEYS && !existing.some((i) => i.sk === sk))
    throw conflict(`Project ${slug} already has ${MAX_KEYS} SSH keys: delete one first.`);
  const item: AdditionalItem = {
    sk,
    hostname,
    fingerprint,
    sha256: sha256Fingerprint(publicKey.blob),
    publicKey: publicKeyLine(publicKey),
    createdAt: new Date(gyre.now()).toISOString(),
    sealed: await encryptSecret(gyre.keys, privateKey, additionalAad(slug, fingerprint, hostname)),
  };
  await putItem(gyre, { pk, ...item });
  const { sealed: _, sk: __, ...key } = item;
  return key;
}

export async function listSshKeys(gyre: Gyre, rawSlug: string): Promise<AdditionalKey[]> {
  const { slug } = parseSlug(rawSlug);
  return (await additionalItems(gyre, slug))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.sk.localeCompare(b.sk))
    .map(({ hostname, fingerprint, sha256, publicKey, createdAt }) => ({
      hostname,
      fingerprint,
      sha256,
      publicKey,
      createdAt,
    }));
}

/** Deletes the key with this fingerprint for `hostname`, or for every host when none is given. */
export async function deleteSshKey(
  gyre: Gyre,
  rawSlug: string,
  fingerprint: unknown,
  hostname?: unknown,
): Promise<number> {
  const { slug } = parseSlug(rawSlug);
  if (typeof fingerprint !== "string") throw badRequest("fingerprint must be a string.");
  const host = hostname === undefined ? undefined : validateHostname(hostname);
  const doomed = (await additionalItems(gyre, slug)).filter(
    (i) => matchesFingerprint(i, fingerprint) && (host === undefined || i.hostname === host),
  );
  if (!doomed.length) throw notFound(`SSH key ${fingerprint} not found in project ${slug}.`);
  await Promise.all(
    doomed.map((i) => deleteItem(gyre, Keys.sshKey(slug, md5Hex(i.fingerprint), i.hostname))),
  );
  return doomed.length;
}

/** CircleCI API v1.1's shape for an additional key (project settings' `ssh_keys`). */
export function sshKeyJson(k: AdditionalKey) {
  return {
    hostname: k.hostname,
    fingerprint: k.fingerprint,
    public_key: k.publicKey,
    created_at: k.createdAt,
  };
}

/**
 * The project's preferred checkout key in clear, or null when it has none: for the builder
 * running one of its jobs, and for the server's own reads of its repository over SSH.
 */
export async function preferredCheckoutKey(gyre: Gyre, slug: string): Promise<JobKey | null> {
  const checkout = await checkoutItems(gyre, slug);
  const preferred = withPreferred(checkout).find((k) => k.preferred);
  const sealed = preferred && checkout.find((i) => i.fingerprint === preferred.fingerprint);
  if (!sealed) return null;
  const privateKey = await decryptSecret(gyre.keys, sealed.sealed, checkoutAad(slug, sealed.fingerprint));
  return { hostname: "", fingerprint: sealed.fingerprint, sha256: sealed.sha256, privateKey };
}

/**
 * The keys a job of the project uses, in clear: for a builder that holds one of its running
 * allocations only. The preferred checkout key is given only when the repository is reached
 * over SSH (no other checkout needs it).
 */
export async function jobSshKeys(
  gyre: Gyre,
  slug: string,
  repoUrl: string,
): Promise<{ checkoutKey: JobKey | null; keys: JobKey[] }> {
  const [checkoutKey, additional] = await Promise.all([
    isSshUrl(repoUrl) ? preferredCheckoutKey(gyre, slug) : Promise.resolve(null),
    additionalItems(gyre, slug),
  ]);
  const keys = await Promise.all(
    additional
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.sk.localeCompare(b.sk))
      .map(async (i) => ({
        hostname: i.hostname,
        fingerprint: i.fingerprint,
        sha256: i.sha256,
        privateKey: await decryptSecret(gyre.keys, i.sealed, additionalAad(slug, i.fingerprint, i.hostname)),
      })),
  );
  return { checkoutKey, keys };
}
