/**
 * CircleCI contexts: named sets of environment variables an organization shares between its
 * projects. A workflow job names them (`context: [deploy]`) and gets their variables in clear
 * when a builder claims it; the API shows names and dates only, never values.
 *
 * An owner is an organization, written as its slug (`gh/acme`): Gyre has one organization per
 * VCS organization, and a job's owner is its project's (`gh/acme/api` → `gh/acme`).
 *
 * Items (access patterns):
 *
 * | item      | pk             | sk             | gsi1pk                    | gsi1sk  |
 * |-----------|----------------|----------------|---------------------------|---------|
 * | context   | CONTEXT#<id>   | CONTEXT        | OWNER#<owner>#CONTEXTS    | <name>  |
 * | variable  | CONTEXT#<id>   | ENVVAR#<name>  |                           |         |
 *
 * - The id is derived from (owner, name), so the name is unique per owner by a single
 *   conditional put, and a claim finds a context by name with one consistent read.
 * - A context and its variables share a partition: a job reads one context with one query.
 * - Each creation of a context gets a fresh `incarnation`, copied onto its variables; only
 *   variables of the current incarnation count, so a variable written while its context was
 *   being deleted never reappears in a context re-created under the same name.
 * - Listing by owner goes through `gsi1`, which may lag a creation by a moment on AWS.
 */
import { randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { projectEnvironment, validateEnvVar } from "../envvar/index.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { deterministicUuid } from "../id.ts";
import type { Job } from "../job/index.ts";
import { findProject } from "../project/index.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import {
  deleteItem,
  deleteItems,
  getItem,
  type Item,
  putItem,
  putNew,
  queryPage,
  queryRaw,
} from "../store/index.ts";
import { Index, Keys, Partitions, Prefixes } from "../table.ts";

export const ContextSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** The owning organization's slug, `gh/acme`. */
  owner: z.string(),
  createdAt: z.string(),
});
export type Context = z.infer<typeof ContextSchema>;

/** A context as the table holds it (`Keys.context`). */
export const ContextItemSchema = ContextSchema.extend({ incarnation: z.string() });
type ContextItem = z.infer<typeof ContextItemSchema>;

