/**
 * Where the shared corpus is: `shared/` beside this repository's folder, as sessions and CI
 * lay it out (`GYRE_SHARED` overrides). Read-only test input; never edited.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SHARED = resolve(process.env.GYRE_SHARED ?? join(REPO_ROOT, "..", "shared"));
export const CORPUS = join(SHARED, "corpus");

if (!existsSync(CORPUS)) {
  throw new Error(
    `The shared corpus is not at ${CORPUS}: put shared/ beside the repository or set GYRE_SHARED.`,
  );
}
