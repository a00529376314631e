/**
 * Storage grants: what a builder may read and write in the bucket, and where.
 *
 * A builder holds no S3 credentials. For a running allocation it asks the API, which checks
 * the allocation (its job item, attempt, `running` status and node) and answers a presigned
 * URL for one object, valid for 15 minutes. The object key is computed here from the job,
 * never taken from the builder: the builder names at most a relative path (an artifact) or a
 * cache key, both validated. A builder can therefore reach only its own job's objects and its
 * own project's caches.
 *
 *   caches/<project slug>/<cache key>.tar.gz        the archive
 *   caches/<project slug>/<cache key>.tar.gz.json   its metadata, written by the API on commit
 *   artifacts/<job id>/<attempt>/<index>/<path>     one artifact, with its content type
 *   workspaces/<workflow id>/<job name>/<index>.tar.gz (+ .json metadata)
 *   tests/<job id>/<attempt>/<index>.json           the allocation's test results
 *
 * A cache or workspace layer becomes visible only when its metadata (SHA-256, size, time) is
 * committed, after the upload: a reader never sees a half-written archive, and the SHA-256
 * lets the builder refuse a corrupt download before unpacking anything.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { isMissing, listObjects, putJson, readJson } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import type { AllocationRef } from "../dispatch/index.ts";
import { badRequest, conflict, GyreError, notFound } from "../error.ts";
import { getJob, type Job } from "../job/index.ts";
import type { TestCaseResult } from "../test-result/junit.ts";
import { readWorkflow } from "../workflow/index.ts";

/** How long a presigned URL stays valid: 15 minutes. */
export const GRANT_SECONDS = 15 * 60;
/** Longest relative name (artifact path) a builder may give, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 900;
/** Longest cache key, as the agent renders it (`MAX_CACHE_KEY_LENGTH`). */
export const MAX_CACHE_KEY_LENGTH = 900;

export type StorageKind = "artifact" | "test_results" | "workspace" | "cache";
export const STORAGE_KINDS: readonly StorageKind[] = ["artifact", "test_results", "workspace", "cache"];

