/**
 * A project's build settings, CircleCI's "Advanced settings" that decide what a GitHub
 * delivery builds and what it may see. Kept on the project item (`settings`), each absent one
 * at its default; read with every project (`Project.settings`, defaults applied).
 *
 * | Gyre (API body)      | CircleCI v2 `advanced`          | default | what it does                          |
 * |----------------------|---------------------------------|---------|---------------------------------------|
 * | `build_fork_prs`     | `build_fork_prs`                | off     | pull requests from forks are built    |
 * | `forked_pr_secrets`  | `forks_receive_secret_env_vars` | off     | ...with project and context variables |
 * | `only_build_prs`     | `build_prs_only`                | off     | pushes to other branches than the default one build only while a pull request is open for them |
 * | `set_github_status`  | `set_github_status`             | on      | workflows post commit statuses        |
 * | `autocancel_builds`  | `autocancel_builds`             | off     | a push to a branch other than the default one cancels the branch's workflows still running (dispatch/auto-cancel.ts) |
 */
import { z } from "../protocol/schema.ts";

/** The settings as the project item holds them (any of them absent: its default). */
export const StoredSettingsSchema = z.object({
  buildForkPrs: z.boolean().optional(),
  forkedPrSecrets: z.boolean().optional(),
  onlyBuildPrs: z.boolean().optional(),
  setGithubStatus: z.boolean().optional(),
  autocancelBuilds: z.boolean().optional(),
});
export type StoredSettings = z.infer<typeof StoredSettingsSchema>;

export type ProjectSettings = Required<StoredSettings>;

export const DEFAULT_SETTINGS: ProjectSettings = {
  buildForkPrs: false,
  forkedPrSecrets: false,
  onlyBuildPrs: false,
  setGithubStatus: true,
  autocancelBuilds: false,
};

export const settingsOf = (stored: StoredSettings | undefined): ProjectSettings => ({
  ...DEFAULT_SETTINGS,
  ...Object.fromEntries(Object.entries(stored ?? {}).filter(([, v]) => v !== undefined)),
});

/** The settings in an API body (`POST /api/gyre/projects`, `PATCH /api/gyre/projects/{slug}`). */
export const SettingsBody = z
  .object({
    build_fork_prs: z.boolean(),
    forked_pr_secrets: z.boolean(),
    only_build_prs: z.boolean(),
    set_github_status: z.boolean(),
    autocancel_builds: z.boolean(),
  })
  .partial()
  .strict();
export type SettingsBody = z.infer<typeof SettingsBody>;

export const settingsFromBody = (body: SettingsBody): StoredSettings =>
  Object.fromEntries(
    Object.entries({
      buildForkPrs: body.build_fork_prs,
      forkedPrSecrets: body.forked_pr_secrets,
      onlyBuildPrs: body.only_build_prs,
      setGithubStatus: body.set_github_status,
      autocancelBuilds: body.autocancel_builds,
    }).filter(([, v]) => v !== undefined),
  );

export const settingsJson = (s: ProjectSettings) => ({
  build_fork_prs: s.buildForkPrs,
  forked_pr_secrets: s.forkedPrSecrets,
  only_build_prs: s.onlyBuildPrs,
  set_github_status: s.setGithubStatus,
  autocancel_builds: s.autocancelBuilds,
});

/**
 * How the project reaches GitHub, as the project item holds it (`github`): the API's base URL,
 * the token (sealed, bound to the project: project/github.ts), a CA bundle to trust besides
 * the system's, the webhook URL GitHub is given, and what was installed on the repository.
 */
export const StoredGithubSchema = z.object({
  apiUrl: z.string().optional(),
  /** Sealed (`encryptSecret`); never logged, never answered. */
  token: z.string().optional(),
  caPem: z.string().optional(),
  webhookUrl: z.string().optional(),
  hookId: z.number().int().optional(),
  deployKeyId: z.number().int().optional(),
});
export type StoredGithub = z.infer<typeof StoredGithubSchema>;

/** What every reader of a project may know of its GitHub connection (never the token). */
export interface GithubInfo {
  apiUrl: string;
  hasToken: boolean;
  webhookUrl?: string;
  hookId?: number;
  deployKeyId?: number;
}

