/** `gyre project add`, `gyre trigger`, `gyre status`, `gyre logs`: all through the API. */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Client } from "./client.ts";

type Print = (line: string) => void;

interface ProjectJson {
  slug: string;
  name: string;
  vcs_info: { vcs_url: string; default_branch: string };
}
interface PipelineJson {
  id: string;
  number: number;
  state: string;
  errors: { type: string; message: string }[];
  created_at: string;
  vcs: { branch?: string; tag?: string; revision: string };
}
interface WorkflowJson {
  id: string;
  name: string;
  status: string;
  created_at: string;
  stopped_at: string | null;
}
interface WorkflowJobJson {
  id: string;
  name: string;
  status: string;
  job_number?: number;
  started_at: string | null;
  stopped_at: string | null;
}

const page = <T>(p: { items: T[] }) => p.items;

export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from) return "";
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

export async function projectAdd(
  client: Client,
  source: string,
  options: { slug?: string; defaultBranch?: string; json?: boolean },
  print: Print,
): Promise<ProjectJson & { webhook_secret: string }> {
  // A local path is stored absolute, so jobs can clone it from anywhere.
  const repoUrl =
    /^[a-z][a-z0-9+.-]*:\/\/|^[^/]+@[^:]+:/.test(source) || !existsSync(source) ? source : resolve(source);
  const project = await client.post<ProjectJson & { webhook_secret: string }>("/api/gyre/projects", {
    repo_url: repoUrl,
    slug: options.slug,
    default_branch: options.defaultBranch,
  });
  if (options.json) print(JSON.stringify(project, null, 2));
  else {
    print(`Added project ${project.slug} (${project.vcs_info.vcs_url})`);
    print(`Webhook secret: ${project.webhook_secret}`);
    print(
      `Point a GitHub push webhook at ${client.url}/webhooks/github (content type application/json) with this secret.`,
    );
  }
  return project;
}

/**
 * Triggers a pipeline. The API answers at once (`pending`); this waits (up to `waitMs`) for the
 * intake to read and compile the config, so an invalid config shows up straight away as
 * `errored`. One Idempotency-Key per invocation: the client's own retries make one pipeline.
 */
export async function trigger(
  client: Client,
  slug: string,
  options: { branch?: string; tag?: string; waitMs?: number },
  print: Print,
) {
  const created = await client.post<{ id: string; number: number; state: string }>(
    `/api/v2/project/${slug}/pipeline`,
    {
      ...(options.branch ? { branch: options.branch } : {}),
      ...(options.tag ? { tag: options.tag } : {}),
    },
    { "idempotency-key": randomUUID() },
  );
  let state = created.state;
  let errors: { message: string }[] = [];
  for (
    const deadline = Date.now() + (options.waitMs ?? 30_000);
    state === "pending" && Date.now() < deadline;
  ) {
    await new Promise((r) => setTimeout(r, 100));
    const pipeline = await client.get<{ state: string; errors: { message: string }[] }>(
      `/api/v2/pipeline/${created.id}`,
    );
    state = pipeline.state;
    errors = pipeline.errors;
  }
  print(`Pipeline #${created.number} ${state} (${created.id})`);
  for (const error of errors) print(`  error: ${error.message}`);
  return { ...created, state };
}

export async function status(
  client: Client,
  slug: string | undefined,
  print: Print,
  limit = 5,
): Promise<void> {
  const slugs = slug
    ? [slug]
    : page(await client.get<{ items: ProjectJson[] }>("/api/gyre/projects")).map((p) => p.slug);
  if (slugs.length === 0) print('No projects yet: add one with "gyre project add <git url or path>".');
  for (const s of slugs) {
    print(s);
    const pipelines = page(
      await client.get<{ items: PipelineJson[] }>(`/api/v2/project/${s}/pipeline`),
    ).slice(0, limit);
    if (pipelines.length === 0) print("  no pipelines yet");
    for (const p of pipelines) {
      const ref = p.vcs.tag ? `tag ${p.vcs.tag}` : (p.vcs.branch ?? "");
      print(`  pipeline #${p.number} ${p.state} ${ref} ${p.vcs.revision.slice(0, 7)}`);
      for (const e of p.errors) print(`    error (${e.type}): ${e.message}`);
      const workflows = page(
        await client.get<{ items: WorkflowJson[] }>(`/api/v2/pipeline/${p.id}/workflow`),
      );
      for (const w of workflows) {
        // Its id: what `gyre workflow approve|cancel|rerun` take.
        print(`    workflow ${w.name}: ${w.status} ${duration(w.created_at, w.stopped_at)} (${w.id})`);
        const jobs = page(await client.get<{ items: WorkflowJobJson[] }>(`/api/v2/workflow/${w.id}/job`));
        for (const j of jobs) {
          const number = j.job_number !== undefined ? `#${j.job_number} ` : "";
          print(
            `      job ${number}${j.name}: ${j.status} ${duration(j.started_at, j.stopped_at)}`.trimEnd(),
          );
        }
      }
    }
  }
}

interface BuildJson {
  build_num: number;
  status: string;
  steps: { name: string; actions: { index: number; status: string; output_url: string }[] }[];
}

/** `<vcs>/<org>/<repo>/<number>`, or a number with the project given separately. */
export function parseJobRef(ref: string, project?: string): { slug: string; number: number } {
  const m = /^(.+)\/(\d+)$/.exec(ref);
  if (m) return { slug: m[1]!, number: Number(m[2]) };
  if (/^\d+$/.test(ref) && project) return { slug: project, number: Number(ref) };
  throw new Error(
    `Name a job as <vcs>/<org>/<repo>/<number> (e.g. gh/acme/api/12), or give --project with a number.`,
  );
}

export async function logs(
  client: Client,
  ref: string,
  project: string | undefined,
  print: Print,
): Promise<void> {
  const { slug, number } = parseJobRef(ref, project);
  const build = await client.get<BuildJson>(`/api/v1.1/project/${slug}/${number}`);
  for (const step of build.steps) {
    for (const action of step.actions) {
      print(`==> ${step.name}${step.actions.length > 1 ? ` [${action.index}]` : ""} (${action.status})`);
      const path = new URL(action.output_url).pathname;
      const output = await client.get<{ message: string }[]>(path);
      const text = output.map((o) => o.message).join("");
      if (text) print(text.replace(/\n$/, ""));
    }
  }
  print(`Job ${number}: ${build.status}`);
}
