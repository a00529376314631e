/**
 * What the storage steps share: the API calls that grant presigned URLs for this allocation,
 * moving files to and from those URLs, and tar.gz archives relative to a directory.
 *
 * The agent never holds S3 credentials. It asks the API for one URL per object; the API
 * computes the object's key from the job, so the agent can name nothing outside its own job
 * (and its project's caches). Transfers go through the environment's proxy and trust its
 * private CAs (core network/).
 */
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { processAgents } from "@gyre/core/network/agents";
import { fetch } from "@gyre/core/network/fetch";
import {
  CommitAnswerSchema,
  type GrantJson,
  type StorageKind,
  type UploadAnswer,
  UploadAnswerSchema,
} from "@gyre/core/protocol/agent";
import { packTar } from "../cache/archive.ts";
import type { StepContext } from "./context.ts";

export type Grant = GrantJson;

/** Every storage call names the allocation and the node holding it; the API checks both. */
export function allocationBody(ctx: StepContext) {
  return { allocation: ctx.allocation, node_id: ctx.nodeId };
}

export function requestUpload(
  ctx: StepContext,
  kind: StorageKind,
  extra: { name?: string; content_type?: string } = {},
): Promise<UploadAnswer> {
  return ctx.api.call("/storage/upload", { ...allocationBody(ctx), kind, ...extra }, UploadAnswerSchema);
}

export function commitUpload(
  ctx: StepContext,
  kind: "cache" | "workspace",
  body: { name?: string; sha256: string; bytes: number; root?: string },
): Promise<{ stored: boolean }> {
  return ctx.api.call("/storage/commit", { ...allocationBody(ctx), kind, ...body }, CommitAnswerSchema);
}

/** PUTs a file (or bytes) to a presigned URL with a Content-Length, as S3 requires; retried. */
export async function putObject(grant: Grant, source: { file: string } | { data: Buffer }): Promise<void> {
  const length = "file" in source ? (await stat(source.file)).size : source.data.length;
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      await putOnce(grant, source, length);
      return;
    } catch (error) {
      if (attempt >= 3 || (error as { permanent?: boolean }).permanent) throw error;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 4;
    }
  }
}

function putOnce(grant: Grant, source: { file: string } | { data: Buffer }, length: number): Promise<void> {
  const url = new URL(grant.url);
  const secure = url.protocol === "https:";
  const request = secure ? httpsRequest : httpRequest;
  const agents = processAgents({ keepAlive: true });
  const agent = agents ? { agent: secure ? agents.httpsAgent : agents.httpAgent } : {};
  return new Promise<void>((resolve, reject) => {
    const req = request(
      url,
      { method: "PUT", headers: { ...grant.headers, "content-length": String(length) }, ...agent },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body = (body + chunk).slice(0, 2000);
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          const error = new Error(`upload failed with HTTP ${status}: ${body.trim()}`);
          if (status < 500) Object.assign(error, { permanent: true });
          reject(error);
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if ("data" in source) req.end(source.data);
    else
      createReadStream(source.file)
        .on("error", (error) => req.destroy(error))
        .pipe(req);
  });
}

/** GETs a presigned URL into a file; returns its size. */
export async function getObject(url: string, file: string, signal?: AbortSignal): Promise<number> {
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) {
    throw new Error(`download failed with HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`);
  }
  await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  return (await stat(file)).size;
}

/**
 * A tar.gz of `members` (paths relative to `root`, as they will be unpacked elsewhere), with
 * its SHA-256 computed while it is written.
 */
export async function packRelative(
  root: string,
  members: readonly string[],
  archivePath: string,
): Promise<{ sha256: string; bytes: number }> {
  const { sha256, bytes, code, stderr } = await packTar(root, members, archivePath);
  // 1: some files changed while being read; the archive is still complete and usable.
  if (code !== 0 && code !== 1) throw new Error(`tar could not create the archive (exit ${code}): ${stderr}`);
  return { sha256, bytes };
}

/** Copies the contents of `from` into `to`, merging with and overwriting what is there. */
export function copyInto(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cp = spawn("cp", ["-a", "--", `${from}/.`, to], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    cp.stderr.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    cp.once("error", reject);
    cp.once("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`could not copy into ${to}: ${stderr.trim()}`)),
    );
  });
}

/** Sizes as CircleCI prints them: `512 B`, `1.5 KiB`, `12 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || value >= 10 ? Math.round(value).toString() : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}

/** The message of anything thrown, for a step's output. */
export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
