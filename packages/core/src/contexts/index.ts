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
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
} from "@aws-sdk/lib-dynamodb";
import { putNew } from "../aws/dynamo.ts";
import { isConditionFailure } from "../aws/index.ts";
import type { Gyre } from "../context.ts";
import { projectEnvironment, validateEnvVar } from "../envvar/index.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { deterministicUuid } from "../id.ts";
import type { Job } from "../job/index.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";

export interface Context {
  id: string;
  name: string;
  /** The owning organization's slug, `gh/acme`. */
  owner: string;
  createdAt: string;
}

interface ContextItem extends Context {
  incarnation: string;
}

interface VariableItem {
  contextId: string;
  variable: string;
  incarnation: string;
  sealed: string;
  createdAt: string;
  updatedAt: string;
}

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

const contextKey = (id: string) => ({ pk: `CONTEXT#${id}`, sk: "CONTEXT" });
const variableKey = (id: string, name: string) => ({ pk: `CONTEXT#${id}`, sk: `ENVVAR#${name}` });
const contextsOf = (owner: string) => `OWNER#${owner}#CONTEXTS`;
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
  const item: ContextItem & Record<string, unknown> = {
    ...contextKey(contextId(owner, name)),
    gsi1pk: contextsOf(owner),
    gsi1sk: name,
    id: contextId(owner, name),
    name,
    owner,
    incarnation: randomUUID(),
    createdAt: new Date(gyre.now()).toISOString(),
  };
  if (!(await putNew(gyre, item))) throw conflict(`A context named "${name}" already exists for ${owner}.`);
  return { id: item.id, name, owner, createdAt: item.createdAt };
}

async function requireContext(gyre: Gyre, id: string): Promise<ContextItem> {
  const out = UUID.test(id)
    ? await gyre.aws.dynamo.send(
        new GetCommand({ TableName: gyre.resources.tableName, Key: contextKey(id), ConsistentRead: true }),
      )
    : undefined;
  if (!out?.Item) throw notFound(`Context ${id} not found.`);
  return out.Item as ContextItem;
}

const pick = (c: Context): Context => ({ id: c.id, name: c.name, owner: c.owner, createdAt: c.createdAt });

export async function getContext(gyre: Gyre, id: string): Promise<Context> {
  return pick(await requireContext(gyre, id));
}

/** An owner's contexts by name, a page at a time. */
export async function listContexts(
  gyre: Gyre,
  rawOwner: string,
  options: { pageToken?: string; limit?: number } = {},
): Promise<{ items: Context[]; nextPageToken: string | null }> {
  const owner = parseOwnerSlug(rawOwner);
  let start: Record<string, unknown> | undefined;
  if (options.pageToken) {
    try {
      start = JSON.parse(Buffer.from(options.pageToken, "base64url").toString("utf8"));
    } catch {
      throw badRequest("Invalid page-token.");
    }
    // Exactly the key of an item of this owner's listing, or DynamoDB would refuse it (a 500).
    const key = start as Record<string, unknown> | null;
    const valid =
      typeof key === "object" &&
      key !== null &&
      Object.keys(key).sort().join() === "gsi1pk,gsi1sk,pk,sk" &&
      Object.values(key).every((v) => typeof v === "string") &&
      key.gsi1pk === contextsOf(owner);
    if (!valid) throw badRequest("Invalid page-token.");
  }
  const out = await gyre.aws.dynamo.send(
    new QueryCommand({
      TableName: gyre.resources.tableName,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :p",
      ExpressionAttributeValues: { ":p": contextsOf(owner) },
      Limit: options.limit ?? PAGE,
      ExclusiveStartKey: start,
    }),
  );
  const next = out.LastEvaluatedKey;
  return {
    items: ((out.Items ?? []) as ContextItem[]).map(pick),
    nextPageToken: next ? Buffer.from(JSON.stringify(next)).toString("base64url") : null,
  };
}

/** Everything in a context's partition, read consistently: the context item and its variables. */
async function partition(gyre: Gyre, id: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await gyre.aws.dynamo.send(
      new QueryCommand({
        TableName: gyre.resources.tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": contextKey(id).pk },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The context and its current variables (those of its current incarnation), by name. */
async function readContext(
  gyre: Gyre,
  id: string,
): Promise<{ context: ContextItem; variables: VariableItem[] } | undefined> {
  const items = await partition(gyre, id);
  const context = items.find((i) => i.sk === "CONTEXT") as ContextItem | undefined;
  if (!context) return undefined;
  const variables = items.filter(
    (i) => String(i.sk).startsWith("ENVVAR#") && i.incarnation === context.incarnation,
  ) as unknown as VariableItem[];
  return { context, variables };
}

/**
 * Deletes the context and every variable in it. Variables go first: a crash part-way leaves a
 * smaller context that a retried delete finishes, never variables without their context.
 */
export async function deleteContext(gyre: Gyre, id: string): Promise<void> {
  await requireContext(gyre, id);
  const variables = (await partition(gyre, id)).filter((i) => i.sk !== "CONTEXT");
  for (let i = 0; i < variables.length; i += 25) {
    let requests: Record<string, unknown>[] | undefined = variables
      .slice(i, i + 25)
      .map((v) => ({ DeleteRequest: { Key: { pk: v.pk, sk: v.sk } } }));
    for (let tries = 0; requests?.length; tries++) {
      if (tries > 0) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** tries, 2000)));
      const out = await gyre.aws.dynamo.send(
        new BatchWriteCommand({ RequestItems: { [gyre.resources.tableName]: requests } }),
      );
      requests = out.UnprocessedItems?.[gyre.resources.tableName] as Record<string, unknown>[] | undefined;
    }
  }
  await gyre.aws.dynamo.send(new DeleteCommand({ TableName: gyre.resources.tableName, Key: contextKey(id) }));
}

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
  const old = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: variableKey(id, name), ConsistentRead: true }),
  );
  const previous = old.Item as VariableItem | undefined;
  const item: VariableItem = {
    contextId: id,
    variable: name,
    incarnation: context.incarnation,
    sealed: await encryptSecret(gyre.keys, value, aad(id, name)),
    // One left from an earlier incarnation of this context is not this variable.
    createdAt: previous?.incarnation === context.incarnation ? previous.createdAt : now,
    updatedAt: now,
  };
  await gyre.aws.dynamo.send(
    new PutCommand({ TableName: gyre.resources.tableName, Item: { ...variableKey(id, name), ...item } }),
  );
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
  try {
    await gyre.aws.dynamo.send(
      new DeleteCommand({
        TableName: gyre.resources.tableName,
        Key: variableKey(id, name),
        ConditionExpression: "incarnation = :inc",
        ExpressionAttributeValues: { ":inc": context.incarnation },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw notFound(`Environment variable ${name} not found in context ${id}.`);
    throw error;
  }
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
export async function jobEnvironment(
  gyre: Gyre,
  job: Pick<Job, "projectSlug" | "contexts">,
): Promise<JobEnvironment> {
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
