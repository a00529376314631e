/**
 * `save_cache`: renders the key, and unless a cache with that key already exists (caches are
 * immutable, as in CircleCI), archives the paths and uploads the archive through a presigned
 * URL; the API then records its SHA-256 so a restore can refuse a corrupt download.
 */
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { GyreError } from "@gyre/core/error";
import { createArchive } from "../cache/archive.ts";
import { type CacheKeyContext, circleArch, fileChecksum, renderCacheKey } from "../cache/key.ts";
import type { StepContext, StepRunner } from "./context.ts";
import { hostPath } from "./paths.ts";
import { commitUpload, formatBytes, messageOf, putObject, requestUpload } from "./storage.ts";

let arch: Promise<string> | undefined;

/** What a cache key template reads: the job's branch, revision, number and environment. */
export function cacheKeyContext(ctx: StepContext): CacheKeyContext {
  arch ??= readFile("/proc/cpuinfo", "utf8")
    .catch(() => "")
    .then((cpuinfo) => circleArch(cpuinfo));
  const context: CacheKeyContext = {
    branch: ctx.job.checkout.branch ?? "",
    revision: ctx.job.checkout.revision,
    buildNum: ctx.job.number,
    environment: ctx.env,
    epoch: Date.now() / 1000,
    arch: "",
    // `{{ checksum "file" }}`: relative paths start at the working directory.
    checksum: fileChecksum(ctx.workingDirectory, ctx.home),
  };
  return context;
}

/** Renders a key template with `{{ arch }}` resolved. */
export async function renderKey(template: string, ctx: StepContext): Promise<string> {
  const context = cacheKeyContext(ctx);
  context.arch = await arch!;
  return renderCacheKey(template, context);
}

export const save_cache: StepRunner<"save_cache"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  let key: string;
  try {
    key = await renderKey(step.key, ctx);
  } catch (error) {
    say(`error computing cache key: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  }
  const archivePath = join(ctx.root, `cache-${record.index}.tar.gz`);
  try {
    const grant = await requestUpload(ctx, "cache", { name: key });
    if (grant.exists) {
      say(`Skipping cache generation, cache already exists for key: ${key}\n`);
      say(`Found one created at ${grant.created_at}\n`);
      return { status: "success", exitCode: 0 };
    }
    say("Creating cache archive...\n");
    let created: Awaited<ReturnType<typeof createArchive>>;
    try {
      created = await createArchive({
        root: ctx.workingDirectory,
        home: ctx.home,
        // Mapped and confined like every path a file step reads (`/tmp`, `~`, symlinks).
        paths: await Promise.all(step.paths.map((p) => hostPath(p, ctx))),
        archivePath,
      });
    } catch (error) {
      if (error instanceof GyreError && error.code === "bad_request") {
        // CircleCI does not fail a build for a cache with nothing in it.
        say(`Warning: ${error.message}\nSkipping cache generation for key: ${key}\n`);
        return { status: "success", exitCode: 0 };
      }
      throw error;
    }
    for (const missing of created.missing)
      say(`Warning: could not find ${missing}; it is not in the cache.\n`);
    say("Uploading cache archive...\n");
    await putObject(grant, { file: archivePath });
    const { stored } = await commitUpload(ctx, "cache", {
      name: key,
      sha256: created.sha256,
      bytes: created.bytes,
      root: ctx.root,
    });
    if (!stored) {
      say(`Skipping cache generation, cache already exists for key: ${key}\n`);
      return { status: "success", exitCode: 0 };
    }
    say(`Stored Cache to ${key}\n${created.archived.map((p) => `  * ${p}\n`).join("")}`);
    say(`Cache size: ${formatBytes(created.bytes)}\n`);
    if (created.warning) say(`Warning: ${created.warning}\n`);
    return { status: "success", exitCode: 0 };
  } catch (error) {
    say(`Error saving the cache: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  } finally {
    await rm(archivePath, { force: true }).catch(() => undefined);
  }
};
