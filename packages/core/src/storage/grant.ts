/**
 * What every storage grant shares: the check that the caller holds a running allocation, the
 * validation of a name a builder gives, and presigned URLs for one object (15 minutes).
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { isMissing } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import type { AllocationRef } from "../dispatch/index.ts";
import { badRequest, conflict, GyreError } from "../error.ts";
import { getJob, type Job } from "../job/index.ts";

/** How long a presigned URL stays valid: 15 minutes. */
export const GRANT_SECONDS = 15 * 60;
/** Longest relative name (artifact path) a builder may give, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 900;

export interface Grant {
  url: string;
  method: "PUT" | "GET";
  /** Headers the request must carry exactly (they are part of the signature). */
  headers: Record<string, string>;
  expiresAt: string;
}

/** Characters no name a builder gives may hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
export const CONTROL = /[\u0000-\u001f\u007f]/;

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

/**
 * The job of a running allocation held by `nodeId`; 409 otherwise (the allocation ended, was
 * retried on a new attempt, or belongs to another node), which the agent reads as "lost".
 */
export async function verifyAllocation(
  gyre: Gyre,
  ref: AllocationRef,
  nodeId: string,
  /** Also a canceled allocation of this node: it is stopping, and its last output still counts. */
  options: { orCanceled?: boolean } = {},
): Promise<Job> {
  let job: Job;
  try {
    job = await getJob(gyre, ref.workflowId, ref.jobName);
  } catch (error) {
    if (error instanceof GyreError && error.code === "not_found")
      throw conflict("No such allocation: storage is granted only to a running allocation.");
    throw error;
  }
  checkAllocation(job, ref, nodeId, options);
  return job;
}

/** The pure check behind `verifyAllocation`. */
export function checkAllocation(
  job: Job,
  ref: AllocationRef,
  nodeId: string,
  options: { orCanceled?: boolean } = {},
): void {
  const allocation = job.allocations[String(ref.index)];
  const live = allocation?.status === "running" || (options.orCanceled && allocation?.status === "canceled");
  if (job.id !== ref.jobId || job.attempt !== ref.attempt || !live || allocation.nodeId !== nodeId) {
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

/** A presigned PUT (with the content type it must declare) or GET of one object. */
export async function presign(
  gyre: Gyre,
  method: "PUT" | "GET",
  key: string,
  contentType?: string,
): Promise<Grant> {
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

/** The size of an uploaded object; undefined when nothing is there. */
export async function objectSize(gyre: Gyre, key: string): Promise<number | undefined> {
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
