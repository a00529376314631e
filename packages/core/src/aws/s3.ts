/**
 * The bucket's few shapes of access, shared by every module that keeps objects there (step
 * output, orbs, caches, artifacts, workspaces, test results): text and JSON reads that
 * answer undefined for a missing object, JSON writes, paged listing of a prefix, and deletion.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import type { Gyre } from "../context.ts";
import { parseStored, type z } from "../protocol/schema.ts";

/** True when S3 (or a stand-in) says the object is not there. */
export function isMissing(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === "NoSuchKey" ||
      error.name === "NotFound" ||
      (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
  );
}

export async function readText(gyre: Gyre, key: string): Promise<string | undefined> {
  try {
    const out = await gyre.aws.s3.send(new GetObjectCommand({ Bucket: gyre.resources.bucketName, Key: key }));
    return (await out.Body?.transformToString("utf8")) ?? "";
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** A JSON object Gyre wrote, parsed by its schema; undefined when there is none. */
export async function readJson<S extends z.ZodType>(
  gyre: Gyre,
  key: string,
  schema: S,
  what: string,
): Promise<z.output<S> | undefined> {
  const text = await readText(gyre, key);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text || "null");
  } catch {
    return parseStored(schema, text, what);
  }
  return value === null ? undefined : parseStored(schema, value, what);
}

export async function putJson(gyre: Gyre, key: string, value: unknown): Promise<void> {
  await gyre.aws.s3.send(
    new PutObjectCommand({
      Bucket: gyre.resources.bucketName,
      Key: key,
      Body: JSON.stringify(value),
      ContentType: "application/json",
    }),
  );
}

/**
 * Every object under `prefix`, page by page, in key order. ListObjects (v1) with `Marker`, which
 * S3 and s3rver both page by the last key: s3rver's v2 continuation tokens need a cipher Node's
 * OpenSSL 3 leaves out (DES), so a v2 listing of more than 1000 objects fails there.
 */
export async function* listObjects(
  gyre: Gyre,
  prefix: string,
  /** Only the keys after this one (the listing's `Marker`): a long prefix read from a point on. */
  startAfter?: string,
): AsyncGenerator<{ key: string; lastModified: string; size: number }> {
  let after: string | undefined = startAfter;
  for (;;) {
    const out = await gyre.aws.s3.send(
      new ListObjectsCommand({
        Bucket: gyre.resources.bucketName,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(after ? { Marker: after } : {}),
      }),
    );
    const contents = out.Contents ?? [];
    for (const object of contents) {
      if (!object.Key) continue;
      yield {
        key: object.Key,
        lastModified: (object.LastModified ?? new Date(0)).toISOString(),
        size: object.Size ?? 0,
      };
    }
    const last = contents.at(-1)?.Key;
    if (!out.IsTruncated || !last) return;
    after = last;
  }
}

export async function listKeys(gyre: Gyre, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of listObjects(gyre, prefix)) keys.push(object.key);
  return keys;
}

/** S3's limit on the keys of one DeleteObjects request. */
const DELETE_BATCH = 1000;

/**
 * Deletes `keys` (a missing one counts as deleted, as S3 has it), a thousand per request; throws
 * naming the first key S3 would not delete.
 */
export async function deleteKeys(gyre: Gyre, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const out = await gyre.aws.s3.send(
      new DeleteObjectsCommand({
        Bucket: gyre.resources.bucketName,
        Delete: { Objects: keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = out.Errors?.[0];
    if (failed) throw new Error(`Could not delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
  }
}
