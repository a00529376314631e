/**
 * What builds stored, for users (any non-builder token, like the rest of the API):
 *
 *   GET /api/v2/project/{vcs}/{org}/{repo}/{job-number}/artifacts → CircleCI's ArtifactListResponse
 *   GET /api/v2/project/{vcs}/{org}/{repo}/{job-number}/tests     → CircleCI's TestsResponse
 *   GET /artifacts/{vcs}/{org}/{repo}/{job-number}/{attempt}/{node index}/{path} → the artifact itself
 *
 * An artifact is served from Gyre's origin under the content-type policy of
 * `@gyre/core/artifact` (safe types as themselves, html/css/js/xml as text/plain, the rest as
 * an attachment, always nosniff) unless the `allow_unsafe_artifacts` setting is on. Each needs
 * view permission on the project.
 * The download route takes the token as a `Circle-Token` header or a `circle-token` query
 * parameter, as CircleCI's artifact URLs do.
 */
import { artifactResponse } from "@gyre/core/artifact/content-type";
import { notFound } from "@gyre/core/error";
import { getJobByNumber } from "@gyre/core/job/index";
import { ArtifactPath } from "@gyre/core/protocol/api";
import { expiredMessage, jobExpiry } from "@gyre/core/retention/index";
import { readSettings } from "@gyre/core/settings/index";
import { artifactUrl } from "@gyre/core/storage/artifacts";
import { listArtifacts, listTestResults, readArtifact } from "@gyre/core/storage/index";
import { Hono } from "hono";
import { allow, projectFor } from "./access.ts";
import { baseUrl } from "./api-v2.ts";
import { type Env, positiveInt } from "./context.ts";

const JOB = "/api/v2/project/:vcs/:org/:repo/:number";
const DOWNLOAD = "/artifacts/:vcs/:org/:repo/:number/:attempt/:index/";

export function artifactRoutes() {
  const app = new Hono<Env>();

  app.get(`${JOB}/artifacts`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    const base = baseUrl(c.req.url);
    const items = (await listArtifacts(gyre, job)).map((a) => ({
      path: a.path,
      node_index: a.nodeIndex,
      url: artifactUrl(base, job, a.nodeIndex, a.path),
    }));
    return c.json({ items, next_page_token: null });
  });

  app.get(`${JOB}/tests`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const job = await getJobByNumber(gyre, project.slug, positiveInt(c.req.param("number"), "job-number"));
    // A test without a failure message has "" (the spec allows null, but CircleCI answers a
    // string, and clients check for one: CircleCI's own MCP server does).
    const items = (await listTestResults(gyre, job)).map((t) => ({ ...t, message: t.message ?? "" }));
    return c.json({ items, next_page_token: null });
  });

  app.get(`${DOWNLOAD}*`, allow.project("view"), async (c) => {
    const address = ArtifactPath.safeParse(c.req.param());
    if (!address.success) throw notFound("No such artifact.");
    const { number, attempt, index } = address.data;
    const project = await projectFor(c);
    const job = await getJobByNumber(c.get("gyre"), project.slug, number);
    if (attempt > job.attempt) throw notFound("No such artifact.");
    const expiry = await jobExpiry(c.get("gyre"), job, "artifacts");
    if (expiry.expired) throw notFound(expiredMessage("artifacts", job, "artifacts", expiry.days));
    const p = c.req.param();
    const prefix = `/artifacts/${p.vcs}/${p.org}/${p.repo}/${p.number}/${p.attempt}/${p.index}/`;
    const raw = new URL(c.req.url).pathname.slice(prefix.length);
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      throw notFound("No such artifact.");
    }
    const artifact = await readArtifact(c.get("gyre"), { jobId: job.id, attempt, index, path });
    const served = artifactResponse({
      path,
      storedContentType: artifact.contentType,
      allowUnsafe: (await readSettings(c.get("gyre"))).allow_unsafe_artifacts,
    });
    const headers: Record<string, string> = { ...served.headers, "Cache-Control": "private, max-age=300" };
    if (artifact.contentLength !== undefined) headers["Content-Length"] = String(artifact.contentLength);
    return new Response(artifact.body, { status: 200, headers });
  });

  return app;
}
