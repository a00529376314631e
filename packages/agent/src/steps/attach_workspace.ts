/**
 * `attach_workspace`: the layers persisted by every job this one transitively requires, in
 * the order those jobs finished, each checked against its SHA-256 and unpacked into `at`;
 * a later layer overwrites what an earlier one wrote.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { WorkspaceLayersAnswerSchema } from "@gyre/core/protocol/agent";
import { extract } from "../cache/archive.ts";
import type { StepRunner } from "./context.ts";
import { hostPath } from "./paths.ts";
import { allocationBody, formatBytes, getObject, messageOf } from "./storage.ts";

export const attach_workspace: StepRunner<"attach_workspace"> = async (step, record, ctx) => {
  const say = (text: string) => ctx.output.write(record.index, text);
  const at = await hostPath(step.at, ctx);
  try {
    const { layers } = await ctx.api.call(
      "/workspace/layers",
      allocationBody(ctx),
      WorkspaceLayersAnswerSchema,
    );
    if (layers.length === 0) {
      say("No workspace layers to attach: no upstream job of this workflow persisted to the workspace.\n");
      return { status: "success", exitCode: 0 };
    }
    await mkdir(at, { recursive: true });
    say(`Downloading workspace layers\n`);
    for (const [i, layer] of layers.entries()) {
      const file = join(ctx.root, `layer-${record.index}-${i}.tar.gz`);
      try {
        say(`  ${layer.job}${layer.index ? ` (node ${layer.index})` : ""} - ${formatBytes(layer.bytes)}\n`);
        await getObject(layer.url, file, ctx.signal);
        await extract(file, layer.sha256, at, { warnAboveBytes: Number.POSITIVE_INFINITY });
      } finally {
        await rm(file, { force: true }).catch(() => undefined);
      }
    }
    say(`Applied ${layers.length} workspace layer${layers.length === 1 ? "" : "s"} into ${at}\n`);
    return { status: "success", exitCode: 0 };
  } catch (error) {
    say(`Error attaching the workspace: ${messageOf(error).replace(/cache archive/g, "workspace layer")}\n`);
    return { status: "failed", exitCode: null };
  }
};