/**
 * The GitHub REST API a repository URL implies: github.com's is `https://api.github.com`, a
 * GitHub Enterprise Server's is `https://HOST/api/v3`; undefined for anything else.
 */
export function defaultApiUrl(repoUrl: string): string | undefined {
  const host =
    /^[a-z+]+:\/\/(?:[^@/]+@)?([^/:]+)/i.exec(repoUrl)?.[1] ?? /^[^@/]+@([^:/]+):/.exec(repoUrl)?.[1];
  if (!host) return undefined;
  return host.toLowerCase() === "github.com" ? "https://api.github.com" : `https://${host}/api/v3`;
}

export const githubInfo = (repoUrl: string, stored: StoredGithub | undefined): GithubInfo | undefined => {
  const apiUrl = stored?.apiUrl ?? defaultApiUrl(repoUrl);
  if (!apiUrl) return undefined;
  return {
    apiUrl,
    hasToken: stored?.token !== undefined,
    ...(stored?.webhookUrl ? { webhookUrl: stored.webhookUrl } : {}),
    ...(stored?.hookId !== undefined ? { hookId: stored.hookId } : {}),
    ...(stored?.deployKeyId !== undefined ? { deployKeyId: stored.deployKeyId } : {}),
  };
};

const HttpUrl = z
  .string()
  .max(2048, "at most 2048 characters")
  .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, "an http(s) URL");

/** The GitHub part of `POST /api/gyre/projects` and `PATCH /api/gyre/projects/{slug}`. */
export const GithubBody = z
  .object({
    /** A personal access token or an installation's token with `repo` (statuses, hooks, keys). */
    token: z
      .string()
      .min(1)
      .max(1024, "at most 1024 characters")
      .regex(/^[\x21-\x7e]+$/, "a token"),
    /** `https://api.github.com` or a GitHub Enterprise Server's `https://HOST/api/v3`. */
    api_url: HttpUrl,
    /** What GitHub is told to deliver to (default: this server's URL + `/webhooks/github`). */
    webhook_url: HttpUrl,
    /** PEM certificates to trust for the API besides the system's (a private CA). */
    ca_pem: z
      .string()
      .max(256 * 1024, "at most 256 KiB")
      .refine((pem) => pem.includes("-----BEGIN CERTIFICATE-----"), "PEM certificates"),
  })
  .partial()
  .strict();
export type GithubBody = z.infer<typeof GithubBody>;

/**
 * The same settings in CircleCI's own shapes: API v2's `advanced` object
 * (`GET|PATCH /project/{slug}/settings`) and v1.1's `feature_flags` (`PUT .../settings`).
 */
const CIRCLECI_NAMES = [
  ["buildForkPrs", "build_fork_prs", "build-fork-prs"],
  ["forkedPrSecrets", "forks_receive_secret_env_vars", "forks-receive-secret-env-vars"],
  ["onlyBuildPrs", "build_prs_only", "build-prs-only"],
  ["setGithubStatus", "set_github_status", "set-github-status"],
  ["autocancelBuilds", "autocancel_builds", "autocancel-builds"],
] as const;

const flags = (index: 1 | 2) =>
  z
    .object(
      Object.fromEntries(CIRCLECI_NAMES.map((n) => [n[index], z.boolean()])) as Record<string, z.ZodBoolean>,
    )
    .partial()
    .strict();

export const AdvancedSettingsBody = z.object({ advanced: flags(1) }).strict();
export const FeatureFlagsBody = z.object({ feature_flags: flags(2) }).strict();

export function settingsFromCircleci(
  values: Record<string, boolean | undefined>,
  index: 1 | 2,
): StoredSettings {
  return Object.fromEntries(
    CIRCLECI_NAMES.filter((n) => values[n[index]] !== undefined).map((n) => [n[0], values[n[index]]]),
  );
}

export const advancedSettingsJson = (s: ProjectSettings) => ({
  advanced: Object.fromEntries(CIRCLECI_NAMES.map((n) => [n[1], s[n[0]]])),
});
export const featureFlagsJson = (s: ProjectSettings) =>
  Object.fromEntries(CIRCLECI_NAMES.map((n) => [n[2], s[n[0]]]));
