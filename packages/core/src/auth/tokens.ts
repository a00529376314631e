/**
 * API tokens. A token is shown once, when it is made; only its SHA-256 is stored, so a leaked
 * table leaks no token. Three kinds:
 *
 * - personal: acts as its user (what CircleCI calls a personal API token);
 * - project: v1.1's project API token, bound to one project with a scope (`status`: its build
 *   status and badges; `view-builds`: read its builds; `all`: read and trigger), whoever made it;
 * - operator: the Nomad API and metrics, for an administrator's tooling, nothing else.
 *
 * Builders' credentials are not tokens (node/index.ts). Clients send a token as CircleCI clients
 * do: a `Circle-Token` header, HTTP basic auth with the token as user name, or `circle-token`.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, putItem, queryAll } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

export const TOKEN_KINDS = ["personal", "project", "operator"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];
export const PROJECT_TOKEN_SCOPES = ["status", "view-builds", "all"] as const;
export type ProjectTokenScope = (typeof PROJECT_TOKEN_SCOPES)[number];

/** An API token as the table holds it (`Keys.token`, by the token's SHA-256). */
export const TokenItemSchema = z.object({
  pk: z.string(),
  userId: z.string(),
  label: z.string(),
  /** Tokens made before kinds existed have none: they are personal; their id is derived. */
  id: z.string().optional(),
  kind: z.enum(TOKEN_KINDS).default("personal"),
  scope: z.enum(PROJECT_TOKEN_SCOPES).optional(),
  projectSlug: z.string().optional(),
  createdAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
});

export interface TokenInfo {
  id: string;
  /** The SHA-256 of the token: its item's key. */
  hash: string;
  userId: string;
  label: string;
  kind: TokenKind;
  scope?: ProjectTokenScope;
  projectSlug?: string;
  createdAt?: string;
  lastUsedAt?: string;
}

export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export function tokenInfo(item: z.output<typeof TokenItemSchema>): TokenInfo {
  const hash = item.pk.slice("TOKEN#".length);
  return {
    id: item.id ?? hash.slice(0, 32),
    hash,
    userId: item.userId,
    label: item.label,
    kind: item.kind,
    ...(item.scope ? { scope: item.scope } : {}),
    ...(item.projectSlug ? { projectSlug: item.projectSlug } : {}),
    ...(item.createdAt ? { createdAt: item.createdAt } : {}),
    ...(item.lastUsedAt ? { lastUsedAt: item.lastUsedAt } : {}),
  };
}

export interface IssueOptions {
  kind?: TokenKind;
  /** For a project token: its project and scope. */
  project?: { slug: string; scope: ProjectTokenScope };
}

/** Issues a token; the returned `token` is the only copy in clear. */
export async function issueToken(
  gyre: Gyre,
  userId: string,
  label: string,
  options: IssueOptions = {},
): Promise<{ token: string; info: TokenInfo }> {
  const kind = options.project ? "project" : (options.kind ?? "personal");
  const token = `gyre_${randomBytes(24).toString("hex")}`;
  const hash = hashToken(token);
  const createdAt = new Date(gyre.now()).toISOString();
  const id = randomUUID();
  const item = {
    ...Keys.token(hash),
    gsi1pk: options.project ? Index.projectTokensOf(options.project.slug) : Index.tokensOf(userId),
    gsi1sk: createdAt,
    id,
    userId,
    label,
    kind,
    ...(options.project ? { scope: options.project.scope, projectSlug: options.project.slug } : {}),
    createdAt,
  };
  await putItem(gyre, item);
  return { token, info: tokenInfo(TokenItemSchema.parse(item)) };
}

/** Issues a personal token and answers it in clear (the local runtime's, tests'). */
export async function createToken(gyre: Gyre, userId: string, label: string): Promise<string> {
  return (await issueToken(gyre, userId, label)).token;
}

/** A user's own tokens (personal and operator), oldest first. */
export async function listTokens(gyre: Gyre, userId: string): Promise<TokenInfo[]> {
  const tokens: TokenInfo[] = [];
  const spec = { index: "gsi1" as const, partition: Index.tokensOf(userId) };
  for await (const item of queryAll(gyre, spec, TokenItemSchema, "api token")) tokens.push(tokenInfo(item));
  return tokens;
}

/** A project's tokens, oldest first. */
export async function listProjectTokens(gyre: Gyre, slug: string): Promise<TokenInfo[]> {
  const tokens: TokenInfo[] = [];
  const spec = { index: "gsi1" as const, partition: Index.projectTokensOf(slug) };
  for await (const item of queryAll(gyre, spec, TokenItemSchema, "api token")) tokens.push(tokenInfo(item));
  return tokens;
}

/** Revokes one of `tokens` by id (404 when none has it); answers what was revoked. */
export async function revokeToken(gyre: Gyre, tokens: readonly TokenInfo[], id: string): Promise<TokenInfo> {
  const token = tokens.find((t) => t.id === id);
  if (!token) throw notFound(`Token ${id.slice(0, 64)} not found.`);
  await deleteItem(gyre, Keys.token(token.hash));
  return token;
}

/** A token as the API lists it: never the token or its digest. */
export const tokenJson = (t: TokenInfo) => ({
  id: t.id,
  label: t.label,
  kind: t.kind,
  ...(t.scope ? { scope: t.scope } : {}),
  ...(t.projectSlug ? { project_slug: t.projectSlug } : {}),
  created_at: t.createdAt ?? null,
  last_used_at: t.lastUsedAt ?? null,
});
