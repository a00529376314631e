/**
 * `persist_to_workspace`: the paths (plain paths or globs with `*`, `**`, `?`, `[...]`, as
 * CircleCI takes them), relative to `root`, archived relative to `root` into this
 * allocation's workspace layer. The API records its SHA-256; downstream jobs attach it.
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { StepRunner } from "./context.ts";
import { expandWorkspacePaths } from "./files.ts";
import { assertInside, hostPath } from "./paths.ts";
import { commitUpload, formatBytes, messageOf, packRelative, putObject, requestUpload } from "./storage.ts";

export const persist_to_workspace: StepRunner<"persist_to_workspace"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  const root = await hostPath(step.root, ctx);
  const archivePath = join(ctx.root, `workspace-${record.index}.tar.gz`);
  try {
    if (!(await stat(root).catch(() => undefined))?.isDirectory())
      throw new Error(`The workspace root ${root} is not a directory.`);
    const members = await expandWorkspacePaths(root, step.paths);
    const confinement = ctx.confinement;
    if (confinement) await Promise.all(members.map((m) => assertInside(join(root, m), confinement.root, m)));
    say(`Creating workspace archive...\n${members.map((m) => `  * ${join(root, m)}\n`).join("")}`);
    const archive = await packRelative(root, members, archivePath);
    say(`Uploading workspace archive (${formatBytes(archive.bytes)})...\n`);
    const grant = await requestUpload(ctx, "workspace");
    if (grant.exists) throw new Error("the API refused the upload");
    await putObject(grant, { file: archivePath });
    await commitUpload(ctx, "workspace", { sha256: archive.sha256, bytes: archive.bytes });
    say(`Total size uploaded: ${formatBytes(archive.bytes)}\n`);
    return { status: "success", exitCode: 0 };
  } catch (error) {
    say(`Error persisting to the workspace: ${messageOf(error)}\n`);
    return { status: "failed", exitCode: null };
  } finally {
    await rm(archivePath, { force: true }).catch(() => undefined);
  }
};
