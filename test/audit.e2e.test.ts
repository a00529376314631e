/**
 * The audit log as operators get it, on the local stack: each action that records an event is
 * performed through the API (sign-in against the GitHub stand-in, a job run by the runtime's
 * builder for dispatch's own records), and each record is found through the admin API and
 * `gyre audit list` with every field the reference lists, the request it came from (its id, the
 * caller's address, the client's X-Client-Trace-Id) and never a secret value. Then the hourly
 * delivery writes the hour's file into the bucket, and the CSV export (API and CLI) reads back.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deliverAuditFiles, GRACE_MS } from "@gyre/core/audit/delivery";
import type { AuditRecord } from "@gyre/core/audit/index";
import { AuditObjects } from "@gyre/core/audit/index";
import { readText } from "@gyre/core/aws/s3";
import { DEFAULT_OAUTH_APP, type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { updateSettings } from "@gyre/core/settings/index";
import { parseCsv } from "@gyre/core/test-csv";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { main } from "../packages/cli/src/main.ts";
import { api, gitRepo, tempDir, trigger, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let github: GithubStandIn;
let client: ReturnType<typeof api>;
let me: { id: string; login: string };
const slug = "gh/acme/audited";
const SECRET = "very-secret-value-42";
const TRACE = "trace-abc-123";
const traced = { "x-client-trace-id": TRACE };
const started = new Date(Date.now() - 60_000).toISOString();

beforeAll(async () => {
  [runtime, github] = await Promise.all([
    startLocalRuntime({ dataDir: tempDir("audit"), port: 0 }),
    startGithubStandIn(),
  ]);
  client = api(runtime.url, runtime.adminToken);
  me = (await client.get("/api/v2/me")).body as { id: string; login: string };
  // Straight into the table: set-up, not an audited change.
  await updateSettings(runtime.gyre, {
    github: {
      api_url: github.url,
      client_id: DEFAULT_OAUTH_APP.clientId,
      client_secret: DEFAULT_OAUTH_APP.clientSecret,
    },
  });
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
  await github?.close();
});

/** A request with the admin token (or none) and the client's trace id. */
const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${runtime.url}${path}`, {
    method,
    headers: {
      "circle-token": runtime.adminToken,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...traced,
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: "manual",
  });

async function ok(response: Promise<Response>, status = 200) {
  const res = await response;
  const text = await res.text();
  if (res.status !== status) throw new Error(`${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** `gyre <args>` in this process, against the runtime, with what it printed. */
async function gyre(...args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const saved = { url: process.env.GYRE_URL, token: process.env.GYRE_TOKEN };
  process.env.GYRE_URL = runtime.url;
  process.env.GYRE_TOKEN = runtime.adminToken;
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void out.push(String(line)));
  try {
    return { code: await main(args), out };
  } finally {
    log.mockRestore();
    for (const [k, v] of [
      ["GYRE_URL", saved.url],
      ["GYRE_TOKEN", saved.token],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/** An OpenSSH ed25519 public key line, made here (no ssh-keygen needed). */
function sshPublicKey(): string {
  const der = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" });
  const raw = der.subarray(der.length - 32);
  const string = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([string(Buffer.from("ssh-ed25519")), string(raw)]).toString("base64")} me@test`;
}

const NESTED = ["actor", "target", "payload", "metadata", "scope", "request"];

/** A CSV row as the record it was made from: nested cells parsed as JSON. */
const rowRecord = (header: string[], row: string[]) =>
  Object.fromEntries(
    header.map((field, i) => {
      const cell = row[i]!;
      if (NESTED.includes(field)) return [field, cell === "" ? null : JSON.parse(cell)];
      if (field === "version") return [field, Number(cell)];
      if (field === "success") return [field, cell === "true"];
      return [field, cell];
    }),
  ) as AuditRecord;

describe("the audit log", () => {
  it("records every audited action with its fields, lists and exports it, and delivers the hour's file", async () => {
    const secrets = [SECRET, DEFAULT_OAUTH_APP.clientSecret, runtime.adminToken];

    // Contexts and their variables.
    const context = await ok(
      send("POST", "/api/v2/context", { name: "deploy", owner: { slug: "gh/acme", type: "organization" } }),
    );
    const contextId = context.id as string;
    await ok(send("PUT", `/api/v2/context/${contextId}/environment-variable/TOKEN`, { value: SECRET }));
    await ok(send("DELETE", `/api/v2/context/${contextId}/environment-variable/TOKEN`));
    await ok(send("DELETE", `/api/v2/context/${contextId}`));
    // Project variables and settings.
    await ok(send("POST", `/api/v2/project/${slug}/envvar`, { name: "API_KEY", value: SECRET }), 201);
    await ok(send("DELETE", `/api/v2/project/${slug}/envvar/API_KEY`));
    await ok(send("PATCH", `/api/v2/project/${slug}/settings`, { advanced: { autocancel_builds: true } }));
    // The installation's settings.
    await ok(send("PATCH", "/api/gyre/settings", { session_hours: 48 }));
    // Tokens: personal, then a project's.
    const made = await ok(send("POST", "/api/gyre/me/tokens", { label: "laptop" }), 201);
    secrets.push(made.token as string);
    await ok(send("DELETE", `/api/gyre/me/tokens/${made.id}`));
    const projectToken = await ok(
      send("POST", `/api/v1.1/project/${slug}/token`, { label: "status badge", scope: "status" }),
      201,
    );
    secrets.push(projectToken.token as string);
    await ok(send("DELETE", `/api/v1.1/project/${slug}/token/${projectToken.id}`));

    // A GitHub project (the stand-in): refused by GitHub once (added and removed again), added
    // with its hook and key, its connection changed (GitHub refusing once), its removal refused
    // by GitHub once, then removed.
    const connectedSlug = "gh/acme/connected";
    const connectedRepo = gitRepo({ "README.md": "connected\n" });
    const githubTokens = ["ghp_refused-token-0", "ghp_audited-token-1", "ghp_audited-token-2"];
    const hookPassword = "hook-password-77";
    secrets.push(...githubTokens, hookPassword);
    github.answerNext({
      status: 401,
      method: "POST",
      path: /\/hooks$/,
      body: { message: "Bad credentials" },
    });
    const refusedAdd = await ok(
      send("POST", "/api/gyre/projects", {
        repo_url: connectedRepo.path,
        slug: connectedSlug,
        github: { token: githubTokens[0], api_url: github.url },
      }),
      422,
    );
    const connected = await ok(
      send("POST", "/api/gyre/projects", {
        repo_url: connectedRepo.path,
        slug: connectedSlug,
        settings: { build_fork_prs: true },
        github: { token: githubTokens[1], api_url: github.url },
      }),
      201,
    );
    secrets.push(connected.webhook_secret as string);
    // A new webhook URL GitHub refuses: stored, not installed (422), recorded as failed.
    github.answerNext({
      status: 401,
      method: "POST",
      path: /\/hooks$/,
      body: { message: "Bad credentials" },
    });
    const refusedHook = await ok(
      send("PATCH", `/api/gyre/projects/${connectedSlug}`, {
        github: { webhook_url: "https://refused.example.com/webhooks/github" },
      }),
      422,
    );
    const reconnected = await ok(
      send("PATCH", `/api/gyre/projects/${connectedSlug}`, {
        github: {
          token: githubTokens[2],
          webhook_url: `https://ci:${hookPassword}@ci.example.com/webhooks/github`,
        },
      }),
    );
    github.answerNext({
      status: 403,
      method: "DELETE",
      path: /\/hooks\/\d+$/,
      body: { message: "Must have admin rights to Repository." },
    });
    const refusedRemoval = await ok(send("DELETE", `/api/gyre/projects/${connectedSlug}`), 422);
    const removedProject = await ok(send("DELETE", `/api/gyre/projects/${connectedSlug}`));

    // A scheduled pipeline made, changed (and a change to nothing, no record), deleted.
    const timetable = { "per-hour": 1, "hours-of-day": [3], "days-of-month": [29], months: ["FEB"] };
    const schedule = await ok(
      send("POST", `/api/v2/project/${slug}/schedule`, {
        name: "nightly",
        timetable,
        "attribution-actor": "current",
        parameters: { branch: "main", deploy: false },
      }),
      201,
    );
    await ok(
      send("PATCH", `/api/v2/schedule/${schedule.id}`, {
        name: "leap-day",
        timetable: { "hours-of-day": [4] },
        "attribution-actor": "system",
      }),
    );
    await ok(send("PATCH", `/api/v2/schedule/${schedule.id}`, { name: "leap-day" }));
    await ok(send("DELETE", `/api/v2/schedule/${schedule.id}`));

    // An SSH key added and removed (the one the SSH rerun below logs in with stays).
    const oldKey = await ok(
      send("POST", "/api/gyre/me/ssh-keys", { public_key: sshPublicKey(), title: "old laptop" }),
      201,
    );
    await ok(send("DELETE", `/api/gyre/me/ssh-keys/${encodeURIComponent(oldKey.fingerprint as string)}`));

    // A new user, by signing in with GitHub (the stand-in): user.create and user.logged_in.
    github.addUser({ login: "octocat", id: 583231, name: "The Octocat", orgs: { acme: "active" } });
    github.signInAs("octocat");
    const begin = await fetch(`${runtime.url}/api/gyre/auth/github?return_to=/`, { redirect: "manual" });
    const state = /gyre_oauth_state=([^;]+)/.exec(begin.headers.get("set-cookie") ?? "")![1]!;
    const granted = await fetch(begin.headers.get("location")!, { redirect: "manual" });
    const callback = new URL(granted.headers.get("location")!);
    const signedIn = await fetch(`${runtime.url}${callback.pathname}${callback.search}`, {
      headers: { cookie: `gyre_oauth_state=${state}`, ...traced },
      redirect: "manual",
    });
    expect(signedIn.status).toBe(302);
    const octocat = (
      (await client.get("/api/gyre/users")).body.items as { id: string; login: string }[]
    ).find((u) => u.login === "octocat")!;
    // An administrator's procedures on that user.
    await ok(send("POST", `/api/gyre/users/${octocat.id}/suspend`, {}));
    await ok(send("POST", `/api/gyre/users/${octocat.id}/activate`, {}));
    await ok(send("PATCH", `/api/gyre/users/${octocat.id}`, { role: "admin" }));
    await ok(send("DELETE", `/api/gyre/users/${octocat.id}`));

    // Signing in with a personal token (a session), then out with the session and its CSRF token.
    const session = await fetch(`${runtime.url}/api/gyre/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json", ...traced },
      body: JSON.stringify({ token: runtime.adminToken }),
    });
    expect(session.status).toBe(200);
    const cookie = /gyre_session=[^;]+/.exec(session.headers.get("set-cookie") ?? "")![0];
    const { csrf_token } = (await session.json()) as { csrf_token: string };
    secrets.push(cookie.slice("gyre_session=".length), csrf_token);
    const out = await fetch(`${runtime.url}/api/gyre/auth/logout`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf_token, ...traced },
    });
    expect(out.status).toBe(200);

    // A job run by the builder (scheduled, start, finish), an approval, and a rerun with SSH.
    const { id: pipelineId } = await trigger(client, slug);
    const held = await waitFor("the approval", async () => {
      const [w] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
      return w?.status === "on_hold" ? w : undefined;
    });
    const jobs = (await client.get(`/api/v2/workflow/${held.id}/job`)).body.items!;
    const build = jobs.find((j) => j.name === "build")!;
    const hold = jobs.find((j) => j.name === "hold")!;
    await ok(send("POST", `/api/v2/workflow/${held.id}/approve/${hold.id}`), 202);
    const rerunKey = await ok(send("POST", "/api/gyre/me/ssh-keys", { public_key: sshPublicKey() }), 201);
    const rerun = await ok(
      send("POST", `/api/v2/workflow/${held.id}/rerun`, { enable_ssh: true, jobs: [build.id] }),
      202,
    );
    // Its job would wait for an SSH session: cancel it (it may have ended already).
    await send("POST", `/api/v2/workflow/${rerun.workflow_id}/cancel`);

    // Every record, through the admin API (the last 24 hours, newest first), once the build
    // and the rerun's job have finished.
    const listed = await waitFor("dispatch's records", async () => {
      const page = await client.get("/api/gyre/audit?limit=1000");
      expect(page.status).toBe(200);
      const items = page.body.items as unknown as AuditRecord[];
      const finished = (workflowId: unknown) =>
        items.some((r) => r.action === "workflow.job.finish" && r.payload.workflow_id === workflowId);
      return finished(held.id) && finished(rerun.workflow_id) ? items : undefined;
    });
    const byTime = [...listed].sort(
      (a, b) => a.occurred_at.localeCompare(b.occurred_at) || a.id.localeCompare(b.id),
    );
    expect(listed).toEqual([...byTime].reverse());
    // Read again later (files, exports, the CLI): the same records, and at most more of the
    // canceled rerun's job, whose execution may still be settling.
    const ids = new Set(listed.map((r) => r.id));
    const same = (got: AuditRecord[], want: AuditRecord[]) => {
      expect(got.filter((r) => ids.has(r.id))).toEqual(want);
      for (const extra of got.filter((r) => !ids.has(r.id)))
        expect({ action: extra.action, workflow: extra.payload.workflow_id }).toEqual({
          action: expect.stringMatching(/^workflow\.job\./),
          workflow: rerun.workflow_id,
        });
    };
    for (const secret of secrets) expect(JSON.stringify(listed)).not.toContain(secret);

    const one = (action: string, targetId?: string) => {
      const found = listed.filter((r) => r.action === action && (!targetId || r.target.id === targetId));
      if (found.length !== 1) throw new Error(`${found.length} ${action} records`);
      return found[0]!;
    };
    const admin = { id: me.id, type: "user", name: me.login };
    const request = { id: expect.any(String), ip_address: "127.0.0.1", client_trace_id: TRACE };
    const orgId = (await client.get(`/api/v2/project/${slug}`)).body.organization_id as string;
    const org = { id: orgId, type: "organization", name: "acme" };
    const project = { id: expect.any(String), type: "project", name: "audited" };
    const shape = {
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      metadata: {},
      version: 1,
      success: true,
    };
    const ctx = { id: contextId, type: "context", name: "deploy" };
    const octo = { id: octocat.id, type: "user", name: "octocat" };
    const expected: Record<string, Partial<AuditRecord>> = {
      "context.create": { actor: admin, target: ctx, scope: org, payload: {} },
      "context.env_var.store": { actor: admin, target: ctx, scope: org, payload: { name: "TOKEN" } },
      "context.env_var.delete": { actor: admin, target: ctx, scope: org, payload: { name: "TOKEN" } },
      "context.delete": { actor: admin, target: ctx, scope: org, payload: {} },
      "project.env_var.create": { actor: admin, target: project, scope: org, payload: { name: "API_KEY" } },
      "project.env_var.delete": { actor: admin, target: project, scope: org, payload: { name: "API_KEY" } },
      "project.settings.update": {
        actor: admin,
        target: project,
        scope: org,
        payload: { settings: { autocancel_builds: true } },
      },
      "settings.update": {
        actor: admin,
        target: { id: "settings", type: "settings", name: "installation" },
        scope: null,
        payload: { before: { session_hours: 24 }, after: { session_hours: 48 } },
      },
      "user.token.create": {
        actor: admin,
        target: admin,
        scope: null,
        payload: { token_id: made.id, label: "laptop", kind: "personal" },
      },
      "user.token.revoke": {
        actor: admin,
        target: admin,
        scope: null,
        payload: { token_id: made.id, label: "laptop", kind: "personal" },
      },
      "project.token.create": {
        actor: admin,
        target: project,
        scope: org,
        payload: { token_id: projectToken.id, label: "status badge", scope: "status" },
      },
      "project.token.delete": {
        actor: admin,
        target: project,
        scope: org,
        payload: { token_id: projectToken.id, label: "status badge", scope: "status" },
      },
      "user.create": { actor: octo, target: octo, scope: null, payload: { provider: "github" } },
      "user.suspend": {
        actor: admin,
        target: octo,
        scope: null,
        payload: { before: "active", after: "suspended" },
      },
      "user.activate": {
        actor: admin,
        target: octo,
        scope: null,
        payload: { before: "suspended", after: "active" },
      },
      "user.role.update": {
        actor: admin,
        target: octo,
        scope: null,
        payload: { before: "normal", after: "admin" },
      },
      "user.delete": { actor: admin, target: octo, scope: null },
      "user.logged_out": { actor: admin, target: admin, scope: null, payload: {} },
      "workflow.job.approve": {
        actor: admin,
        target: { id: hold.id as string, type: "job", name: "hold" },
        scope: org,
        payload: { workflow_id: held.id, project_slug: slug },
      },
      "workflow.job.ssh": {
        actor: admin,
        target: { id: rerun.workflow_id as string, type: "workflow", name: "main" },
        scope: org,
        payload: { rerun_of: held.id, jobs: [build.id] },
      },
    };
    for (const [action, fields] of Object.entries(expected))
      expect({ action, record: one(action) }).toEqual({
        action,
        record: { ...shape, action, payload: expect.anything(), ...fields, request },
      });
    expect(Object.keys(one("user.delete").payload)).toEqual(["removed"]);

    // The projects added and removed (through Gyre's API) and the GitHub connection changed:
    // the token given only by name, the webhook URL without its password, never the secret.
    const record = (action: string, success: boolean, targetName: string) => {
      const found = listed.filter(
        (r) => r.action === action && r.success === success && r.target.name === targetName,
      );
      if (found.length !== 1) throw new Error(`${found.length} ${action} records (success: ${success})`);
      return found[0]!;
    };
    const ofConnected = (fields: Partial<AuditRecord>) => ({
      ...shape,
      actor: admin,
      target: { id: connected.id, type: "project", name: "connected" },
      scope: org,
      request,
      ...fields,
    });
    const addedFields = {
      project_slug: connectedSlug,
      repo_url: connectedRepo.path,
      default_branch: "main",
    };
    const refusedCreate = record("project.create", false, "connected");
    expect(refusedCreate).toEqual(
      ofConnected({
        action: "project.create",
        target: { id: expect.any(String), type: "project", name: "connected" },
        success: false,
        payload: {
          ...addedFields,
          github: { given: ["api_url", "token"], api_url: github.url },
          error: refusedAdd.message,
        },
      }),
    );
    expect(refusedCreate.target.id).not.toBe(connected.id);
    const connectedGithub = connected.github as Record<string, unknown>;
    expect(record("project.create", true, "connected")).toEqual(
      ofConnected({
        action: "project.create",
        payload: {
          ...addedFields,
          settings: { build_fork_prs: true },
          github: {
            given: ["api_url", "token"],
            api_url: github.url,
            webhook_url: `${runtime.url}/webhooks/github`,
            hook_id: connectedGithub.hook_id,
            deploy_key_id: connectedGithub.deploy_key_id,
            deploy_key_fingerprint: connectedGithub.deploy_key_fingerprint,
          },
        },
      }),
    );
    const reconnectedGithub = reconnected.github as Record<string, unknown>;
    expect(record("project.github.update", false, "connected")).toEqual(
      ofConnected({
        action: "project.github.update",
        success: false,
        payload: {
          github: { given: ["webhook_url"], webhook_url: "https://refused.example.com/webhooks/github" },
          error: refusedHook.message,
        },
      }),
    );
    expect(record("project.github.update", true, "connected")).toEqual(
      ofConnected({
        action: "project.github.update",
        payload: {
          github: {
            given: ["token", "webhook_url"],
            webhook_url: "https://ci.example.com/webhooks/github",
            hook_id: reconnectedGithub.hook_id,
            deploy_key_id: reconnectedGithub.deploy_key_id,
            deploy_key_fingerprint: reconnectedGithub.deploy_key_fingerprint,
          },
        },
      }),
    );
    expect(record("project.delete", false, "connected")).toEqual(
      ofConnected({
        action: "project.delete",
        success: false,
        payload: {
          project_slug: connectedSlug,
          keep_github: false,
          error: (refusedRemoval.message as string).replace(/ Remove them on GitHub, .*$/, ""),
        },
      }),
    );
    expect(refusedRemoval.message).toMatch(/^GitHub refused to remove the webhook \d+ of acme\/connected: /);
    expect(record("project.delete", true, "connected")).toEqual(
      ofConnected({
        action: "project.delete",
        payload: {
          project_slug: connectedSlug,
          keep_github: false,
          removed: removedProject.removed,
          github: removedProject.github,
        },
      }),
    );
    expect(removedProject.github).toEqual({ hook_removed: true, deploy_key_removed: true });
    // The project of this file, added before (no trace id then), has its record too.
    expect(
      one("project.create", (await client.get(`/api/v2/project/${slug}`)).body.id as string),
    ).toMatchObject({
      actor: admin,
      target: project,
      scope: org,
      payload: { project_slug: slug, default_branch: "main" },
    });

    // The schedule: the schedule as target; what changed, before and after; what was deleted.
    const nightly = { id: schedule.id as string, type: "schedule" };
    const scheduled = {
      description: null,
      parameters: { branch: "main", deploy: false },
    };
    expect(one("schedule.create")).toEqual({
      ...shape,
      action: "schedule.create",
      actor: admin,
      target: { ...nightly, name: "nightly" },
      scope: org,
      payload: {
        project_slug: slug,
        name: "nightly",
        ...scheduled,
        timetable,
        attribution_actor: "current",
        runs_as: me.login,
      },
      request,
    });
    expect(one("schedule.update")).toEqual({
      ...shape,
      action: "schedule.update",
      actor: admin,
      target: { ...nightly, name: "leap-day" },
      scope: org,
      payload: {
        project_slug: slug,
        before: { name: "nightly", timetable, attribution_actor: "current", runs_as: me.login },
        after: {
          name: "leap-day",
          timetable: { ...timetable, "hours-of-day": [4] },
          attribution_actor: "system",
          runs_as: "scheduled-pipelines",
        },
      },
      request,
    });
    expect(one("schedule.delete")).toEqual({
      ...shape,
      action: "schedule.delete",
      actor: admin,
      target: { ...nightly, name: "leap-day" },
      scope: org,
      payload: {
        project_slug: slug,
        name: "leap-day",
        ...scheduled,
        timetable: { ...timetable, "hours-of-day": [4] },
        attribution_actor: "system",
        runs_as: "scheduled-pipelines",
      },
      request,
    });

    // The SSH keys: the user as target, the key by fingerprint and title, never the key itself.
    const keyRecords = (action: string) =>
      listed.filter((r) => r.action === action).sort((a, b) => a.occurred_at.localeCompare(b.occurred_at));
    const keyRecord = (action: string, key: Record<string, unknown>) => ({
      ...shape,
      action,
      actor: admin,
      target: admin,
      scope: null,
      payload: { fingerprint: key.fingerprint, title: key.title },
      request,
    });
    expect(keyRecords("user.ssh_key.create")).toEqual([
      keyRecord("user.ssh_key.create", oldKey),
      keyRecord("user.ssh_key.create", rerunKey),
    ]);
    expect(keyRecords("user.ssh_key.delete")).toEqual([keyRecord("user.ssh_key.delete", oldKey)]);
    expect(oldKey.title).toBe("old laptop");
    for (const key of [oldKey, rerunKey])
      expect(JSON.stringify(listed)).not.toContain((key.public_key as string).split(" ")[1]);
    // Two sign-ins: GitHub's, of the new user, and the personal token's, of the administrator.
    const signIns = listed.filter((r) => r.action === "user.logged_in");
    expect(signIns.map((r) => [r.actor.name, r.target.name, r.payload, r.request?.client_trace_id])).toEqual(
      expect.arrayContaining([
        ["octocat", "octocat", { method: "github" }, TRACE],
        [me.login, me.login, { method: "token" }, TRACE],
      ]),
    );
    expect(signIns).toHaveLength(2);
    // Dispatch's own records: the system as actor, the job as target, no request.
    const system = { id: "00000000-0000-0000-0000-000000000000", type: "system", name: "gyre" };
    for (const action of ["workflow.job.scheduled", "workflow.job.start", "workflow.job.finish"])
      expect(one(action, build.id as string)).toEqual({
        ...shape,
        action,
        actor: system,
        target: { id: build.id, type: "job", name: "build" },
        scope: org,
        payload: {
          workflow_id: held.id,
          job_number: build.job_number,
          attempt: expect.any(Number),
          status: action === "workflow.job.finish" ? "success" : expect.any(String),
          project_slug: slug,
        },
        request: null,
      });
    // One request, one id: only GitHub's callback made two records (the new user, the sign-in).
    const byRequest = new Map<string, string[]>();
    for (const r of byTime.filter((r) => r.request))
      byRequest.set(r.request!.id, [...(byRequest.get(r.request!.id) ?? []), r.action]);
    expect([...byRequest.values()].filter((actions) => actions.length > 1)).toEqual([
      ["user.create", "user.logged_in"],
    ]);

    // The filters, through the API and the CLI.
    const only = async (query: string) =>
      ((await client.get(`/api/gyre/audit?${query}`)).body.items as unknown as AuditRecord[]).map(
        (r) => r.action,
      );
    expect(new Set(await only("action=user."))).toEqual(
      new Set(listed.filter((r) => r.action.startsWith("user.")).map((r) => r.action)),
    );
    expect(await only("action=context.create")).toEqual(["context.create"]);
    expect(await only(`target=${contextId}&action=context.`)).toEqual([
      "context.delete",
      "context.env_var.delete",
      "context.env_var.store",
      "context.create",
    ]);
    expect((await only("actor=OCTOCAT")).sort()).toEqual(["user.create", "user.logged_in"]);
    expect(await client.get("/api/gyre/audit?from=yesterday")).toEqual({
      status: 400,
      body: { message: expect.stringMatching(/^Invalid query: from: an ISO 8601 time/) },
    });
    expect((await client.get("/api/gyre/audit?action=User%20Create")).body.message).toMatch(/action: /);
    // An action Gyre never records is a 400 that lists the ones it does, on both routes.
    for (const path of [
      "/api/gyre/audit?action=user.created",
      "/api/gyre/audit/export?action=job.&format=json",
    ]) {
      const unknown = await client.get(path);
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(
        /^Invalid query: action: not an action Gyre records, nor a prefix of one: give one of context\.create, /,
      );
      for (const known of ["user.logged_in", "workflow.job.delete", "installation.restore"])
        expect(unknown.body.message).toContain(`${known},`);
    }
    const cli = await gyre("audit", "list", "--limit", "1000", "--json");
    expect(cli.code).toBe(0);
    same(JSON.parse(cli.out.join("\n")) as AuditRecord[], listed);
    const table = await gyre("audit", "list", "--action", "user.logged_in", "--actor", me.login);
    expect(table.out[0]).toMatch(/^OCCURRED AT\s+ACTION\s+ACTOR\s+TARGET\s+SUCCESS$/);
    expect(table.out.slice(1)).toEqual([
      expect.stringMatching(new RegExp(`user.logged_in\\s+user ${me.login}\\s+user ${me.login}\\s+true$`)),
    ]);

    // The hourly delivery, as a pass after the hour ended: the hour's file holds each record.
    const hours = new Set(listed.map((r) => r.occurred_at.slice(0, 13)));
    const passAt = Date.now() + 3600_000 + GRACE_MS;
    const pass = await deliverAuditFiles(runtime.gyre, { now: passAt });
    expect(pass.files.map((f) => f.hour)).toEqual(expect.arrayContaining([...hours]));
    expect(pass.through).toBe(new Date(passAt - GRACE_MS - 3600_000).toISOString().slice(0, 13));
    const delivered: AuditRecord[] = [];
    for (const hour of hours) {
      const text = await readText(runtime.gyre, AuditObjects.hourFile(hour));
      expect(AuditObjects.hourFile(hour)).toBe(
        `audit-logs/audit_log/v1/${hour.slice(0, 4)}/${hour.slice(5, 7)}/${hour.slice(8, 10)}/${hour.slice(11, 13)}/${hour}.json`,
      );
      delivered.push(
        ...text!
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line) as AuditRecord),
      );
    }
    same(delivered, byTime);

    // The CSV export, from the API and from the CLI, reads back to the records.
    const to = new Date(Date.now() + 60_000).toISOString();
    const csv = await send("GET", `/api/gyre/audit/export?from=${started}&to=${to}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    const [header, ...rows] = parseCsv(await csv.text());
    expect(header).toEqual([
      "id",
      "action",
      "actor",
      "target",
      "payload",
      "occurred_at",
      "metadata",
      "version",
      "scope",
      "success",
      "request",
    ]);
    same(
      rows.map((row) => rowRecord(header!, row)),
      byTime,
    );
    const file = join(tempDir("audit-export"), "audit.csv");
    const exported = await gyre("audit", "export", "--from", started, "--to", to, "--csv", "--out", file);
    expect(exported.out).toEqual([
      expect.stringMatching(/^Exported \d+ audit record\(s\) from .* \(CSV\)\.$/),
    ]);
    const [cliHeader, ...cliRows] = parseCsv(readFileSync(file, "utf8"));
    expect(cliHeader).toEqual(header);
    same(
      cliRows.map((row) => rowRecord(header!, row)),
      byTime,
    );
  });
});
