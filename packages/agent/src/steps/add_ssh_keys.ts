/**
 * SSH keys in a job, CircleCI's way.
 *
 * `add_ssh_keys` installs the project's additional keys (all, or the `fingerprints` listed,
 * MD5 or SHA256) as `~/.ssh/id_rsa_<fingerprint hex>` (mode 0600) and writes `~/.ssh/config`
 * so that later steps' `ssh`, `git`, `scp`-through-git and `rsync` use them: each key for its
 * hostname (or every host), then the checkout key, with `~/.ssh/known_hosts` as the known
 * hosts file.
 *
 * OpenSSH finds `~/.ssh` through the passwd entry, not `$HOME`, and a job's HOME is its own
 * directory: so the step also puts an `ssh` on the job's PATH (the tools directory, first on
 * it) that runs the real one with `-F ~/.ssh/config`.
 *
 * `checkout` of an `ssh://` or `git@host:` repository uses `checkoutSshEnv`: the project's
 * preferred checkout key, written the same way, through `GIT_SSH_COMMAND` for that step only.
 *
 * Keys come from the API for this allocation only (`POST /agent/v1/ssh-keys`, checked like
 * storage grants) and are masked in every later step's output.
 */
import { constants, existsSync } from "node:fs";
import { lstat, mkdir, open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { StepRecord } from "@gyre/core/output/index";
import { type JobKeysAnswer, JobKeysAnswerSchema } from "@gyre/core/protocol/agent";
import { matchesFingerprint } from "@gyre/core/ssh/keys";
import { quote } from "../process.ts";
import { toolsDir } from "../tools/index.ts";
import type { StepContext, StepRunner } from "./context.ts";
import { assertInside, PathOutsideJob } from "./paths.ts";
import { allocationBody } from "./storage.ts";

const hex = (fingerprint: string) => fingerprint.replace(/:/g, "");
export const sshDir = (ctx: StepContext) => join(ctx.home, ".ssh");
export const keyFile = (ctx: StepContext, fingerprint: string) =>
  join(sshDir(ctx), `id_rsa_${hex(fingerprint)}`);
const knownHosts = (ctx: StepContext) => join(sshDir(ctx), "known_hosts");

/**
 * Adds values to the secrets every later step's output is masked with. OutputStream builds a
 * step's masker from its secrets list when the step starts; keys fetched during the job join it.
 */

/** The key as a file holds it, and each of its base64 lines (a script may print it piecemeal). */
export function keyForms(privateKey: string): string[] {
  const lines = privateKey.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----"));
  return [privateKey, privateKey.trim(), ...lines];
}

async function fetchKeys(ctx: StepContext): Promise<JobKeysAnswer> {
  const keys = await ctx.api.call("/ssh-keys", allocationBody(ctx), JobKeysAnswerSchema);
  const all = [...(keys.checkout_key ? [keys.checkout_key] : []), ...keys.keys];
  ctx.output.addSecrets(all.flatMap((k) => keyForms(k.private_key)));
  return keys;
}

/** Who files in ~/.ssh must belong to: HOME's owner (a docker image's user), when not us. */
async function owner(ctx: StepContext): Promise<{ uid: number; gid: number } | undefined> {
  const { uid, gid } = await stat(ctx.home);
  return uid === process.getuid?.() ? undefined : { uid, gid };
}

/**
 * The agent writes these files from outside the sandbox: a job that made ~/.ssh, a key file or
 * its tools directory a symlink (even a dangling one) must not get it to write elsewhere.
 * PathOutsideJob fails the step.
 */
async function confined(ctx: StepContext, path: string): Promise<void> {
  if (!ctx.confinement) return;
  await assertInside(path, ctx.confinement.root);
  const link = await lstat(path).then(
    (s) => s.isSymbolicLink(),
    () => false,
  );
  if (link) throw new PathOutsideJob(path);
}

/** Writes (or appends to) a file the job does not control the path of: no symlink is followed. */
async function writeFileOwned(
  ctx: StepContext,
  path: string,
  content: string,
  mode: number,
  append = false,
): Promise<void> {
  await confined(ctx, path);
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_NOFOLLOW |
    (append ? constants.O_APPEND : constants.O_TRUNC);
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, flags, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new PathOutsideJob(path);
    throw error;
  }
  try {
    await file.writeFile(content);
    await file.chmod(mode);
    const to = await owner(ctx);
    if (to) await file.chown(to.uid, to.gid);
  } finally {
    await file.close();
  }
}

