/**
 * Audit records on the local stack: each action the reference audits, performed through the
 * API (or by dispatch, for a job's scheduled/start/finish), finds its record with every field
 * the reference lists, the request it came from (its id, the caller's address, the client's
 * X-Client-Trace-Id), and never a secret value. Records are read from the table (listing and
 * export are the administration issue's).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { queryRaw } from "../packages/core/src/store/index.ts";
import { api, gitRepo, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let me: { id: string; login: string };
const slug = "gh/acme/audited";
const SECRET = "very-secret-value-42";
const TRACE = "trace-abc-123";

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("audit"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
  me = (await client.get("/api/v2/me")).body as { id: string; login: string };
  const repo = gitRepo({
    ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo built
workflows:
  main:
    jobs:
      - build
      - hold:
          type: approval
          requires: [build]
`,
  });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

type AuditRecord = Record<string, unknown> & { action: string; target: { id: string; type: string } };

/** Every record of the last two hours (a test may straddle an hour). */
async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (const at of [Date.now() - 3600_000, Date.now()]) {
    const partition = `AUDIT#${new Date(at).toISOString().slice(0, 13)}`;
    for await (const item of queryRaw(runtime.gyre, { partition })) out.push(item.record as AuditRecord);
  }
  return out;
}

const traced = { "x-client-trace-id": TRACE };

describe("audit records", () => {
  it("record each audited action with the reference's fields, its request and no secret value", async () => {
    const created = await client.post(
      "/api/v2/context",
      { name: "deploy", owner: { slug: "gh/acme", type: "organization" } },
      traced,
    );
    expect(created.status).toBe(200);
    const contextId = created.body.id as string;
    const put = await fetch(`${runtime.url}/api/v2/context/${contextId}/environment-variable/TOKEN`, {
      method: "PUT",
      headers: { "circle-token": runtime.adminToken, "content-type": "application/json", ...traced },
      body: JSON.stringify({ value: SECRET }),
    });
    expect(put.status).toBe(200);
    const del = (path: string) =>
      fetch(`${runtime.url}${path}`, {
        method: "DELETE",
        headers: { "circle-token": runtime.adminToken, ...traced },
      });
    expect((await del(`/api/v2/context/${contextId}/environment-variable/TOKEN`)).status).toBe(200);
    expect((await del(`/api/v2/context/${contextId}`)).status).toBe(200);
    expect(
      (await client.post(`/api/v2/project/${slug}/envvar`, { name: "API_KEY", value: SECRET }, traced))
        .status,
    ).toBe(201);
    expect((await del(`/api/v2/project/${slug}/envvar/API_KEY`)).status).toBe(200);

    const { id } = await trigger(client, slug);
    const held = await waitFor("the approval", async () => {
      const [w] = (await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
      return w?.status === "on_hold" ? w : undefined;
    });
    const jobs = (await client.get(`/api/v2/workflow/${held.id}/job`)).body.items!;
    const build = jobs.find((j) => j.name === "build")!;
    const hold = jobs.find((j) => j.name === "hold")!;
    expect(
      (await client.post(`/api/v2/workflow/${held.id}/approve/${hold.id}`, undefined, traced)).status,
    ).toBe(202);

    const all = await waitFor("every record", async () => {
      const r = await records();
      return r.some((x) => x.action === "workflow.job.approve") &&
        r.some((x) => x.action === "workflow.job.finish")
        ? r
        : undefined;
    });
    expect(JSON.stringify(all)).not.toContain(SECRET);
    const one = (action: string, targetId?: string) => {
      const found = all.find((r) => r.action === action && (!targetId || r.target.id === targetId));
      if (!found) throw new Error(`No ${action} record`);
      return found;
    };
    const byMe = { id: me.id, type: "user", name: me.login };
    const request = { id: expect.any(String), ip_address: "127.0.0.1", client_trace_id: TRACE };
    // Every record about the organization's things is scoped to it by the id the API gives it.
    const orgId = (await client.get(`/api/v2/project/${slug}`)).body.organization_id;
    const org = { id: orgId, type: "organization", name: "acme" };
    const shape = {
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      metadata: {},
      version: 1,
      success: true,
    };
    const context = { id: contextId, type: "context", name: "deploy" };
    expect(one("context.create")).toEqual({
      ...shape,
      action: "context.create",
      actor: byMe,
      target: context,
      scope: org,
      payload: {},
      request,
    });
    expect(one("context.env_var.store")).toEqual({
      ...shape,
      action: "context.env_var.store",
      actor: byMe,
      target: context,
      scope: org,
      payload: { name: "TOKEN" },
      request,
    });
    expect(one("context.env_var.delete")).toMatchObject({
      target: context,
      payload: { name: "TOKEN" },
      request,
    });
    expect(one("context.delete")).toMatchObject({ target: context, actor: byMe, request });
    const project = one("project.env_var.create");
    expect(project).toMatchObject({
      actor: byMe,
      target: { type: "project", name: "audited" },
      payload: { name: "API_KEY" },
      request,
    });
    expect((project.scope as { type: string }).type).toBe("organization");
    expect(one("project.env_var.delete")).toMatchObject({ payload: { name: "API_KEY" }, request });
    expect(one("workflow.job.approve")).toMatchObject({
      actor: byMe,
      target: { id: hold.id, type: "job", name: "hold" },
      payload: { workflow_id: held.id },
      request,
    });
    // Dispatch's own records: no request, the system as actor, the job as target.
    const system = { id: "00000000-0000-0000-0000-000000000000", type: "system", name: "gyre" };
    for (const action of ["workflow.job.scheduled", "workflow.job.start", "workflow.job.finish"]) {
      expect(one(action, build.id as string)).toMatchObject({
        actor: system,
        target: { id: build.id, type: "job", name: "build" },
        payload: { workflow_id: held.id, job_number: build.job_number, project_slug: slug },
        request: null,
      });
    }
    expect((one("workflow.job.finish", build.id as string).payload as { status: string }).status).toBe(
      "success",
    );
    for (const action of ["project.env_var.create", "workflow.job.approve", "workflow.job.start"])
      expect({ action, scope: one(action).scope }).toEqual({
        action,
        scope: { id: orgId, type: "organization", name: "acme" },
      });
    // One request, one id: the records of different requests have different ones.
    const ids = new Set(all.filter((r) => r.request).map((r) => (r.request as { id: string }).id));
    expect(ids.size).toBe(all.filter((r) => r.request).length);
  });
});
