/**
 * The builder agent as one file, as the fleet's instances run it (`node agent.mjs`): esbuild
 * bundles packages/agent/src/main.ts with its dependencies. ssh2's optional native addons stay
 * out (it falls back to JavaScript), the CommonJS parts get the `require`, `__dirname` and
 * `__filename` they expect, and files the sources read beside themselves are built in.
 * infra/fleet.ts uploads the result under a key named by its digest, which the boot script
 * checks; test/fleet.e2e runs it.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { buildSync } from "esbuild";

const BANNER = [
  `import { createRequire as __gyreRequire } from "node:module";`,
  `import { fileURLToPath as __gyrePath } from "node:url";`,
  `import { dirname as __gyreDir } from "node:path";`,
  "const require = __gyreRequire(import.meta.url);",
  "const __filename = __gyrePath(import.meta.url);",
  "const __dirname = __gyreDir(__filename);",
].join("\n");

/** Writes the bundle to `outfile` (paths from the repository root). */
export function bundleAgent(outfile: string, root = "."): void {
  buildSync({
    absWorkingDir: resolve(root),
    entryPoints: ["packages/agent/src/main.ts"],
    bundle: true,
    platform: "node",
    target: "node22",
    format: "esm",
    outfile: resolve(root, outfile),
    external: ["cpu-features", "*.node"],
    banner: { js: BANNER },
    // Files the sources read from beside themselves, built in.
    define: {
      __GYRE_CIRCLECI_SH__: JSON.stringify(
        readFileSync(resolve(root, "packages/agent/src/tools/circleci.sh"), "utf8"),
      ),
    },
    legalComments: "none",
    logLevel: "error",
  });
}

/** The deploy's bundle: built once per `sst` run, with its SHA-256 (hex). */
let built: { path: string; sha256: string } | undefined;
export function deployBundle(path = ".sst/artifacts/gyre-agent.mjs"): { path: string; sha256: string } {
  if (!built) {
    bundleAgent(path);
    built = { path, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
  }
  return built;
}
