/**
 * Cache keys: renders a `save_cache` / `restore_cache` key template as CircleCI does.
 *
 * Supported, with any whitespace inside the braces and Go's `{{-` / `-}}` trim markers:
 * - `{{ .Branch }}`, `{{ .Revision }}`, `{{ .BuildNum }}`
 * - `{{ .Environment.NAME }}`; an unset variable renders as `<no value>`, which is what
 *   CircleCI's Go templates print for a missing key
 * - `{{ checksum "path" }}` (or a Go raw string, `checksum \`path\``): base64 (standard
 *   alphabet, padded) of the SHA-256 of the file's contents; the path is absolute, `~/...`, or
 *   relative to the working directory (see `fileChecksum`)
 * - `{{ epoch }}`: seconds since the Unix epoch
 * - `{{ arch }}`: the OS and CPU, e.g. `arch1-linux-amd64-6_85` (see `circleArch`)
 * Anything else (`.CheckoutKey` included) fails with an error naming it. A rendered key must be
 * 1..900 characters (`MAX_CACHE_KEY_LENGTH`).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { GyreError } from "@gyre/core/error";

/**
 * CircleCI enforces a maximum cache key length (circleci-docs PR #6380, "Document the max
 * length of a cache key"); 900 is the figure Gyre uses, not confirmed from CircleCI's text.
 */
export const MAX_CACHE_KEY_LENGTH = 900;
const NO_VALUE = "<no value>";

export interface CacheKeyContext {
  branch: string;
  revision: string;
  buildNum: number | string;
  environment: Readonly<Record<string, string | undefined>>;
  /** Seconds since the Unix epoch. */
  epoch: number;
  /** The `{{ arch }}` value, e.g. from `circleArch()`. */
  arch: string;
  /** base64(SHA-256(contents)) of a file named in the template, e.g. `fileChecksum(workingDirectory)`. */
  checksum(path: string): Promise<string>;
}

export async function renderCacheKey(template: string, ctx: CacheKeyContext): Promise<string> {
  const pieces: (string | Promise<string>)[] = [];
  let text = "";
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf("{{", at);
    if (open === -1) {
      text += template.slice(at);
      break;
    }
    const close = template.indexOf("}}", open + 2);
    if (close === -1) throw invalid(template, `"{{" at position ${open + 1} is never closed with "}}"`);
    let action = template.slice(open + 2, close);
    text += template.slice(at, open);
    if (/^-\s/.test(action)) {
      text = text.replace(/\s+$/, "");
      action = action.slice(1);
    }
    let trimNext = false;
    if (/\s-$/.test(action)) {
      trimNext = true;
      action = action.slice(0, -1);
    }
    pieces.push(text, evaluate(action.trim(), template, ctx));
    text = "";
    at = close + 2;
    if (trimNext) while (at < template.length && /\s/.test(template[at]!)) at++;
  }
  pieces.push(text);
  const key = (await Promise.all(pieces)).join("");
  if (key.length === 0) throw invalid(template, "the key is empty");
  if (key.length > MAX_CACHE_KEY_LENGTH) {
    throw invalid(template, `the key is ${key.length} characters long; the limit is ${MAX_CACHE_KEY_LENGTH}`);
  }
  return key;
}

function evaluate(action: string, template: string, ctx: CacheKeyContext): string | Promise<string> {
  switch (action) {
    case ".Branch":
      return ctx.branch;
    case ".Revision":
      return ctx.revision;
    case ".BuildNum":
      return String(ctx.buildNum);
    case "epoch":
      return String(Math.floor(ctx.epoch));
    case "arch":
      return ctx.arch;
  }
  const environment = /^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(action);
  if (environment) {
    const name = environment[1]!;
    return Object.hasOwn(ctx.environment, name) ? (ctx.environment[name] ?? NO_VALUE) : NO_VALUE;
  }
  const checksum = /^checksum\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)$/.exec(action);
  if (checksum) {
    const path = checksum[2] ?? unquote(checksum[1]!);
    return ctx.checksum(path);
  }
  if (/^checksum\b/.test(action))
    throw invalid(template, `checksum takes one quoted file name: {{ ${action} }}`);
  if (action.startsWith(".")) {
    throw invalid(
      template,
      `unknown value {{ ${action} }}; use .Branch, .Revision, .BuildNum or .Environment.NAME`,
    );
  }
  const name = /^[^\s"`]*/.exec(action)![0];
  throw invalid(
    template,
    name
      ? `unknown template function "${name}"; use checksum, epoch or arch`
      : `empty or malformed action {{${action}}}`,
  );
}

function unquote(quoted: string): string {
  return quoted.replace(/\\(.)/g, (_, c: string) => ({ n: "\n", t: "\t" })[c] ?? c);
}

function invalid(template: string, reason: string): GyreError {
  return new GyreError("bad_request", `Invalid cache key "${template}": ${reason}.`);
}

/**
 * CircleCI's `{{ checksum "file" }}` for files under `workingDirectory`: base64 of the
 * SHA-256 of the contents. `~` and `~/...` are the home directory.
 */
export function fileChecksum(
  workingDirectory: string,
  home: string = homedir(),
): (path: string) => Promise<string> {
  return async (path) => {
    const absolute = resolvePath(path, workingDirectory, home);
    const info = await stat(absolute).catch(() => undefined);
    if (!info) {
      throw new GyreError(
        "bad_request",
        `Cannot compute {{ checksum "${path}" }}: ${absolute} does not exist (relative paths start at the working directory ${workingDirectory}).`,
      );
    }
    if (!info.isFile()) {
      throw new GyreError(
        "bad_request",
        `Cannot compute {{ checksum "${path}" }}: ${absolute} is not a file.`,
      );
    }
    const hash = createHash("sha256");
    await pipeline(createReadStream(absolute), hash);
    return hash.digest("base64");
  };
}

/** A path as CircleCI steps take it: absolute, `~`-relative, or relative to `base`. */
export function resolvePath(path: string, base: string, home: string = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(base, path);
}

/**
 * The `{{ arch }}` value in CircleCI's shape, `arch1-<os>-<cpu>-<family>_<model>`, e.g.
 * `arch1-linux-amd64-6_85` for an x86 CPU of family 6, model 85 (from /proc/cpuinfo). When
 * the CPU reports no family and model (ARM), the last part is left out: `arch1-linux-arm64`.
 */
export function circleArch(
  cpuinfo: string,
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  const os = platform === "win32" ? "windows" : platform;
  const cpu =
    ({ x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" } as Record<string, string>)[arch] ?? arch;
  const family = /^cpu family\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  const model = /^model\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  return family && model ? `arch1-${os}-${cpu}-${family}_${model}` : `arch1-${os}-${cpu}`;
}
