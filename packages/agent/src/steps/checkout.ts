/** `checkout`: the pipeline's revision, on its branch when it has one, into the working directory or `path`. */
import { gitCaFile } from "@gyre/core/network/trust";
import { isSshUrl } from "@gyre/core/ssh/keys";
import { quote, runProcess } from "../process.ts";
import { toolsDir } from "../tools/index.ts";
import { checkoutSshEnv } from "./add_ssh_keys.ts";
import type { StepRunner } from "./context.ts";
import { resolvePath } from "./paths.ts";

export const checkout: StepRunner<"checkout"> = async (step, record, ctx) => {
  const dir = step.path ? resolvePath(step.path, ctx.home, ctx.workingDirectory) : ctx.workingDirectory;
  const { revision, branch, repoUrl } = ctx.job.checkout;
  const script = [
    `git init -q ${quote(dir)}`,
    `cd ${quote(dir)}`,
    `git remote add origin ${quote(repoUrl)} 2>/dev/null || git remote set-url origin ${quote(repoUrl)}`,
    // `method: blobless`: history without file contents, fetched on demand (a partial clone).
    `git fetch -q --no-tags ${step.method === "blobless" ? "--filter=blob:none " : ""}origin ${quote(revision)}`,
    branch
      ? `git checkout -q -B ${quote(branch)} ${quote(revision)}`
      : `git checkout -q --detach ${quote(revision)}`,
    `echo "Checked out ${revision.slice(0, 12)}${branch ? ` on ${branch}` : ""} into ${dir}"`,
  ].join(" && ");
  // Over SSH: the project's checkout key (add_ssh_keys.ts).
  const ssh = isSshUrl(repoUrl) ? await checkoutSshEnv(ctx, record) : {};
  // Over HTTPS: the job's proxy variables (the builder's without their credentials, or the
  // project's: job.ts), as the checkout runs in the job's sandbox where the job's own steps
  // could read the builder's; and the builder's private CAs, in a bundle of certificates only
  // inside the job's directory (git trusts only the file GIT_SSL_CAINFO names: the system's CAs
  // are in it too).
  const GIT_SSL_CAINFO = isSshUrl(repoUrl) ? undefined : await gitCaFile(toolsDir(ctx.root), process.env);
  return runProcess(["/bin/bash", "-eo", "pipefail", "-c", script], record, ctx, {
    cwd: ctx.home,
    env: {
      ...ctx.env,
      GIT_TERMINAL_PROMPT: "0",
      ...(GIT_SSL_CAINFO ? { GIT_SSL_CAINFO } : {}),
      ...ssh,
    },
    noOutputTimeout: 600,
  });
};