async function writeOwned(ctx: StepContext, path: string, content: string, mode: number, append = false) {
  await confined(ctx, sshDir(ctx));
  await mkdir(sshDir(ctx), { recursive: true, mode: 0o700 });
  const to = await owner(ctx);
  if (to) {
    const dir = await open(sshDir(ctx), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    await dir.chown(to.uid, to.gid).finally(() => dir.close());
  }
  await writeFileOwned(ctx, path, content, mode, append);
}

/** `GIT_SSH_COMMAND` for checking out over SSH with the project's checkout key. */
export async function checkoutSshEnv(ctx: StepContext, record: StepRecord): Promise<Record<string, string>> {
  const { checkout_key: key } = await fetchKeys(ctx);
  if (!existsSync(knownHosts(ctx))) await writeOwned(ctx, knownHosts(ctx), "", 0o600);
  const options = [
    "-o IdentitiesOnly=yes",
    "-o BatchMode=yes",
    "-o StrictHostKeyChecking=accept-new",
    `-o UserKnownHostsFile=${quote(knownHosts(ctx))}`,
  ];
  if (!key) {
    ctx.output.write(
      record.index,
      `Gyre: project ${ctx.job.projectSlug} has no checkout key; checking out over SSH without one. Create one with POST /api/v2/project/${ctx.job.projectSlug}/checkout-key and add its public key to the repository.\n`,
    );
    return { GIT_SSH_COMMAND: ["ssh", "-o IdentityFile=none", ...options].join(" ") };
  }
  const file = keyFile(ctx, key.fingerprint);
  await writeOwned(ctx, file, key.private_key, 0o600);
  ctx.output.write(record.index, `Using SSH checkout key ${key.fingerprint}\n`);
  return { GIT_SSH_COMMAND: ["ssh", `-i ${quote(file)}`, ...options].join(" ") };
}

const configQuote = (path: string) => `"${path}"`;

/** The `ssh` first on the job's PATH: the real one, further along PATH, with the job's config. */
function sshWrapper(bin: string, config: string): string {
  return `#!/bin/sh
# Written by add_ssh_keys: OpenSSH reads ~/.ssh of the passwd entry, not of $HOME.
set -f
self=${quote(bin)}
IFS=:
for dir in $PATH; do
  if [ -n "$dir" ] && [ "$dir" != "$self" ] && [ -x "$dir/ssh" ]; then
    unset IFS
    exec "$dir/ssh" -F ${quote(config)} "$@"
  fi
done
echo "ssh: not found on PATH" >&2
exit 127
`;
}

export const add_ssh_keys: StepRunner<"add_ssh_keys"> = async (step, record, ctx) => {
  const { keys } = await fetchKeys(ctx);
  let chosen = keys;
  if (step.fingerprints?.length) {
    const missing: string[] = [];
    chosen = [];
    try {
      for (const fp of step.fingerprints) {
        // One key may be registered for several hosts: each registration is installed.
        const found = keys.filter((k) => matchesFingerprint(k, fp));
        if (!found.length) missing.push(fp);
        for (const k of found) if (!chosen.includes(k)) chosen.push(k);
      }
    } catch (error) {
      ctx.output.write(record.index, `${(error as Error).message}\n`);
      return { status: "failed", exitCode: null };
    }
    if (missing.length) {
      ctx.output.write(
        record.index,
        `No SSH key with fingerprint ${missing.join(", ")} in project ${ctx.job.projectSlug}. Add it with POST /api/v1.1/project/${ctx.job.projectSlug}/ssh-key {hostname, private_key}.\n`,
      );
      return { status: "failed", exitCode: null };
    }
  }
  if (!chosen.length) {
    ctx.output.write(record.index, `Project ${ctx.job.projectSlug} has no additional SSH keys to add.\n`);
    return { status: "success", exitCode: 0 };
  }

  const byHost = new Map<string, string[]>();
  for (const key of chosen) {
    const file = keyFile(ctx, key.fingerprint);
    await writeOwned(ctx, file, key.private_key, 0o600);
    byHost.set(key.hostname, [...(byHost.get(key.hostname) ?? []), file]);
    ctx.output.write(
      record.index,
      `Installed SSH key ${key.fingerprint} for ${key.hostname || "every host"} as ${file}\n`,
    );
  }
  const blocks: string[] = ["# Written by Gyre's add_ssh_keys step."];
  for (const [host, files] of byHost) {
    if (!host) continue;
    blocks.push(`Host ${host}`, ...files.map((f) => `  IdentityFile ${configQuote(f)}`));
  }
  const everyHost = [...(byHost.get("") ?? [])];
  // The checkout key, where checkout wrote one, is tried last for every host (CircleCI's id_rsa).
  for (const name of await readdir(sshDir(ctx))) {
    const file = join(sshDir(ctx), name);
    if (name.startsWith("id_rsa_") && !chosen.some((k) => keyFile(ctx, k.fingerprint) === file))
      everyHost.push(file);
  }
  blocks.push(
    "Host *",
    ...everyHost.map((f) => `  IdentityFile ${configQuote(f)}`),
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${configQuote(knownHosts(ctx))}`,
  );
  const config = join(sshDir(ctx), "config");
  const text = `${blocks.join("\n")}\n`;
  await writeOwned(ctx, config, existsSync(config) ? `\n${text}` : text, 0o600, true);
  if (!existsSync(knownHosts(ctx))) await writeOwned(ctx, knownHosts(ctx), "", 0o600);

  const bin = join(toolsDir(ctx.root), "bin");
  await confined(ctx, bin);
  await mkdir(bin, { recursive: true });
  await writeFileOwned(ctx, join(bin, "ssh"), sshWrapper(bin, config), 0o755);
  return { status: "success", exitCode: 0 };
};
