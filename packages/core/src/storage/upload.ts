/**
 * Uploads of every kind: where an allocation's object goes (computed here from its job, never
 * taken from the builder), the presigned PUT that lets it upload there, and the commit that
 * makes a cache archive or workspace layer visible once it is uploaded whole.
 */
import type { Gyre } from "../context.ts";
import type { AllocationRef } from "../dispatch/index.ts";
import { badRequest, GyreError } from "../error.ts";
import type { Job } from "../job/index.ts";
import { STORAGE_KINDS, type StorageKind } from "../protocol/agent.ts";
import { ArtifactKeys, artifactContentType } from "./artifacts.ts";
import { CacheKeys, commitCache, committedCache, validateCacheKey } from "./caches.ts";
import { type Grant, objectSize, presign, validateRelativeName, verifyAllocation } from "./grant.ts";
import { TestResultKeys } from "./test-results.ts";
import { commitLayer, WorkspaceKeys } from "./workspaces.ts";

export { STORAGE_KINDS, type StorageKind } from "../protocol/agent.ts";

export interface UploadRequest {
  kind: StorageKind;
  /** The artifact's path (artifact) or the rendered cache key (cache); unused otherwise. */
  name?: unknown;
  /** The artifact's content type. */
  contentType?: unknown;
}

export type UploadAnswer = ({ exists: false } & Grant) | { exists: true; createdAt: string };

/** S3's limit on an object key, in UTF-8 bytes. */
const MAX_OBJECT_KEY_BYTES = 1024;

const unknownKind = () => badRequest(`kind must be one of ${STORAGE_KINDS.join(", ")}.`);

/** Where an upload of `kind` goes for this job, computed here. */
export function uploadKey(job: Job, ref: AllocationRef, request: UploadRequest): string {
  const key = objectKeyFor(job, ref, request);
  // The metadata object's key is the longest one written for a name.
  if (Buffer.byteLength(`${key}.json`) > MAX_OBJECT_KEY_BYTES)
    throw badRequest(`The name is too long: its storage key would exceed ${MAX_OBJECT_KEY_BYTES} bytes.`);
  return key;
}

function objectKeyFor(job: Job, ref: AllocationRef, request: UploadRequest): string {
  switch (request.kind) {
    case "artifact":
      return ArtifactKeys.object(job.id, job.attempt, ref.index, validateRelativeName(request.name, "path"));
    case "test_results":
      return TestResultKeys.object(job.id, job.attempt, ref.index);
    case "workspace":
      return WorkspaceKeys.archive(job.workflowId, job.name, ref.index);
    case "cache":
      return CacheKeys.archive(job.projectSlug, validateCacheKey(request.name));
    default:
      throw unknownKind();
  }
}

function contentTypeFor(request: UploadRequest): string {
  switch (request.kind) {
    case "artifact":
      return artifactContentType(request.contentType);
    case "test_results":
      return "application/json";
    default:
      return "application/gzip";
  }
}

/**
 * A presigned PUT for one object of a running allocation. A cache key that already exists is
 * never overwritten (a cache is immutable): the answer says so instead.
 */
export async function grantUpload(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
  request: UploadRequest,
): Promise<UploadAnswer> {
  if (!STORAGE_KINDS.includes(request.kind)) throw unknownKind();
  const job = await verifyAllocation(gyre, ref, nodeId);
  const key = uploadKey(job, ref, request);
  const contentType = contentTypeFor(request);
  if (request.kind === "cache") {
    const existing = await committedCache(gyre, job.projectSlug, String(request.name));
    if (existing) return { exists: true, createdAt: existing.createdAt };
  }
  return { exists: false, ...(await presign(gyre, "PUT", key, contentType)) };
}

export interface CommitRequest {
  kind: StorageKind;
  name?: unknown;
  sha256?: unknown;
  bytes?: unknown;
  root?: unknown;
}

/**
 * Records an uploaded cache archive or workspace layer: its SHA-256 and size, after checking
 * the object is there with that size. A cache key already committed stays as it was.
 */
export async function commitUpload(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
  request: CommitRequest,
): Promise<{ stored: boolean }> {
  if (request.kind !== "cache" && request.kind !== "workspace")
    throw badRequest("Only cache and workspace uploads are committed.");
  const sha256 = request.sha256;
  if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256))
    throw badRequest("sha256 must be 64 lowercase hex digits.");
  const bytes = request.bytes;
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0)
    throw badRequest("bytes must be a non-negative integer.");
  const root = request.root;
  if (root !== undefined && (typeof root !== "string" || !root.startsWith("/") || root.length > 1024))
    throw badRequest("root must be an absolute path.");
  const job = await verifyAllocation(gyre, ref, nodeId);
  const key = uploadKey(job, ref, request);
  const size = await objectSize(gyre, key);
  if (size === undefined)
    throw new GyreError("unprocessable", "Nothing was uploaded: upload the archive first.");
  if (size !== bytes)
    throw new GyreError(
      "unprocessable",
      `The uploaded archive has ${size} bytes, not ${bytes}: upload it again.`,
    );
  const createdAt = new Date(gyre.now()).toISOString();
  if (request.kind === "cache") {
    const upload = { sha256, bytes, createdAt, ...(typeof root === "string" ? { root } : {}) };
    return { stored: await commitCache(gyre, job, String(request.name), upload) };
  }
  await commitLayer(gyre, job, ref.index, { sha256, bytes, createdAt });
  return { stored: true };
}
