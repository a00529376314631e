/**
 * The installation's settings: one item, read by whatever needs a setting (sign-in, the
 * artifact policy, permissions), changed by administrators through `PATCH /api/gyre/settings`
 * or `gyre settings set`. Secrets in it (the GitHub OAuth app's client secret, the LDAP search
 * account's password) are sealed at rest like environment variables, bound to their place
 * (`settings:<path>`), and never answered: a read shows `********` where one is set.
 *
 * Reads are remembered for at most SETTINGS_CACHE_MS per process, so a change applies
 * everywhere within a second; the process that made it sees it at once.
 *
 *   pk SETTINGS  sk SETTINGS   { values, version }
 */
import { type LdapConfig, LdapConfigSchema } from "../auth/ldap.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict } from "../error.ts";
import { parseInput, parseStored, z } from "../protocol/schema.ts";
import { RETENTION_DEFAULTS } from "../retention/periods.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import { getItem, putItem } from "../store/index.ts";
import { Keys } from "../table.ts";

/** How much of a test's output is kept by default: 64 KiB, a long stack trace and then some. */
export const MAX_TEST_OUTPUT_BYTES = 64 * 1024;

/** What a read shows in place of a secret that is set; sent back unchanged, it keeps the secret. */
export const SECRET_SET = "********";

export const PERMISSION_LEVELS = ["none", "status", "view", "write", "admin"] as const;
export type PermissionLevel = (typeof PERMISSION_LEVELS)[number];

