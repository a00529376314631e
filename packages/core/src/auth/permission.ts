/**
 * What a caller may do on a project, in levels: none < status < view < write < admin.
 *
 * - administrators: admin on every project;
 * - a project token: its own project only, at its scope (`status` → status, `view-builds` →
 *   view, `all` → write);
 * - operator tokens and builders: none (the Nomad API and the agent endpoints are theirs);
 * - anyone else on a GitHub project on the GitHub users sign in with (the project's API URL is
 *   the sign-in's), when they have a GitHub account: their permission on the project's
 *   repository (read → view, write → write, admin → admin), as GitHub says with their own
 *   token, remembered for `permission_cache_seconds` and asked again at each sign-in; when
 *   GitHub cannot be reached, the last answer if there is one. A project on another GitHub
 *   host is not GitHub's to answer for here: a same-named repository there proves nothing;
 * - otherwise the `default_project_permission` setting.
 */
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import { readProjectItem } from "../project/index.ts";
import { defaultApiUrl } from "../project/settings.ts";
import { z } from "../protocol/schema.ts";
import { decryptSecret } from "../secret/index.ts";
import { githubAuth, type PermissionLevel, readSettings } from "../settings/index.ts";
import { deleteItems, getItem, putItem, queryRaw } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";
import { repositoryPermission } from "./github-oauth.ts";
import type { Principal } from "./index.ts";
import { githubTokenAad, readUser } from "./users.ts";

export type { PermissionLevel } from "../settings/index.ts";

const RANK: Record<PermissionLevel, number> = { none: 0, status: 1, view: 2, write: 3, admin: 4 };
export const atLeast = (have: PermissionLevel, need: PermissionLevel) => RANK[have] >= RANK[need];

const SCOPE_LEVEL = { status: "status", "view-builds": "view", all: "write" } as const;
const GITHUB_LEVEL = { admin: "admin", write: "write", read: "view" } as const;

/** The project as permissions need it. */
export interface ProjectRef {
  slug: string;
  vcsType: string;
  org: string;
  name: string;
}

const CachedSchema = z.object({ level: z.enum(["none", "view", "write", "admin"]), checkedAt: z.number() });

export async function projectPermission(
  gyre: Gyre,
  principal: Principal,
  project: ProjectRef,
): Promise<PermissionLevel> {
  const { user, token } = principal;
  if (user.builder || token?.kind === "operator") return "none";
  if (token?.kind === "project")
    return token.projectSlug === project.slug && token.scope ? SCOPE_LEVEL[token.scope] : "none";
  if (user.admin) return "admin";
  const settings = await readSettings(gyre);
  if (project.vcsType === "github" && user.github && settings.github) {
    const level = await githubLevel(gyre, user.id, project, settings.permission_cache_seconds);
    if (level) return level;
  }
  return settings.default_project_permission;
}

/** The user's permission on the project's repository as GitHub says it; undefined without a token. */
async function githubLevel(
  gyre: Gyre,
  userId: string,
  project: ProjectRef,
  cacheSeconds: number,
): Promise<PermissionLevel | undefined> {
  const key = Keys.repoPermission(userId, project.slug);
  const cached = await getItem(gyre, key, CachedSchema, "repository permission", { consistent: false });
  if (cached && gyre.now() - cached.checkedAt < cacheSeconds * 1000) return cached.level;
  const [config, stored, item] = await Promise.all([
    githubAuth(gyre),
    readUser(gyre, userId, false),
    readProjectItem(gyre, project.slug),
  ]);
  if (!config || !stored?.github?.token || !item) return undefined;
  const repository = repositoryOf(item, config.api_url);
  if (!repository) return undefined;
  const token = await decryptSecret(gyre.keys, stored.github.token, githubTokenAad(userId));
  let level: PermissionLevel;
  try {
    const permission = await repositoryPermission(config, token, repository);
    level = permission ? GITHUB_LEVEL[permission] : "none";
  } catch (error) {
    if (cached) return cached.level;
    if (error instanceof GyreError && error.code === "unauthorized") return "none"; // their token was revoked on GitHub
    throw error;
  }
  await putItem(gyre, { ...key, level, checkedAt: gyre.now() });
  return level;
}

const trimUrl = (url: string) => url.replace(/\/+$/, "").toLowerCase();

/**
 * `owner/name` of the project's repository on the GitHub at `apiUrl`; undefined when the
 * project is on another host (its API URL, given or derived from its clone URL, is not that one).
 * The repository is its clone URL's when that names one, else the slug's.
 */
function repositoryOf(item: { slug: string; repoUrl: string; github?: { apiUrl?: string } }, apiUrl: string) {
  const projectApi = item.github?.apiUrl ?? defaultApiUrl(item.repoUrl);
  if (!projectApi || trimUrl(projectApi) !== trimUrl(apiUrl)) return undefined;
  const named = /^(?:[a-z+]+:\/\/(?:[^@/]+@)?[^/]+\/|[^@/]+@[^:/]+:)([^/]+)\/([^/]+?)(?:\.git)?\/?$/i.exec(
    item.repoUrl,
  );
  if (named) return `${named[1]}/${named[2]}`;
  const [, org, name] = item.slug.split("/");
  return `${org}/${name}`;
}

/** Forgets a user's remembered repository permissions (each sign-in asks GitHub again). */
export async function forgetPermissions(gyre: Gyre, userId: string): Promise<void> {
  const keys: { pk: string; sk: string }[] = [];
  for await (const item of queryRaw(gyre, {
    partition: Partitions.user(userId),
    sort: { beginsWith: Prefixes.repoPermission },
  }))
    keys.push({ pk: String(item.pk), sk: String(item.sk) });
  await deleteItems(gyre, keys);
}
