/**
 * `restore_cache`: the keys are rendered and tried in order, as CircleCI does: for each, the
 * most recently saved cache whose key starts with it (chosen by the API). No match is not a
 * failure. The archive's SHA-256 is checked before anything is unpacked, so a corrupt or
 * truncated download fails the step with a clear message and restores nothing.
 *
 * Paths are stored absolute. Those below the saving job's own directory (its HOME and working
 * directory) are restored below this job's; others are not written on a shared builder.
 */
import { lstat, mkdir, readdir, rm, rmdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { CacheLookupAnswerSchema } from "@gyre/core/protocol/agent";
import { extract } from "../cache/archive.ts";
import type { StepRunner } from "./context.ts";
import { renderKey } from "./save_cache.ts";
import { allocationBody, copyInto, formatBytes, getObject, messageOf } from "./storage.ts";

export const restore_cache: StepRunner<"restore_cache"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  const keys: string[] = [];
  try {
    for (const template of step.keys) keys.push(await renderKey(template, ctx));
  } catch (error) {
    say(`error computing cache key: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  }
  const archivePath = join(ctx.root, `restore-${record.index}.tar.gz`);
  const staging = join(ctx.root, `restore-${record.index}`);
  try {
    const { matched_key, cache } = await ctx.api.call(
      "/caches/lookup",
      { ...allocationBody(ctx), keys },
      CacheLookupAnswerSchema,
    );
    for (const key of keys) {
      if (key === matched_key) break;
      say(`No cache is found for key: ${key}\n`);
    }
    if (!cache) return { status: "success", exitCode: 0 };
    say(`Found a cache from build ${cache.job_number} at ${cache.key}\n`);
    say(`Size: ${formatBytes(cache.bytes)}\n`);
    say("Downloading cache archive...\n");
    await getObject(cache.url, archivePath, ctx.signal);
    say("Validating cache...\n");
    let restored: Awaited<ReturnType<typeof extract>>;
    try {
      restored = await extract(archivePath, cache.sha256, staging);
    } catch (error) {
      say(`Error: ${messageOf(error)}\n`);
      return { status: "failed", exitCode: null };
    }
    say("Unarchiving cache...\n");
    if (restored.warning) say(`Warning: ${restored.warning}\n`);
    if (cache.root) {
      const saved = join(staging, cache.root);
      if (await exists(saved)) {
        await copyInto(saved, ctx.root);
        await rm(saved, { recursive: true, force: true });
      }
    }
    const skipped = await leaves(staging);
    for (const path of skipped.slice(0, 10))
      say(`Warning: not restoring ${path}: it is outside this job's directory ${ctx.root}.\n`);
    if (skipped.length > 10) say(`Warning: ... and ${skipped.length - 10} more paths outside it.\n`);
    return { status: "success", exitCode: 0 };
  } catch (error) {
    say(`Error restoring the cache: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  } finally {
    await rm(archivePath, { force: true }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
};

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** The files left under `dir`, as the absolute paths they were saved from; empty directories are removed. */
async function leaves(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const found: string[] = [];
  const walk = async (path: string): Promise<boolean> => {
    const info = await lstat(path);
    if (!info.isDirectory()) {
      found.push(`/${relative(dir, path)}`);
      return true;
    }
    let any = false;
    for (const name of await readdir(path)) if (await walk(join(path, name))) any = true;
    if (!any && path !== dir) await rmdir(path).catch(() => undefined);
    return any;
  };
  await walk(dir);
  return found;
}
