/**
 * What builds stored, for users (any non-builder token, like the rest of the API):
 *
 *   GET /api/v2/project/{vcs}/{org}/{repo}/{job-number}/artifacts → CircleCI's ArtifactListResponse
 *   GET /api/v2/project/{vcs}/{org}/{repo}/{job-number}/tests     → CircleCI's TestsResponse
 *   GET /artifacts/{job id}/{attempt}/{node index}/{path}         → the artifact itself
 *
 * An artifact is served from Gyre's origin under the content-type policy of
 * `@gyre/core/artifact` (safe types as themselves, html/css/js/xml as text/plain, the rest as
 * an attachment, always nosniff) unless the operator sets `GYRE_ALLOW_UNSAFE_ARTIFACTS=true`.
 * The download route takes the token as a `Circle-Token` header or a `circle-token` query
 * parameter, as CircleCI's artifact URLs do.
 */
import { artifactResponse } from "@gyre/core/artifact/content-type";
import { notFound } from "@gyre/core/error";
import { getJobByNumber } from "@gyre/core/job/index";
import { ArtifactPath } from "@gyre/core/protocol/api";
import { listArtifacts, listTestResults, readArtifact } from "@gyre/core/storage/index";
import { Hono } from "hono";
import { baseUrl } from "./api-v2.ts";
import { type Env, positiveInt, requireUser, slugOf } from "./context.ts";

const JOB = "/api/v2/project/:vcs/:org/:repo/:number";
const DOWNLOAD = "/artifacts/:jobId/:attempt/:index/";

/** Whether the operator allows unsafe artifact content types to be served as themselves. */
export const allowUnsafeArtifacts = (env: NodeJS.ProcessEnv = process.env) =>
  env.GYRE_ALLOW_UNSAFE_ARTIFACTS === "true";

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

export function artifactRoutes() {
  const app = new Hono<Env>();

  app.get(`${JOB}/artifacts`, requireUser(), async (c) => {
    const gyre = c.get("gyre");
    const job = await getJobByNumber(gyre, slugOf(c), positiveInt(c.req.param("number"), "job-number"));
    const base = baseUrl(c.req.url);
    const items = (await listArtifacts(gyre, job)).map((a) => ({
      path: a.path,
      node_index: a.nodeIndex,
      url: `${base}/artifacts/${job.id}/${job.attempt}/${a.nodeIndex}/${encodePath(a.path)}`,
    }));
    return c.json({ items, next_page_token: null });
  });

  app.get(`${JOB}/tests`, requireUser(), async (c) => {
    const gyre = c.get("gyre");
    const job = await getJobByNumber(gyre, slugOf(c), positiveInt(c.req.param("number"), "job-number"));
    // A test without a failure message has "" (the spec allows null, but CircleCI answers a
    // string, and clients check for one: CircleCI's own MCP server does).
    const items = (await listTestResults(gyre, job)).map((t) => ({ ...t, message: t.message ?? "" }));
    return c.json({ items, next_page_token: null });
  });

  app.get(`${DOWNLOAD}*`, requireUser(), async (c) => {
    const address = ArtifactPath.safeParse(c.req.param());
    if (!address.success) throw notFound("No such artifact.");
    const { jobId, attempt, index } = address.data;
    const prefix = `/artifacts/${c.req.param("jobId")}/${c.req.param("attempt")}/${c.req.param("index")}/`;
    const raw = new URL(c.req.url).pathname.slice(prefix.length);
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      throw notFound("No such artifact.");
    }
    const artifact = await readArtifact(c.get("gyre"), { jobId, attempt, index, path });
    const served = artifactResponse({
      path,
      storedContentType: artifact.contentType,
      allowUnsafe: allowUnsafeArtifacts(),
    });
    const headers: Record<string, string> = { ...served.headers, "Cache-Control": "private, max-age=300" };
    if (artifact.contentLength !== undefined) headers["Content-Length"] = String(artifact.contentLength);
    return new Response(artifact.body, { status: 200, headers });
  });

  return app;
}
