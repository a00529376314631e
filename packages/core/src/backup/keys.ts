/**
 * Which object keys a local restore writes. A restore puts every object of the manifest into
 * the bucket under the key the manifest names, and s3rver, the local stand-in, maps a key to a
 * file with `path.join(<bucket dir>, ...key.split("/"))`: a key with `..` segments would write
 * outside the data directory. The manifest is not authenticated (its checksums detect damage,
 * not tampering), so every key is checked before anything is written, and an archive holding
 * one key that fails is refused whole.
 *
 * A key is accepted when it is one Gyre could have written: under one of the prefixes below,
 * at most 1024 bytes (S3's limit), with no empty, `.` or `..` segment, no leading `/`, no `\`
 * and no control character. The prefixes are those of the modules that write the bucket (each
 * owns its keys; keys.test.ts checks their key builders against this list):
 *
 *   output/       step output (output/index.ts)
 *   artifacts/    stored artifacts (storage/artifacts.ts)
 *   tests/        test results (storage/test-results.ts)
 *   caches/       caches and their metadata (storage/caches.ts)
 *   workspaces/   workspace layers and their metadata (storage/workspaces.ts)
 *   pipelines/    a pipeline's compiled configuration (pipeline/config.ts)
 *   audit-logs/   parked audit records, hourly files, their marker (audit/index.ts)
 *   usage/        weekly usage reports (usage/delivery.ts)
 *   orbs/         published orbs (orb/index.ts)
 *
 * (`backups/`, where `gyre backup --aws` keeps its manifests, is never in a local bucket.)
 */
import { BackupArchiveError } from "./archive.ts";
import type { Manifest } from "./manifest.ts";

export const RESTORABLE_PREFIXES = [
  "output/",
  "artifacts/",
  "tests/",
  "caches/",
  "workspaces/",
  "pipelines/",
  "audit-logs/",
  "usage/",
  "orbs/",
] as const;

export const MAX_OBJECT_KEY_BYTES = 1024;

/** C0 controls, DEL and C1 controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a restore would refuse to write `key`, or undefined when it is one Gyre writes. */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0) return "it is empty";
  if (Buffer.byteLength(key, "utf8") > MAX_OBJECT_KEY_BYTES)
    return `it is longer than ${MAX_OBJECT_KEY_BYTES} bytes`;
  if (key.startsWith("/")) return "it starts with /";
  if (key.includes("\\")) return "it holds a backslash";
  if (CONTROL.test(key)) return "it holds a control character";
  if (key.split("/").some((segment) => segment === "" || segment === "." || segment === ".."))
    return 'it has an empty, "." or ".." path segment';
  if (!RESTORABLE_PREFIXES.some((prefix) => key.startsWith(prefix)))
    return `it is under none of the prefixes Gyre writes (${RESTORABLE_PREFIXES.join(", ")})`;
  return undefined;
}

/**
 * Throws `BackupArchiveError` when any object the manifest of `path` lists has a key a restore
 * must not write (objectKeyProblem), naming the first such key and how many there are.
 */
export function checkObjectKeys(manifest: Manifest, path: string): void {
  const bad: { key: string; problem: string }[] = [];
  for (const entry of manifest.entries) {
    if (entry.kind !== "object") continue;
    const problem = objectKeyProblem(entry.key);
    if (problem) bad.push({ key: entry.key, problem });
  }
  const first = bad[0];
  if (!first) return;
  throw new BackupArchiveError(
    `${path} is refused: its manifest names the object key ${JSON.stringify(first.key)}, which Gyre never writes ` +
      `(${first.problem})${bad.length > 1 ? `, and ${bad.length - 1} more such key(s)` : ""}. ` +
      "It is not a backup Gyre made, or it was altered: nothing was restored.",
  );
}
