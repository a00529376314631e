/**
 * Project environment variables, CircleCI's way: values sealed at rest (envelope encryption,
 * bound to the project and the name), never returned in clear by the API (only `xxxx` and the
 * last four characters), handed in clear only to a builder running one of the project's jobs.
 */
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { EnvVarBody, EnvVarName, Limits } from "../protocol/api.ts";
import { parseInput, z } from "../protocol/schema.ts";
import { decryptSecret, encryptSecret, maskValue } from "../secret/index.ts";
import { deleteItem, getItem, putItem, queryAll } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";

const EnvVarItemSchema = z.object({ name: z.string(), masked: z.string(), sealed: z.string() });

export interface EnvVarJson {
  name: string;
  /** Masked: `xxxx` and the last four characters. */
  value: string;
}

/** CircleCI's limit on a variable's value. */
export const MAX_VALUE_BYTES = Limits.envVarValueBytes;

const key = Keys.envVar;
const aad = (slug: string, name: string) => `project:${slug}:envvar:${name}`;

/** The variable's name and value, or a 400 naming what is wrong (see `EnvVarBody`). */
export function validateEnvVar(name: unknown, value: unknown): { name: string; value: string } {
  return parseInput(EnvVarBody, { name, value }, "environment variable");
}

const validName = (name: unknown) => parseInput(EnvVarName, name, "environment variable name");

/** Creates or replaces a variable, as CircleCI's POST does. */
export async function setEnvVar(
  gyre: Gyre,
  rawSlug: string,
  input: { name: unknown; value: unknown },
): Promise<EnvVarJson> {
  const { slug } = parseSlug(rawSlug);
  const { name, value } = validateEnvVar(input.name, input.value);
  const masked = maskValue(value);
  await putItem(gyre, {
    ...key(slug, name),
    name,
    masked,
    sealed: await encryptSecret(gyre.keys, value, aad(slug, name)),
    updatedAt: new Date(gyre.now()).toISOString(),
  });
  return { name, value: masked };
}

async function items(gyre: Gyre, slug: string) {
  const all: z.infer<typeof EnvVarItemSchema>[] = [];
  for await (const item of queryAll(
    gyre,
    { partition: Partitions.project(slug), sort: { beginsWith: Prefixes.envVar }, consistent: true },
    EnvVarItemSchema,
    "environment variable",
  ))
    all.push(item);
  return all;
}

export async function listEnvVars(gyre: Gyre, rawSlug: string): Promise<EnvVarJson[]> {
  const { slug } = parseSlug(rawSlug);
  return (await items(gyre, slug)).map((i) => ({ name: i.name, value: i.masked }));
}

export async function getEnvVar(gyre: Gyre, rawSlug: string, rawName: string): Promise<EnvVarJson> {
  const { slug } = parseSlug(rawSlug);
  const name = validName(rawName);
  const item = await getItem(gyre, key(slug, name), EnvVarItemSchema, "environment variable");
  if (!item) throw notFound(`Environment variable ${name} not found in project ${slug}.`);
  return { name, value: item.masked };
}

export async function deleteEnvVar(gyre: Gyre, rawSlug: string, rawName: string): Promise<void> {
  const { slug } = parseSlug(rawSlug);
  const name = validName(rawName);
  if (!(await deleteItem(gyre, key(slug, name), [{ path: "pk", exists: true }])))
    throw notFound(`Environment variable ${name} not found in project ${slug}.`);
}

/** The project's variables in clear, for a builder that has claimed one of its jobs. */
export async function projectEnvironment(gyre: Gyre, slug: string): Promise<Record<string, string>> {
  const all = await items(gyre, slug);
  const values = await Promise.all(all.map((i) => decryptSecret(gyre.keys, i.sealed, aad(slug, i.name))));
  return Object.fromEntries(all.map((i, n) => [i.name, values[n]!]));
}
