/** Finding files for the storage steps: a tree walk, and CircleCI's workspace globs. */
import { lstat, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";

/**
 * Every file under `dir` (symlinks to files included, symlinked directories not followed),
 * as paths relative to `dir` with `/` separators, sorted.
 */
export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string) => {
    const entries = await readdir(path, { withFileTypes: true });
    for (const entry of entries) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) found.push(relative(dir, full));
      else if (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isFile())
        found.push(relative(dir, full));
    }
  };
  await walk(dir);
  return found.sort();
}

const GLOB_CHARS = /[*?[]/;

/**
 * A glob as CircleCI's `persist_to_workspace` paths take them (Go's filepath.Match plus `**`):
 * `*` any run of characters but `/`, `**` any run including `/`, `?` one character but `/`,
 * `[abc]`, `[a-z]`, `[!a]` / `[^a]` a class. Anchored at both ends.
 */
export function globToRegExp(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          out += "(?:.*/)?";
        } else out += ".*";
      } else out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) out += "\\[";
      else {
        let body = pattern.slice(i + 1, close);
        const negate = body[0] === "!" || body[0] === "^";
        if (negate) body = body.slice(1);
        out += `[${negate ? "^/" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
        i = close;
      }
    } else if (c === "\\" && i + 1 < pattern.length) out += `\\${pattern[++i]}`;
    else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/**
 * The members (relative to `root`) that `patterns` name: a plain path must exist; a glob is
 * matched against every file and directory under `root`. A member inside another member is
 * dropped (the outer one carries it). Throws when a pattern matches nothing, as CircleCI does.
 */
export async function expandWorkspacePaths(root: string, patterns: readonly string[]): Promise<string[]> {
  const members = new Set<string>();
  for (const raw of patterns) {
    let pattern = raw.replace(/^\.\/+/, "").replace(/\/+$/, "");
    if (pattern.startsWith("/")) {
      const inside = relative(root, pattern);
      if (inside.startsWith(".."))
        throw new Error(`The path ${raw} is not inside the workspace root ${root}.`);
      pattern = inside;
    }
    if (pattern === "") pattern = ".";
    if (pattern.split("/").includes(".."))
      throw new Error(`The path ${raw} is not inside the workspace root ${root}.`);
    if (!GLOB_CHARS.test(pattern)) {
      if (!(await lstat(join(root, pattern)).catch(() => undefined)))
        throw new Error(`The specified paths did not match any files in ${root}: ${raw}`);
      members.add(pattern);
      continue;
    }
    // Walk only below the part of the pattern that has no glob in it.
    const segments = pattern.split("/");
    const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
    const base = segments.slice(0, firstGlob).join("/");
    const regex = globToRegExp(pattern);
    let matched = false;
    const walk = async (relativeDir: string) => {
      const entries = await readdir(join(root, relativeDir), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const path = relativeDir ? `${relativeDir}/${entry.name}` : entry.name;
        if (regex.test(path)) {
          members.add(path);
          matched = true;
        }
        if (entry.isDirectory()) await walk(path);
      }
    };
    await walk(base);
    if (!matched) throw new Error(`The specified paths did not match any files in ${root}: ${raw}`);
  }
  const all = [...members].sort();
  if (all.includes(".")) return ["."];
  return all.filter((m) => !all.some((other) => other !== m && m.startsWith(`${other}/`)));
}
