/**
 * The builder agents' storage endpoints (mounted under `/agent/v1`, builder tokens only):
 * presigned URLs for the objects of a running allocation, cache lookup with CircleCI's
 * restore semantics, and the workspace layers a job attaches. Keys are computed by
 * `@gyre/core/storage` from the job, never taken from the agent.
 *
 *   POST /storage/upload   {allocation, node_id, kind, name?, content_type?}
 *        → {exists: false, url, method, headers, expires_at} | {exists: true, created_at}
 *   POST /storage/commit   {allocation, node_id, kind: cache|workspace, name?, sha256, bytes, root?}
 *   POST /caches/lookup    {allocation, node_id, keys[]} → {cache: {...} | null, matched_key}
 *   POST /workspace/layers {allocation, node_id} → {layers: [...]}
 *   POST /timings          {allocation, node_id} → {filename: {path: seconds}, classname: {...},
 *                          testname: {...}, source: {job_number, branch} | null}
 */
import { selectCacheEntry } from "@gyre/core/cache/select";
import type { AllocationRef } from "@gyre/core/protocol/agent";
import {
  AllocationBodySchema,
  CacheLookupRequestSchema,
  CommitRequestSchema,
  type GrantJson,
  UploadRequestSchema,
} from "@gyre/core/protocol/agent";
import {
  commitUpload,
  type Grant,
  grantCacheDownload,
  grantUpload,
  listCaches,
  validateCacheKey,
  verifyAllocation,
  workspaceLayers,
} from "@gyre/core/storage/index";
import { timingsFor } from "@gyre/core/storage/timings";
import { Hono } from "hono";
import { type Env, nodeBody } from "./context.ts";

const ref = (body: { allocation: AllocationRef; node_id: string }) =>
  [body.allocation, body.node_id] as const;

const grantJson = (grant: Grant): GrantJson => ({
  url: grant.url,
  method: grant.method,
  headers: grant.headers,
  expires_at: grant.expiresAt,
});

export function storageRoutes() {
  const app = new Hono<Env>();

  app.post("/storage/upload", async (c) => {
    const body = await nodeBody(c, UploadRequestSchema, "body");
    const answer = await grantUpload(c.get("gyre"), ...ref(body), {
      kind: body.kind,
      name: body.name,
      contentType: body.content_type,
    });
    return c.json(
      answer.exists
        ? { exists: true, created_at: answer.createdAt }
        : { exists: false, ...grantJson(answer) },
    );
  });

  app.post("/storage/commit", async (c) => {
    const body = await nodeBody(c, CommitRequestSchema, "body");
    const answer = await commitUpload(c.get("gyre"), ...ref(body), {
      kind: body.kind,
      name: body.name,
      sha256: body.sha256,
      bytes: body.bytes,
      root: body.root,
    });
    return c.json(answer);
  });

  app.post("/caches/lookup", async (c) => {
    const gyre = c.get("gyre");
    const body = await nodeBody(c, CacheLookupRequestSchema, "body");
    const keys = body.keys.map((k) => validateCacheKey(k));
    const job = await verifyAllocation(gyre, ...ref(body));
    // CircleCI: keys in order; for each, the most recently created cache whose key starts with it.
    for (const key of keys) {
      const entry = selectCacheEntry([key], await listCaches(gyre, job.projectSlug, key));
      if (!entry) continue;
      const cache = await grantCacheDownload(gyre, job.projectSlug, entry.key);
      if (!cache) continue;
      return c.json({
        matched_key: key,
        cache: {
          key: cache.key,
          sha256: cache.sha256,
          bytes: cache.bytes,
          created_at: cache.createdAt,
          job_number: cache.jobNumber,
          root: cache.root ?? null,
          ...grantJson(cache),
        },
      });
    }
    return c.json({ matched_key: null, cache: null });
  });

  app.post("/workspace/layers", async (c) => {
    const body = await nodeBody(c, AllocationBodySchema, "body");
    const layers = await workspaceLayers(c.get("gyre"), ...ref(body));
    return c.json({
      layers: layers.map((l) => ({
        job: l.job,
        index: l.index,
        sha256: l.sha256,
        bytes: l.bytes,
        created_at: l.createdAt,
        ...grantJson(l),
      })),
    });
  });

  // Test timings for `circleci tests split --split-by=timings`, from the most recent successful
  // run of the same job in this project (see @gyre/core/storage/timings).
  app.post("/timings", async (c) => {
    const gyre = c.get("gyre");
    const body = await nodeBody(c, AllocationBodySchema, "body");
    const job = await verifyAllocation(gyre, ...ref(body));
    const timings = await timingsFor(gyre, job);
    return c.json({
      filename: timings.filename,
      classname: timings.classname,
      testname: timings.testname,
      source: timings.source
        ? { job_number: timings.source.jobNumber, branch: timings.source.branch ?? null }
        : null,
    });
  });

  return app;
}