const OrgName = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, "a GitHub organization's login");
const HttpsUrl = z
  .string()
  .max(500)
  .refine((u) => /^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/.test(u), "an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

/** GitHub or GitHub Enterprise sign-in: the OAuth app Gyre signs users in with. */
export const GithubAuthSchema = z
  .object({
    /** `https://api.github.com` or `https://HOST/api/v3`. */
    api_url: HttpsUrl.default("https://api.github.com"),
    /** `https://github.com` or `https://HOST`; derived from api_url when not given. */
    web_url: HttpsUrl.optional(),
    client_id: z.string().min(1).max(200),
    /** Sealed at rest (longer then than the secret given, which is at most MAX_SECRET_LENGTH). */
    client_secret: z.string().min(1).max(4000),
    /** PEM of a private CA that signs the GitHub Enterprise server's certificate. */
    ca: z.string().max(100_000).optional(),
  })
  .strict();
export type GithubAuth = z.output<typeof GithubAuthSchema>;

export const SettingsSchema = z
  .object({
    /** New users start `suspended-new` until an administrator activates them. */
    suspend_new_users: z.boolean().default(false),
    /** When not empty, GitHub users must be active members of one of these organizations. */
    required_orgs: z.array(OrgName).max(100).default([]),
    /** A test's output (its failure message, as `store_test_results` keeps it) is cut past this. */
    max_test_output_bytes: z
      .number()
      .int()
      .min(1024)
      .max(100 * 1024 * 1024)
      .default(MAX_TEST_OUTPUT_BYTES),
    /** Serve artifacts of unsafe content types (HTML, SVG, ...) as themselves. */
    allow_unsafe_artifacts: z.boolean().default(false),
    /**
     * What a signed-in user may do on a project whose repository's permissions Gyre cannot ask
     * GitHub for (not a GitHub project, no GitHub account connected, no GitHub sign-in set up).
     * Administrators may do everything everywhere.
     */
    default_project_permission: z.enum(["none", "view", "write", "admin"]).default("none"),
    /** How long a browser session lasts after sign-in. */
    session_hours: z
      .number()
      .int()
      .min(1)
      .max(24 * 90)
      .default(24),
    /** How long a user's permission on a repository, as GitHub said it, is trusted. */
    permission_cache_seconds: z.number().int().min(0).max(86_400).default(600),
    /** How often a signed-in LDAP user is looked up again (gone from LDAP or the group: refused). */
    ldap_recheck_seconds: z.number().int().min(0).max(86_400).default(300),
    /**
     * Retention (retention/index.ts): days a job's step output, its artifacts, and a cache are
     * kept (output and artifacts from when the job stopped, a cache from its save); 0 keeps them.
     */
    retention_output_days: z.number().int().min(0).max(36_500).default(RETENTION_DEFAULTS.output),
    retention_artifact_days: z.number().int().min(0).max(36_500).default(RETENTION_DEFAULTS.artifacts),
    retention_cache_days: z.number().int().min(0).max(36_500).default(RETENTION_DEFAULTS.caches),
    github: GithubAuthSchema.nullable().default(null),
    /** LDAP-only mode when set: users sign in with LDAP, and may then connect a GitHub account. */
    ldap: LdapConfigSchema.nullable().default(null),
  })
  .strict();
export type Settings = z.output<typeof SettingsSchema>;

/**
 * Where secrets sit in the settings, and the fields that say where each is sent: a secret kept
 * (not given anew) is never sent somewhere else than where it was given for.
 */
const SECRETS = [
  ["github", "client_secret", ["api_url", "web_url"]],
  ["ldap", "search_password", ["host", "port", "security"]],
] as const;
const aadOf = (section: string, field: string) => `settings:${section}.${field}`;
const MAX_SECRET_LENGTH = 500;

const StoredSchema = z.object({ values: z.record(z.string(), z.unknown()), version: z.number().int() });

export const SETTINGS_CACHE_MS = 1000;
let cache: { settings: Settings; version: number; at: number; gyre: Gyre } | undefined;

/** The settings with their defaults, secrets still sealed (see `githubAuth`, `ldapConfig`). */
export async function readSettings(gyre: Gyre): Promise<Settings> {
  return (await readVersioned(gyre)).settings;
}

async function readVersioned(gyre: Gyre, fresh = false): Promise<{ settings: Settings; version: number }> {
  if (!fresh && cache && cache.gyre === gyre && gyre.now() - cache.at < SETTINGS_CACHE_MS) return cache;
  const stored = await getItem(gyre, Keys.settings(), StoredSchema, "settings");
  const settings = parseStored(SettingsSchema, stored?.values ?? {}, "settings");
  cache = { settings, version: stored?.version ?? 0, at: gyre.now(), gyre };
  return cache;
}

/** The GitHub OAuth app with its client secret opened; undefined when GitHub sign-in is not set up. */
export async function githubAuth(gyre: Gyre): Promise<GithubAuth | undefined> {
  const { github } = await readSettings(gyre);
  if (!github) return undefined;
  return {
    ...github,
    client_secret: await decryptSecret(gyre.keys, github.client_secret, aadOf("github", "client_secret")),
  };
}

/** The LDAP configuration with its search password opened; undefined when not in LDAP-only mode. */
export async function ldapConfig(gyre: Gyre): Promise<LdapConfig | undefined> {
  const { ldap } = await readSettings(gyre);
  if (!ldap) return undefined;
  return {
    ...ldap,
    search_password: await decryptSecret(gyre.keys, ldap.search_password, aadOf("ldap", "search_password")),
  };
}

/** The settings as the API answers them: every secret that is set shown as `********`. */
export function settingsJson(settings: Settings): Record<string, unknown> {
  const shown: Record<string, unknown> = structuredClone(settings);
  for (const [section, field] of SECRETS) {
    const part = shown[section] as Record<string, unknown> | null;
    if (part?.[field] !== undefined) part[field] = SECRET_SET;
  }
  return shown;
}

/** A change: top-level settings replaced; `github` and `ldap` merged field by field (null removes). */
export const SettingsPatchSchema = z.record(z.string(), z.unknown());

export interface SettingsChange {
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  settings: Settings;
}

/**
 * Applies a change. The whole result is validated before anything is written (a 400 naming
 * each wrong field changes nothing); a secret given as `********` or left out stays as it was;
 * a write that races another administrator's is refused (409) rather than lost.
 */
export async function updateSettings(gyre: Gyre, patch: Record<string, unknown>): Promise<SettingsChange> {
  const { settings: current, version } = await readVersioned(gyre, true);
  const unknown = Object.keys(patch).filter((k) => !(k in SettingsSchema.shape));
  if (unknown.length)
    throw badRequest(
      `Unknown setting${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. Settings are ${Object.keys(SettingsSchema.shape).join(", ")}.`,
    );
  const merged: Record<string, unknown> = { ...current };
  const sealedKept = new Set<string>();
  for (const [key, value] of Object.entries(patch)) {
    const section = SECRETS.find(([s]) => s === key);
    if (!section || value === null || typeof value !== "object" || Array.isArray(value)) {
      merged[key] = value;
      continue;
    }
    const [, field, endpoints] = section;
    const before = (current[key as "github" | "ldap"] ?? {}) as Record<string, unknown>;
    const next: Record<string, unknown> = { ...before };
    for (const [name, v] of Object.entries(value)) {
      if (v === null) delete next[name];
      else next[name] = v;
    }
    // The secret as stored (sealed) is kept unless a new one is given in clear.
    const given = (value as Record<string, unknown>)[field];
    if ((given === undefined || given === SECRET_SET) && before[field] !== undefined) {
      const moved = endpoints.filter((e) => JSON.stringify(next[e]) !== JSON.stringify(before[e]));
      if (moved.length > 0)
        throw badRequest(
          `${key}.${field} must be given again with a new ${moved.join(", ")}: the stored one is not sent elsewhere.`,
        );
      next[field] = before[field];
      sealedKept.add(key);
    } else if (given === SECRET_SET) {
      throw badRequest(`${key}.${field}: give the secret itself (${SECRET_SET} keeps one that is set).`);
    }
    merged[key] = next;
  }
  const validated = parseInput(SettingsSchema, merged, "settings");
  // Seal new secrets, bound to their place.
  const values: Record<string, unknown> = structuredClone(validated);
  for (const [section, field] of SECRETS) {
    const part = values[section] as Record<string, unknown> | null;
    // Only a section the change gives anew: the others' secrets are sealed already.
    if (!part || !(section in patch) || sealedKept.has(section) || part[field] === undefined) continue;
    if (String(part[field]).length > MAX_SECRET_LENGTH)
      throw badRequest(`Invalid settings: ${section}.${field}: at most ${MAX_SECRET_LENGTH} characters.`);
    part[field] = await encryptSecret(gyre.keys, String(part[field]), aadOf(section, field));
  }
  const written = await putItem(gyre, { ...Keys.settings(), values, version: version + 1 }, [
    version === 0 ? { path: "pk", exists: false } : { path: "version", eq: version },
  ]);
  if (!written)
    throw conflict("The settings were changed by someone else meanwhile: read them and try again.");
  const settings = parseStored(SettingsSchema, values, "settings");
  cache = { settings, version: version + 1, at: gyre.now(), gyre };
  const before = settingsJson(current);
  const after = settingsJson(settings);
  // A secret replaced shows as changed (never its value) in the record.
  for (const [section, field] of SECRETS) {
    const part = after[section] as Record<string, unknown> | null;
    if (part && section in patch && !sealedKept.has(section) && part[field] !== undefined)
      part[field] = `${SECRET_SET} (changed)`;
  }
  return { before: changedOnly(before, after), after: changedOnly(after, before), settings };
}

/** The top-level settings of `a` that differ in `b`: what an audit record says changed. */
function changedOnly(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(a).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(b[k])));
}

/** Forgets this process's cached settings (tests that write the item directly). */
export function forgetSettings(): void {
  cache = undefined;
}
