/**
 * `store_artifacts`: a file or every file of a directory, each uploaded with its content type
 * through its own presigned URL, under `destination` (default: the path as written). A path
 * that does not exist is not a failure, as in CircleCI.
 */
import { stat } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { artifactType } from "@gyre/core/artifact/content-type";
import type { StepRunner } from "./context.ts";
import { filesUnder } from "./files.ts";
import { assertInside, hostPath } from "./paths.ts";
import { messageOf, putObject, requestUpload } from "./storage.ts";

const CONCURRENT_UPLOADS = 4;

/** The artifact path prefix: `destination`, else the path as written, made relative. */
export function artifactPrefix(path: string, destination: string | undefined, source: string): string {
  const clean = (p: string) =>
    posix
      .normalize(p.replace(/^~(\/|$)/, "").replace(/^\/+/, ""))
      .replace(/^(\.\/)+/, "")
      .replace(/\/+$/, "");
  if (destination !== undefined) {
    const prefix = clean(destination);
    return prefix === "." ? "" : prefix;
  }
  const prefix = clean(path);
  return prefix === "." || prefix === "" || prefix.startsWith("..") ? basename(source) : prefix;
}

export const store_artifacts: StepRunner<"store_artifacts"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  const source = await hostPath(step.path, ctx);
  const info = await stat(source).catch(() => undefined);
  if (!info) {
    say(`No artifact files found at ${source}\n`);
    return { status: "success", exitCode: 0 };
  }
  const prefix = artifactPrefix(step.path, step.destination, source);
  const files = info.isDirectory()
    ? (await filesUnder(source)).map((rel) => ({
        file: join(source, rel),
        name: prefix ? `${prefix}/${rel}` : rel,
      }))
    : [{ file: source, name: prefix || basename(source) }];
  if (files.length === 0) {
    say(`No artifact files found at ${source}\n`);
    return { status: "success", exitCode: 0 };
  }
  say(`Uploading ${source} to ${prefix || "."}\n`);
  let failures = 0;
  const queue = [...files];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      if (ctx.signal.aborted) return;
      try {
        // A symlink inside the job may lead anywhere: only what is really the job's is uploaded.
        if (ctx.confinement) await assertInside(next.file, ctx.confinement.root);
        const size = (await stat(next.file)).size;
        say(`Uploading ${next.file} (${size} bytes)\n`);
        const grant = await requestUpload(ctx, "artifact", {
          name: next.name,
          content_type: artifactType(next.file).type,
        });
        if (grant.exists) continue;
        await putObject(grant, { file: next.file });
      } catch (error) {
        failures++;
        say(`Error uploading ${next.file}: ${messageOf(error)}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_UPLOADS, files.length) }, worker));
  if (ctx.signal.aborted) return { status: "canceled", exitCode: null };
  say(`Uploaded ${files.length - failures} of ${files.length} artifact${files.length === 1 ? "" : "s"}.\n`);
  return failures ? { status: "failed", exitCode: null } : { status: "success", exitCode: 0 };
};
