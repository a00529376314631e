/**
 * The web app on AWS: built at deploy time (`npm run build -w @gyre/web`, as locally) and copied
 * into the bucket under `web/` (infra/web-plan.ts), from where the HTTP function serves it at the
 * API's own domain: one origin for the page and the API, so the session cookie and CSRF work as
 * they do locally. Objects are replaced as the build's file names change; hashed assets are
 * cached by browsers for a year, the page is asked for again on each visit.
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { bucket } from "./storage.ts";
import { webObjects } from "./web-plan.ts";

const dist = resolve("packages/web/dist");
execFileSync("npm", ["run", "build", "-w", "@gyre/web"], { stdio: "inherit" });

export const webFiles = webObjects(dist).map(
  (file) =>
    new aws.s3.BucketObjectv2(`Web${file.key.replace(/[^A-Za-z0-9]/g, "")}`, {
      bucket: bucket.name,
      key: file.key,
      source: new $util.asset.FileAsset(file.source),
      contentType: file.contentType,
      cacheControl: file.cacheControl,
    }),
);
