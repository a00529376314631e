/**
 * The built web app's files as servers hand them out: their content types, and how long a
 * browser may keep them (the page is asked for again each visit; hashed assets never change).
 * The local runtime's routes (packages/functions/src/http/web.ts) and the deployment's copy in
 * the bucket (infra/web.ts) both use these.
 */
import { extname } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

export const contentTypeOf = (path: string) => TYPES[extname(path)] ?? "application/octet-stream";

/** Vite's built names carry a hash of their content (`index-BpPiIbLi.js`); files copied as they are do not. */
const HASHED = /^assets\/.+-[A-Za-z0-9_-]{8}\.[a-z0-9]+$/;

/** A hashed file never changes: cached for a year. Anything else is asked for again each visit. */
export const cacheControlOf = (path: string) =>
  HASHED.test(path) ? "public, max-age=31536000, immutable" : "no-cache";

/** Where a deployment keeps the built app in the bucket (infra/web.ts), read by the HTTP function. */
export const WEB_BUCKET_PREFIX = "web/";
