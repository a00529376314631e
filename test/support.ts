/** Shared helpers for end-to-end tests: real git repositories, signed webhooks, waiting. */
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CORPUS } from "./corpus.ts";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `gyre-${prefix}-`));
}

/** A git repository with `files` committed on `main`; returns its path and head commit. */
export function gitRepo(files: Record<string, string>): {
  path: string;
  commit: (files: Record<string, string>) => string;
  head: string;
} {
  const path = tempDir("repo");
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@localhost", ...args], { cwd: path })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  const commit = (more: Record<string, string>) => {
    for (const [name, content] of Object.entries(more)) {
      mkdirSync(dirname(join(path, name)), { recursive: true });
      writeFileSync(join(path, name), content);
    }
    git("add", "-A");
    git("commit", "-q", "-m", `Commit ${Object.keys(more).join(", ")}`);
    return git("rev-parse", "HEAD");
  };
  const head = commit(files);
  return { path, commit, head };
}

/** The corpus push payload, aimed at `fullName` and `commit` on `branch`. */
export function pushPayload(fullName: string, commit: string, branch = "main"): string {
  const payload = JSON.parse(readFileSync(join(CORPUS, "github-webhooks/push.branch.json"), "utf8"));
  payload.ref = `refs/heads/${branch}`;
  payload.after = commit;
  payload.repository.full_name = fullName;
  payload.repository.name = fullName.split("/")[1];
  if (payload.head_commit) payload.head_commit.id = commit;
  return JSON.stringify(payload);
}

export const sign = (secret: string, body: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A tiny API client for tests. */
export function api(url: string, token: string) {
  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method,
      headers: {
        "circle-token": token,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    let response: Response;
    try {
      response = await send(method, path, body, headers);
    } catch (error) {
      // A kept-alive connection the server closed while the test's event loop was blocked (a
      // synchronous helper ran for longer than the server's keep-alive timeout) is reset when
      // reused; an idempotent read is sent again on a new one, as HTTP clients do.
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (method !== "GET" || !["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(code ?? "")) throw error;
      response = await send(method, path, body, headers);
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return {
      status: response.status,
      body: json as Record<string, unknown> & { items?: Record<string, unknown>[] },
    };
  };
  return {
    get: (path: string) => call("GET", path),
    post: (path: string, body?: unknown, headers?: Record<string, string>) =>
      call("POST", path, body, headers),
  };
}

/**
 * A builder node of its own, registered as an agent does: the local runtime's join token (its
 * `builder-token`) buys a node id and a credential for every later `/agent/v1` call.
 */
export async function registerTestNode(url: string, dataDir: string, name = "test-node") {
  const join_ = api(url, readFileSync(join(dataDir, "builder-token"), "utf8").trim());
  const answer = await join_.post("/agent/v1/register", { name });
  if (answer.status !== 201) throw new Error(`register: ${answer.status} ${JSON.stringify(answer.body)}`);
  const { node_id, credential } = answer.body as { node_id: string; credential: string };
  return { nodeId: node_id, credential, client: api(url, credential) };
}

export interface StepOutput {
  name: string;
  status: string;
  output: string;
}

/** Each step of allocation `index` of a job, with its whole output, read through the v1.1 API. */
export async function stepOutputs(
  client: ReturnType<typeof api>,
  slug: string,
  jobNumber: number,
  index = 0,
): Promise<StepOutput[]> {
  const answer = await client.get(`/api/v1.1/project/${slug}/${jobNumber}`);
  if (answer.status !== 200)
    throw new Error(`GET build ${slug}/${jobNumber}: ${answer.status} ${JSON.stringify(answer.body)}`);
  const build = answer.body as {
    steps: { name: string; actions: { index: number; status: string; output_url: string }[] }[];
  };
  return Promise.all(
    build.steps.map(async (step) => {
      const action = step.actions.find((a) => a.index === index) ?? step.actions[0]!;
      const out = await client.get(new URL(action.output_url).pathname);
      const output = (out.body as unknown as { message: string }[]).map((m) => m.message).join("");
      return { name: step.name, status: action.status, output };
    }),
  );
}

/** Each step's output of allocation `index` of a job, by step name. */
export async function outputsByName(
  client: ReturnType<typeof api>,
  slug: string,
  jobNumber: number,
  index = 0,
): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await stepOutputs(client, slug, jobNumber, index)).map((s) => [s.name, s.output]),
  );
}

/**
 * Triggers a pipeline through the API (answered at once, `pending`) and waits for the intake
 * to read and compile its config (any state but `pending`); the pipeline as the API shows it.
 */
export async function trigger(
  client: ReturnType<typeof api>,
  slug: string,
  body: Record<string, unknown> = { branch: "main" },
) {
  const created = await client.post(`/api/v2/project/${slug}/pipeline`, body);
  if (created.status !== 201)
    throw new Error(`Trigger answered ${created.status}: ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;
  const pipeline = await waitFor("the intake to compile the pipeline", async () => {
    const p = (await client.get(`/api/v2/pipeline/${id}`)).body;
    return p.state === "pending" ? undefined : p;
  });
  return { id, number: created.body.number as number, created: created.body, pipeline };
}

/**
 * Triggers a pipeline on `branch` through the API, checks it was created without errors, and
 * waits until its first workflow has settled (neither running, failing nor on hold).
 */
export async function runPipeline(client: ReturnType<typeof api>, slug: string, branch = "main") {
  const { id, pipeline } = await trigger(client, slug, { branch });
  if ((pipeline.errors as unknown[]).length > 0)
    throw new Error(`Pipeline errored: ${JSON.stringify(pipeline.errors)}`);
  return waitFor("the workflow to settle", async () => {
    const [workflow] = (await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    if (!workflow || ["running", "failing", "on_hold"].includes(workflow.status as string)) return undefined;
    const jobs = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
    // A job behind a failure reads `blocked` for a moment after the workflow ended, until
    // Finalize marks it `not_run`.
    if (jobs.some((j) => ["blocked", "queued", "running"].includes(j.status as string))) return undefined;
    return {
      pipelineId: id,
      workflow,
      jobs,
      byName: Object.fromEntries(jobs.map((j) => [j.name as string, j])),
    };
  });
}

/** A TCP port free on 127.0.0.1 right now (for a server that cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