/** One of a context's variables as the table holds it (`Keys.contextVariable`), its value sealed. */
export const VariableItemSchema = z.object({
  contextId: z.string(),
  variable: z.string(),
  incarnation: z.string(),
  sealed: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
type VariableItem = z.infer<typeof VariableItemSchema>;

/** What a read of a context's partition needs to tell its items apart before parsing one. */
const PartitionEntrySchema = z.object({
  pk: z.string(),
  sk: z.string(),
  incarnation: z.string().optional(),
});
type PartitionEntry = z.infer<typeof PartitionEntrySchema>;

/** CircleCI API v2 `Context`. */
export const contextJson = (c: Context) => ({ id: c.id, name: c.name, created_at: c.createdAt });

/** CircleCI API v2 context environment variable: never the value. */
export const variableJson = (v: Pick<VariableItem, "variable" | "createdAt" | "contextId">) => ({
  variable: v.variable,
  created_at: v.createdAt,
  context_id: v.contextId,
});

const MAX_NAME = 256;
const OWNER = /^(gh|github|bb|bitbucket|local)\/([A-Za-z0-9_.-]+)$/;
const SHORT: Record<string, string> = { github: "gh", bitbucket: "bb" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 20;

const aad = (id: string, name: string) => `context:${id}:envvar:${name}`;
const contextId = (owner: string, name: string) => deterministicUuid("context", owner, name);

/** Normalises an owner slug (`github/acme` → `gh/acme`); bad_request when malformed. */
export function parseOwnerSlug(raw: unknown): string {
  const m = typeof raw === "string" ? OWNER.exec(raw) : null;
  if (!m) throw badRequest(`Invalid owner slug ${JSON.stringify(raw)}: expected <vcs>/<org>, e.g. gh/acme.`);
  return `${SHORT[m[1]!] ?? m[1]}/${m[2]}`;
}

/** The organization that owns a project (`gh/acme/api` → `gh/acme`), whose contexts its jobs use. */
export const ownerOfProject = (projectSlug: string) => parseOwnerSlug(projectSlug.split("/", 2).join("/"));

function validateName(name: unknown): string {
  if (typeof name !== "string" || name.trim() === "" || name.length > MAX_NAME || /\p{Cc}/u.test(name)) {
    throw badRequest(`name must be a non-empty string of at most ${MAX_NAME} characters.`);
  }
  return name;
}

export async function createContext(gyre: Gyre, input: { name: unknown; owner: string }): Promise<Context> {
  const owner = parseOwnerSlug(input.owner);
  const name = validateName(input.name);
  const id = contextId(owner, name);
  const item: ContextItem = {
    id,
    name,
    owner,
    incarnation: randomUUID(),
    createdAt: new Date(gyre.now()).toISOString(),
  };
  const created = await putNew(gyre, {
    ...Keys.context(id),
    gsi1pk: Index.contextsOf(owner),
    gsi1sk: name,
    ...item,
  });
  if (!created) throw conflict(`A context named "${name}" already exists for ${owner}.`);
  return pick(item);
}

async function requireContext(gyre: Gyre, id: string): Promise<ContextItem> {
  const context = UUID.test(id)
    ? await getItem(gyre, Keys.context(id), ContextItemSchema, "context")
    : undefined;
  if (!context) throw notFound(`Context ${id} not found.`);
  return context;
}

const pick = (c: Context): Context => ({ id: c.id, name: c.name, owner: c.owner, createdAt: c.createdAt });

export async function getContext(gyre: Gyre, id: string): Promise<Context> {
  return pick(await requireContext(gyre, id));
}

/** The key a page of an owner's listing starts after: that of an item of the same listing. */
const LISTING_KEY = ["pk", "sk", "gsi1pk", "gsi1sk"] as const;
const ListingKeySchema = z.object({ pk: z.string(), sk: z.string(), gsi1pk: z.string(), gsi1sk: z.string() });

/** An owner's contexts by name, a page at a time. */
export async function listContexts(
  gyre: Gyre,
  rawOwner: string,
  options: { pageToken?: string; limit?: number } = {},
): Promise<{ items: Context[]; nextPageToken: string | null }> {
  const owner = parseOwnerSlug(rawOwner);
  const list = Index.contextsOf(owner);
  // Exactly the key of an item of this owner's listing, or DynamoDB would refuse it (a 500).
  const start: Item | undefined = options.pageToken
    ? decodePageToken(list, options.pageToken, { attributes: LISTING_KEY, fixed: { gsi1pk: list } })
    : undefined;
  const page = await queryPage(gyre, { index: "gsi1", partition: list, limit: options.limit ?? PAGE }, start);
  const next = page.lastKey && parseStored(ListingKeySchema, page.lastKey, "context listing key");
  return {
    items: page.items.map((item) => pick(parseStored(ContextItemSchema, item, "context"))),
    nextPageToken: next ? encodePageToken(list, next) : null,
  };
}

/**
 * Everything in a context's partition, read consistently: the context item and its variables,
 * each with the keys and incarnation that tell them apart before one is parsed whole.
 */
async function partition(gyre: Gyre, id: string): Promise<(PartitionEntry & { item: Item })[]> {
  const entries: (PartitionEntry & { item: Item })[] = [];
  for await (const item of queryRaw(gyre, { partition: Partitions.context(id), consistent: true }))
    entries.push({ ...parseStored(PartitionEntrySchema, item, "context partition item"), item });
  return entries;
}

/** The context and its current variables (those of its current incarnation), by name. */
async function readContext(
  gyre: Gyre,
  id: string,
): Promise<{ context: ContextItem; variables: VariableItem[] } | undefined> {
  const entries = await partition(gyre, id);
  const found = entries.find((e) => e.sk === Keys.context(id).sk);
  if (!found) return undefined;
  const context = parseStored(ContextItemSchema, found.item, "context");
  // A variable of an earlier incarnation (left by an interrupted delete) is not this context's.
  const variables = entries
    .filter((e) => e.sk.startsWith(Prefixes.envVar) && e.incarnation === context.incarnation)
    .map((e) => parseStored(VariableItemSchema, e.item, "context variable"));
  return { context, variables };
}

/**
 * Deletes the context and every variable in it. Variables go first: a crash part-way leaves a
 * smaller context that a retried delete finishes, never variables without their context.
 */
export async function deleteContext(gyre: Gyre, id: string): Promise<void> {
  await requireContext(gyre, id);
  const variables = (await partition(gyre, id)).filter((e) => e.sk !== Keys.context(id).sk);
  await deleteItems(
    gyre,
    variables.map(({ pk, sk }) => ({ pk, sk })),
  );
  await deleteItem(gyre, Keys.context(id));
}

/** What a variable's earlier write tells a new one: whether it is this incarnation's, and since when. */
const PreviousVariableSchema = VariableItemSchema.pick({ incarnation: true, createdAt: true }).partial();

/** Creates or replaces a variable (CircleCI's PUT); `created_at` stays that of its first write. */
export async function setContextVariable(
  gyre: Gyre,
  id: string,
  rawName: unknown,
  rawValue: unknown,
): Promise<ReturnType<typeof variableJson>> {
  const context = await requireContext(gyre, id);
  const { name, value } = validateEnvVar(rawName, rawValue);
  const now = new Date(gyre.now()).toISOString();
  const previous = await getItem(
    gyre,
    Keys.contextVariable(id, name),
    PreviousVariableSchema,
    "context variable",
  );
  const item: VariableItem = {
    contextId: id,
    variable: name,
    incarnation: context.incarnation,
    sealed: await encryptSecret(gyre.keys, value, aad(id, name)),
    // One left from an earlier incarnation of this context is not this variable.
    createdAt:
      previous?.incarnation === context.incarnation && previous.createdAt !== undefined
        ? previous.createdAt
        : now,
    updatedAt: now,
  };
  await putItem(gyre, { ...Keys.contextVariable(id, name), ...item });
  return variableJson(item);
}

/** The context's variables by name: names and dates, never values. */
export async function listContextVariables(
  gyre: Gyre,
  id: string,
): Promise<ReturnType<typeof variableJson>[]> {
  const found = UUID.test(id) ? await readContext(gyre, id) : undefined;
  if (!found) throw notFound(`Context ${id} not found.`);
  return found.variables.map(variableJson);
}

export async function deleteContextVariable(gyre: Gyre, id: string, rawName: string): Promise<void> {
  const context = await requireContext(gyre, id);
  const { name } = validateEnvVar(rawName, "");
  const deleted = await deleteItem(gyre, Keys.contextVariable(id, name), [
    { path: "incarnation", eq: context.incarnation },
  ]);
  if (!deleted) throw notFound(`Environment variable ${name} not found in context ${id}.`);
}

/** One context's variables in clear, by (owner, name); undefined when there is no such context. */
async function contextVariables(
  gyre: Gyre,
  owner: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const id = contextId(owner, name);
  const found = await readContext(gyre, id);
  if (!found) return undefined;
  const { variables } = found;
  const values = await Promise.all(
    variables.map((v) => decryptSecret(gyre.keys, v.sealed, aad(id, v.variable))),
  );
  return Object.fromEntries(variables.map((v, i) => [v.variable, values[i]!]));
}

/** What a claimed job gets: its variables in clear, or why it must not run (CircleCI's `unauthorized`). */
export type JobEnvironment = { environment: Record<string, string> } | { unauthorized: string };

/**
 * The variables a job starts with, below CircleCI's built-ins and the job's own `environment`:
 * the project's, then each of its contexts in the order the workflow lists them, a later one
 * winning over an earlier one for the same name. A context that does not exist in the
 * project's organization stops the job before it runs.
 */
/**
 * Whether a job runs a fork's pull request without the project's secrets: it runs the fork's
 * config, so it gets no project or context variable and no additional SSH key unless the project
 * passes secrets to forked pull requests (`forked_pr_secrets`), as CircleCI.
 */
export async function withholdsSecrets(
  gyre: Gyre,
  job: Pick<Job, "projectSlug"> & { pipeline?: Pick<Job["pipeline"], "pullRequests"> },
): Promise<boolean> {
  if (!job.pipeline?.pullRequests?.some((p) => p.fork)) return false;
  const project = await findProject(gyre, job.projectSlug);
  return !project?.settings.forkedPrSecrets;
}

export async function jobEnvironment(
  gyre: Gyre,
  job: Pick<Job, "projectSlug" | "contexts"> & { pipeline?: Pick<Job["pipeline"], "pullRequests"> },
): Promise<JobEnvironment> {
  if (await withholdsSecrets(gyre, job)) return { environment: {} };
  const owner = ownerOfProject(job.projectSlug);
  const [project, ...contexts] = await Promise.all([
    projectEnvironment(gyre, job.projectSlug),
    ...(job.contexts ?? []).map((name) => contextVariables(gyre, owner, name)),
  ]);
  const missing = (job.contexts ?? []).filter((_, i) => contexts[i] === undefined);
  if (missing.length > 0) {
    const names = missing.map((n) => `"${n}"`).join(", ");
    return {
      unauthorized: `Unauthorized: Context not found: ${names} in organization ${owner}. Create it (POST /api/v2/context), or remove it from the workflow's context list, then run the workflow again.`,
    };
  }
  return { environment: Object.assign({}, project, ...contexts) };
}