export interface Grant {
  url: string;
  method: "PUT" | "GET";
  /** Headers the request must carry exactly (they are part of the signature). */
  headers: Record<string, string>;
  expiresAt: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A relative name such as an artifact's path: non-empty, at most `MAX_NAME_BYTES`, no leading
 * `/`, no backslash or control character, and no empty, `.` or `..` segment.
 */
export function validateRelativeName(value: unknown, what = "name"): string {
  if (typeof value !== "string" || value.length === 0)
    throw badRequest(`${what} must be a non-empty string.`);
  if (Buffer.byteLength(value) > MAX_NAME_BYTES)
    throw badRequest(`${what} is longer than ${MAX_NAME_BYTES} bytes.`);
  if (value.startsWith("/")) throw badRequest(`${what} must be a relative path, not "${value}".`);
  if (value.includes("\\") || CONTROL.test(value))
    throw badRequest(`${what} must not contain backslashes or control characters.`);
  for (const segment of value.split("/")) {
    if (segment === "" || segment === "." || segment === "..")
      throw badRequest(`${what} must not contain empty, "." or ".." path segments: "${value}".`);
  }
  return value;
}

/** A rendered cache key: 1..900 characters, no control character, no `.`/`..` path segment. */
export function validateCacheKey(value: unknown): string {
  if (typeof value !== "string" || value.length === 0)
    throw badRequest("A cache key must be a non-empty string.");
  if (value.length > MAX_CACHE_KEY_LENGTH)
    throw badRequest(
      `The cache key is ${value.length} characters long; the limit is ${MAX_CACHE_KEY_LENGTH}.`,
    );
  if (CONTROL.test(value)) throw badRequest("A cache key must not contain control characters.");
  if (value.split("/").some((segment) => segment === "." || segment === ".."))
    throw badRequest(`A cache key must not contain "." or ".." path segments: "${value}".`);
  return value;
}

/** One path segment from a name the config chose (a job name): `.` and `..` are escaped. */
function segment(name: string): string {
  const safe = name.replace(/\//g, "%2F");
  return safe === "." || safe === ".." ? safe.replace(/\./g, "%2E") : safe;
}

export const StorageKeys = {
  cachePrefix: (slug: string) => `caches/${slug}/`,
  cache: (slug: string, key: string) => `caches/${slug}/${key}.tar.gz`,
  cacheMeta: (slug: string, key: string) => `caches/${slug}/${key}.tar.gz.json`,
  artifactPrefix: (jobId: string, attempt: number) => `artifacts/${jobId}/${attempt}/`,
  artifact: (jobId: string, attempt: number, index: number, path: string) =>
    `artifacts/${jobId}/${attempt}/${index}/${path}`,
  workspacePrefix: (workflowId: string, jobName: string) => `workspaces/${workflowId}/${segment(jobName)}/`,
  workspace: (workflowId: string, jobName: string, index: number) =>
    `workspaces/${workflowId}/${segment(jobName)}/${index}.tar.gz`,
  workspaceMeta: (workflowId: string, jobName: string, index: number) =>
    `workspaces/${workflowId}/${segment(jobName)}/${index}.json`,
  testsPrefix: (jobId: string, attempt: number) => `tests/${jobId}/${attempt}/`,
  tests: (jobId: string, attempt: number, index: number) => `tests/${jobId}/${attempt}/${index}.json`,
} as const;

/**
 * The job of a running allocation held by `nodeId`; 409 otherwise (the allocation ended, was
 * retried on a new attempt, or belongs to another node), which the agent reads as "lost".
 */
export async function verifyAllocation(gyre: Gyre, ref: AllocationRef, nodeId: string): Promise<Job> {
  let job: Job;
  try {
    job = await getJob(gyre, ref.workflowId, ref.jobName);
  } catch (error) {
    if (error instanceof GyreError && error.code === "not_found")
      throw conflict("No such allocation: storage is granted only to a running allocation.");
    throw error;
  }
  checkAllocation(job, ref, nodeId);
  return job;
}

/** The pure check behind `verifyAllocation`. */
export function checkAllocation(job: Job, ref: AllocationRef, nodeId: string): void {
  const allocation = job.allocations[String(ref.index)];
  if (
    job.id !== ref.jobId ||
    job.attempt !== ref.attempt ||
    allocation?.status !== "running" ||
    allocation.nodeId !== nodeId
  ) {
    throw conflict(
      "This allocation is not running on this node (it ended, was retried or belongs to another node): storage is granted only to a running allocation.",
    );
  }
}

const presigners = new WeakMap<Gyre, S3Client>();

/**
 * The client that signs URLs: gyre's S3 client's region, endpoint and credentials, but no
 * flexible checksums. With them the SDK would sign the CRC32 of an empty body into every PUT
 * URL, and S3 would refuse the real upload.
 */
function presigner(gyre: Gyre): S3Client {
  let client = presigners.get(gyre);
  if (!client) {
    const endpoint = gyre.resources.endpoints?.s3;
    client = new S3Client({
      region: gyre.resources.region,
      credentials: gyre.aws.s3.config.credentials,
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    presigners.set(gyre, client);
  }
  return client;
}

async function presign(gyre: Gyre, method: "PUT" | "GET", key: string, contentType?: string): Promise<Grant> {
  const now = gyre.now();
  const Bucket = gyre.resources.bucketName;
  const command =
    method === "PUT"
      ? new PutObjectCommand({ Bucket, Key: key, ContentType: contentType })
      : new GetObjectCommand({ Bucket, Key: key });
  const url = await getSignedUrl(presigner(gyre), command, {
    expiresIn: GRANT_SECONDS,
    signingDate: new Date(now),
    // The content type is part of the signature: the upload must declare what was granted.
    signableHeaders: new Set(["content-type"]),
  });
  return {
    url,
    method,
    headers: method === "PUT" && contentType ? { "content-type": contentType } : {},
    expiresAt: new Date(now + GRANT_SECONDS * 1000).toISOString(),
  };
}

export interface UploadRequest {
  kind: StorageKind;
  /** The artifact's path (artifact) or the rendered cache key (cache); unused otherwise. */
  name?: unknown;
  /** The artifact's content type. */
  contentType?: unknown;
}

export type UploadAnswer = ({ exists: false } & Grant) | { exists: true; createdAt: string };

const CONTENT_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(?:\s*;\s*[a-z0-9_-]+=[a-z0-9_.-]+)?$/i;

/** S3's limit on an object key, in UTF-8 bytes. */
const MAX_OBJECT_KEY_BYTES = 1024;

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
      return StorageKeys.artifact(job.id, job.attempt, ref.index, validateRelativeName(request.name, "path"));
    case "test_results":
      return StorageKeys.tests(job.id, job.attempt, ref.index);
    case "workspace":
      return StorageKeys.workspace(job.workflowId, job.name, ref.index);
    case "cache":
      return StorageKeys.cache(job.projectSlug, validateCacheKey(request.name));
    default:
      throw badRequest(`kind must be one of ${STORAGE_KINDS.join(", ")}.`);
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
  if (!STORAGE_KINDS.includes(request.kind))
    throw badRequest(`kind must be one of ${STORAGE_KINDS.join(", ")}.`);
  const job = await verifyAllocation(gyre, ref, nodeId);
  const key = uploadKey(job, ref, request);
  let contentType: string;
  switch (request.kind) {
    case "artifact": {
      const given = request.contentType ?? "application/octet-stream";
      if (typeof given !== "string" || !CONTENT_TYPE.test(given) || given.length > 200)
        throw badRequest("content_type must be a media type such as text/plain.");
      contentType = given;
      break;
    }
    case "test_results":
      contentType = "application/json";
      break;
    default:
      contentType = "application/gzip";
  }
  if (request.kind === "cache") {
    const existing = await readJson<CacheMeta>(
      gyre,
      StorageKeys.cacheMeta(job.projectSlug, String(request.name)),
    );
    if (existing) return { exists: true, createdAt: existing.createdAt };
  }
  return { exists: false, ...(await presign(gyre, "PUT", key, contentType)) };
}

export interface CacheMeta {
  key: string;
  sha256: string;
  bytes: number;
  createdAt: string;
  jobId: string;
  jobNumber: number;
  /** The saving allocation's directory: paths below it are restored below the restoring one's. */
  root?: string;
}

export interface LayerMeta {
  sha256: string;
  bytes: number;
  createdAt: string;
  jobId: string;
  attempt: number;
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
    const cacheKey = String(request.name);
    const metaKey = StorageKeys.cacheMeta(job.projectSlug, cacheKey);
    if (await readJson(gyre, metaKey)) return { stored: false };
    const meta: CacheMeta = {
      key: cacheKey,
      sha256,
      bytes,
      createdAt,
      jobId: job.id,
      jobNumber: job.number,
      ...(typeof root === "string" ? { root } : {}),
    };
    await putJson(gyre, metaKey, meta);
  } else {
    const meta: LayerMeta = { sha256, bytes, createdAt, jobId: job.id, attempt: job.attempt };
    await putJson(gyre, StorageKeys.workspaceMeta(job.workflowId, job.name, ref.index), meta);
  }
  return { stored: true };
}

export interface CacheListing {
  key: string;
  createdAt: string;
}

/** Every committed cache of the project whose key starts with `prefix`. */
export async function listCaches(gyre: Gyre, slug: string, prefix: string): Promise<CacheListing[]> {
  const base = StorageKeys.cachePrefix(slug);
  const entries: CacheListing[] = [];
  for await (const object of listObjects(gyre, `${base}${prefix}`)) {
    if (!object.key.endsWith(".tar.gz.json")) continue;
    entries.push({
      key: object.key.slice(base.length, -".tar.gz.json".length),
      createdAt: object.lastModified,
    });
  }
  return entries;
}

export type CacheDownload = CacheMeta & Grant;

/** The metadata of a committed cache and a presigned GET for its archive. */
export async function grantCacheDownload(
  gyre: Gyre,
  slug: string,
  key: string,
): Promise<CacheDownload | undefined> {
  const meta = await readJson<CacheMeta>(gyre, StorageKeys.cacheMeta(slug, validateCacheKey(key)));
  if (!meta) return undefined;
  return { ...meta, ...(await presign(gyre, "GET", StorageKeys.cache(slug, key))) };
}

/**
 * The jobs `name` transitively requires in its workflow, in the order their workspace layers
 * apply: by when the job stopped, then by name.
 */
export function upstreamJobs<J extends Pick<Job, "name" | "requires" | "stoppedAt">>(
  jobs: J[],
  name: string,
): J[] {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const seen = new Set<string>();
  const visit = (n: string) => {
    for (const required of byName.get(n)?.requires ?? []) {
      if (seen.has(required)) continue;
      seen.add(required);
      visit(required);
    }
  };
  visit(name);
  seen.delete(name);
  const time = (j: J) => (j.stoppedAt ? Date.parse(j.stoppedAt) : Number.POSITIVE_INFINITY);
  return [...seen]
    .map((n) => byName.get(n))
    .filter((j): j is J => j !== undefined)
    .sort((a, b) => time(a) - time(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface WorkspaceLayer extends LayerMeta, Grant {
  job: string;
  index: number;
}

/** The layers persisted by every job this one transitively requires, in the order they apply. */
export async function workspaceLayers(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
): Promise<WorkspaceLayer[]> {
  const job = await verifyAllocation(gyre, ref, nodeId);
  const { jobs } = await readWorkflow(gyre, job.workflowId);
  const layers: WorkspaceLayer[] = [];
  for (const upstream of upstreamJobs(jobs, job.name)) {
    const prefix = StorageKeys.workspacePrefix(job.workflowId, upstream.name);
    const indices: number[] = [];
    for await (const object of listObjects(gyre, prefix)) {
      const match = /^(\d+)\.json$/.exec(object.key.slice(prefix.length));
      if (match) indices.push(Number(match[1]));
    }
    for (const index of indices.sort((a, b) => a - b)) {
      const meta = await readJson<LayerMeta>(
        gyre,
        StorageKeys.workspaceMeta(job.workflowId, upstream.name, index),
      );
      if (!meta) continue;
      const grant = await presign(gyre, "GET", StorageKeys.workspace(job.workflowId, upstream.name, index));
      layers.push({ job: upstream.name, index, ...meta, ...grant });
    }
  }
  return layers;
}

export interface ArtifactListing {
  path: string;
  nodeIndex: number;
}

/** The artifacts of a job's current attempt, by node index then path. */
export async function listArtifacts(
  gyre: Gyre,
  job: Pick<Job, "id" | "attempt">,
): Promise<ArtifactListing[]> {
  const prefix = StorageKeys.artifactPrefix(job.id, job.attempt);
  const items: ArtifactListing[] = [];
  for await (const object of listObjects(gyre, prefix)) {
    const rest = object.key.slice(prefix.length);
    const slash = rest.indexOf("/");
    const index = Number(rest.slice(0, slash));
    if (slash < 1 || !Number.isInteger(index)) continue;
    items.push({ path: rest.slice(slash + 1), nodeIndex: index });
  }
  return items.sort((a, b) => a.nodeIndex - b.nodeIndex || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface ArtifactObject {
  body: ReadableStream<Uint8Array>;
  contentType?: string;
  contentLength?: number;
}

/** One stored artifact; 404 when there is none at that address. */
export async function readArtifact(
  gyre: Gyre,
  address: { jobId: string; attempt: number; index: number; path: string },
): Promise<ArtifactObject> {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(address.jobId)) throw notFound("No such artifact.");
  const path = validateRelativeName(address.path, "path");
  try {
    const out = await gyre.aws.s3.send(
      new GetObjectCommand({
        Bucket: gyre.resources.bucketName,
        Key: StorageKeys.artifact(address.jobId, address.attempt, address.index, path),
      }),
    );
    if (!out.Body) throw notFound(`No artifact ${path}.`);
    return {
      body: out.Body.transformToWebStream(),
      contentType: out.ContentType,
      contentLength: out.ContentLength,
    };
  } catch (error) {
    if (isMissing(error)) throw notFound(`No artifact ${path}.`);
    throw error;
  }
}

/** The test results every allocation of the job's current attempt uploaded, by node index. */
export async function listTestResults(
  gyre: Gyre,
  job: Pick<Job, "id" | "attempt">,
): Promise<TestCaseResult[]> {
  const prefix = StorageKeys.testsPrefix(job.id, job.attempt);
  const indices: number[] = [];
  for await (const object of listObjects(gyre, prefix)) {
    const match = /^(\d+)\.json$/.exec(object.key.slice(prefix.length));
    if (match) indices.push(Number(match[1]));
  }
  const results: TestCaseResult[] = [];
  for (const index of indices.sort((a, b) => a - b)) {
    const tests = await readJson<TestCaseResult[]>(gyre, StorageKeys.tests(job.id, job.attempt, index));
    if (Array.isArray(tests)) results.push(...tests);
  }
  return results;
}

async function objectSize(gyre: Gyre, key: string): Promise<number | undefined> {
  try {
    const out = await gyre.aws.s3.send(
      new HeadObjectCommand({ Bucket: gyre.resources.bucketName, Key: key }),
    );
    return out.ContentLength;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}
