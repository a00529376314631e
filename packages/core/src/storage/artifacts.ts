/**
 * Artifacts (`store_artifacts`): files a job's allocations upload under a relative path, each
 * with its content type, listed and served per job attempt.
 *
 *   artifacts/<job id>/<attempt>/<index>/<path>     one artifact, with its content type
 */
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { isMissing, listObjects } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { badRequest, notFound } from "../error.ts";
import type { Job } from "../job/index.ts";
import { jobExpiry } from "../retention/index.ts";
import { validateRelativeName } from "./grant.ts";

export const ArtifactKeys = {
  prefix: (jobId: string, attempt: number) => `artifacts/${jobId}/${attempt}/`,
  object: (jobId: string, attempt: number, index: number, path: string) =>
    `artifacts/${jobId}/${attempt}/${index}/${path}`,
} as const;

/**
 * Where an artifact is downloaded from Gyre (`GET /artifacts/...`, functions/src/http/artifacts.ts):
 * by its project and job number, so the download is checked against the caller's permission on
 * the project like every other read of the job.
 */
export function artifactUrl(
  baseUrl: string,
  job: Pick<Job, "projectSlug" | "number" | "attempt">,
  nodeIndex: number,
  path: string,
): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `${baseUrl}/artifacts/${job.projectSlug}/${job.number}/${job.attempt}/${nodeIndex}/${encoded}`;
}

const CONTENT_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(?:\s*;\s*[a-z0-9_-]+=[a-z0-9_.-]+)?$/i;

/** The content type an artifact upload declares (octet-stream when none is given). */
export function artifactContentType(requested: unknown): string {
  const given = requested ?? "application/octet-stream";
  if (typeof given !== "string" || !CONTENT_TYPE.test(given) || given.length > 200)
    throw badRequest("content_type must be a media type such as text/plain.");
  return given;
}

export interface ArtifactListing {
  path: string;
  nodeIndex: number;
}

/**
 * The artifacts of a job's current attempt, by node index then path; none once they have
 * expired (given the job's `stoppedAt`: retention/index.ts).
 */
export async function listArtifacts(
  gyre: Gyre,
  job: Pick<Job, "id" | "attempt"> & Partial<Pick<Job, "stoppedAt">>,
): Promise<ArtifactListing[]> {
  if ((await jobExpiry(gyre, job, "artifacts")).expired) return [];
  const prefix = ArtifactKeys.prefix(job.id, job.attempt);
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
        Key: ArtifactKeys.object(address.jobId, address.attempt, address.index, path),
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
