/**
 * Building the web app (packages/web/app) with Vite, from Node: `gyre start` builds it when the
 * sources changed since the last build (so `npm ci && npm start` shows it with nothing else to
 * run), the browser tests build it once for all their files, and infra/web.ts builds it for a
 * deployment. The sources' digest is written beside the build; a build whose digest matches is
 * used as it is.
 *
 * Several processes may ask at once (test files run in parallel): one builds, holding a lock
 * directory, into a fresh directory that then replaces the old build; the others wait for it.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** packages/web. */
export const WEB_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Where `gyre start` serves the app from. */
export const WEB_DIST = join(WEB_ROOT, "dist");
const DIGEST_FILE = ".source-digest";

const SOURCES = ["index.html", "app", "public", "package.json", "src/build.ts"];

function filesUnder(path: string): string[] {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch {
    return [];
  }
  if (info.isFile()) return [path];
  return readdirSync(path)
    .filter((name) => !name.endsWith(".test.ts") && !name.endsWith(".test.tsx"))
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/** A digest of everything the build reads from packages/web (the tests left out). */
export function sourceDigest(root = WEB_ROOT): string {
  const hash = createHash("sha256");
  for (const file of SOURCES.flatMap((s) => filesUnder(join(root, s)))) {
    hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

const digestOf = (outDir: string) => {
  try {
    return readFileSync(join(outDir, DIGEST_FILE), "utf8").trim();
  } catch {
    return undefined;
  }
};

/** Builds the app into `outDir` (replaced whole), writing the sources' digest beside it. */
export async function buildWeb(outDir: string, root = WEB_ROOT): Promise<void> {
  const { build } = await import("vite");
  const digest = sourceDigest(root);
  const fresh = `${outDir}.build-${process.pid}-${Date.now()}`;
  await build({
    root,
    configFile: false,
    // Production React whatever NODE_ENV the calling process has (vitest sets "test", which Vite
    // would otherwise keep and ship React's development build).
    mode: "production",
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    oxc: { jsx: { runtime: "automatic", development: false } },
    logLevel: "warn",
    base: "/",
    publicDir: join(root, "public"),
    build: {
      outDir: fresh,
      emptyOutDir: true,
      assetsDir: "assets",
      target: "es2022",
      sourcemap: false,
      reportCompressedSize: false,
      chunkSizeWarningLimit: 1000,
      rollupOptions: {
        // React Query marks its modules "use client" (for server components): nothing to keep here.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
  writeFileSync(join(fresh, DIGEST_FILE), `${digest}\n`);
  const old = `${outDir}.old-${process.pid}-${Date.now()}`;
  try {
    renameSync(outDir, old);
  } catch {
    // No earlier build.
  }
  renameSync(fresh, outDir);
  rmSync(old, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The app built from the current sources in `outDir`: built now unless a build of the same
 * sources is there. Answers whether it built.
 */
export async function ensureWebBuilt(outDir = WEB_DIST, root = WEB_ROOT): Promise<boolean> {
  const want = sourceDigest(root);
  if (digestOf(outDir) === want) return false;
  const lock = `${outDir}.lock`;
  mkdirSync(dirname(outDir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another process builds; a lock older than two minutes was left by one that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      } catch {}
      await sleep(200);
      if (digestOf(outDir) === want) return false;
    }
  }
  try {
    if (digestOf(outDir) === want) return false;
    await buildWeb(outDir, root);
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
