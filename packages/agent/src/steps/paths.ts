import { join, resolve } from "node:path";

/** `~` and relative paths as CircleCI resolves them: `~` is HOME, relative is under the working directory. */
export function resolvePath(path: string, home: string, workingDirectory: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(workingDirectory, path);
}
