/**
 * What a deployment puts in the bucket for the web app: every file of the built app
 * (packages/web/dist) under `web/`, with its content type and cache policy, which the HTTP
 * function serves (packages/functions/src/http/web.ts, bucketAssets). Plain data, tested offline.
 */
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { cacheControlOf, contentTypeOf, WEB_BUCKET_PREFIX } from "../packages/web/src/files.ts";

export const WEB_PREFIX = WEB_BUCKET_PREFIX;

export interface WebObject {
  /** The file on disk. */
  source: string;
  key: string;
  contentType: string;
  cacheControl: string;
}

/** Every file under `dist` as the object the bucket holds (the build's digest file left out). */
export function webObjects(dist: string): WebObject[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : [path];
      });
  return walk(dist)
    .map((source) => ({ source, path: relative(dist, source).split("\\").join("/") }))
    .filter(({ path }) => !path.startsWith("."))
    .map(({ source, path }) => ({
      source,
      key: `${WEB_PREFIX}${path}`,
      contentType: contentTypeOf(path),
      cacheControl: cacheControlOf(path),
    }));
}
