/**
 * Project environment variables, CircleCI's way: values sealed at rest (envelope encryption,
 * bound to the project and the name), never returned in clear by the API (only `xxxx` and the
 * last four characters), handed in clear only to a builder running one of the project's jobs.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Gyre } from "../context.ts";
import { badRequest, notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { decryptSecret, encryptSecret, maskValue } from "../secret/index.ts";

export interface EnvVarJson {
  name: string;
  /** Masked: `xxxx` and the last four characters. */
  value: string;
}

/** CircleCI's limit on a variable's value. */
export const MAX_VALUE_BYTES = 32 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const key = (slug: string, name: string) => ({ pk: `PROJECT#${slug}`, sk: `ENVVAR#${name}` });
const aad = (slug: string, name: string) => `project:${slug}:envvar:${name}`;

export function validateEnvVar(name: unknown, value: unknown): { name: string; value: string } {
  if (typeof name !== "string" || !NAME.test(name) || name.length > 256) {
    throw badRequest(
      "name must be a valid environment variable name: letters, digits and underscores, not starting with a digit.",
    );
  }
  if (typeof value !== "string") throw badRequest("value must be a string.");
  if (Buffer.byteLength(value) > MAX_VALUE_BYTES)
    throw badRequest(`value is larger than ${MAX_VALUE_BYTES} bytes.`);
  return { name, value };
}

/** Creates or replaces a variable, as CircleCI's POST does. */
export async function setEnvVar(
  gyre: Gyre,
  rawSlug: string,
  input: { name: unknown; value: unknown },
): Promise<EnvVarJson> {
  const { slug } = parseSlug(rawSlug);
  const { name, value } = validateEnvVar(input.name, input.value);
  const masked = maskValue(value);
  await gyre.aws.dynamo.send(
    new PutCommand({
      TableName: gyre.resources.tableName,
      Item: {
        ...key(slug, name),
        name,
        masked,
        sealed: await encryptSecret(gyre.keys, value, aad(slug, name)),
        updatedAt: new Date(gyre.now()).toISOString(),
      },
    }),
  );
  return { name, value: masked };
}

async function items(gyre: Gyre, slug: string) {
  const out = await gyre.aws.dynamo.send(
    new QueryCommand({
      TableName: gyre.resources.tableName,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :sk)",
      ExpressionAttributeValues: { ":pk": `PROJECT#${slug}`, ":sk": "ENVVAR#" },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []) as { name: string; masked: string; sealed: string }[];
}

export async function listEnvVars(gyre: Gyre, rawSlug: string): Promise<EnvVarJson[]> {
  const { slug } = parseSlug(rawSlug);
  return (await items(gyre, slug)).map((i) => ({ name: i.name, value: i.masked }));
}

export async function getEnvVar(gyre: Gyre, rawSlug: string, name: string): Promise<EnvVarJson> {
  const { slug } = parseSlug(rawSlug);
  const out = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: key(slug, name) }),
  );
  if (!out.Item) throw notFound(`Environment variable ${name} not found in project ${slug}.`);
  return { name, value: out.Item.masked as string };
}

export async function deleteEnvVar(gyre: Gyre, rawSlug: string, name: string): Promise<void> {
  const { slug } = parseSlug(rawSlug);
  const out = await gyre.aws.dynamo.send(
    new DeleteCommand({ TableName: gyre.resources.tableName, Key: key(slug, name), ReturnValues: "ALL_OLD" }),
  );
  if (!out.Attributes) throw notFound(`Environment variable ${name} not found in project ${slug}.`);
}

/** The project's variables in clear, for a builder that has claimed one of its jobs. */
export async function projectEnvironment(gyre: Gyre, slug: string): Promise<Record<string, string>> {
  const all = await items(gyre, slug);
  const values = await Promise.all(all.map((i) => decryptSecret(gyre.keys, i.sealed, aad(slug, i.name))));
  return Object.fromEntries(all.map((i, n) => [i.name, values[n]!]));
}
