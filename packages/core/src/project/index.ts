/**
 * Projects: a repository Gyre builds, addressed by a CircleCI slug (`gh/org/repo`). A project
 * holds its clone URL, its webhook secret (sealed at rest) and the counters that number its
 * pipelines and jobs.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { inLane, sharedFreshRun } from "../lane.ts";
import { z } from "../protocol/schema.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import { getItem, putNew, queryAll, tryUpdate, updateItem } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

export const ProjectSchema = z.object({
  id: z.string(),
  slug: z.string(),
  /** `github` for gh/ slugs, `bitbucket` for bb/, `local` otherwise. */
  vcsType: z.string(),
  org: z.string(),
  name: z.string(),
  /** What `git clone` is given: an https/ssh URL or a local path. */
  repoUrl: z.string(),
  defaultBranch: z.string(),
  createdAt: z.string(),
  /** Job numbers an API trigger reserves with the pipeline's number (the last pipeline's count). */
  jobsPerPipeline: z.number().int().optional(),
});
export type Project = z.infer<typeof ProjectSchema>;

/** A project as the table holds it (`Keys.project`, listed under `Index.projects`). */
export const ProjectItemSchema = ProjectSchema.extend({
  /** Sealed at rest, bound to the project (`webhookAad`). */
  webhookSecret: z.string(),
  pipelineCounter: z.number().int(),
  jobCounter: z.number().int(),
});
type ProjectItem = z.infer<typeof ProjectItemSchema>;

/** What reserving numbers reads back: the counters after the increment. */
const CountersSchema = ProjectItemSchema.pick({ pipelineCounter: true, jobCounter: true });

const SLUG = /^(gh|github|bb|bitbucket|local)\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/;
const VCS: Record<string, string> = {
  gh: "github",
  github: "github",
  bb: "bitbucket",
  bitbucket: "bitbucket",
  local: "local",
};
const SHORT: Record<string, string> = { github: "gh", bitbucket: "bb", local: "local" };

/** Parses and normalises a slug (`github/o/r` → `gh/o/r`); throws bad_request when malformed. */
export function parseSlug(slug: string): { slug: string; vcsType: string; org: string; name: string } {
  const m = SLUG.exec(slug);
  if (!m) throw badRequest(`Invalid project slug "${slug}": expected <vcs>/<org>/<repo>, e.g. gh/acme/api.`);
  const vcsType = VCS[m[1]!]!;
  return { slug: `${SHORT[vcsType]}/${m[2]}/${m[3]}`, vcsType, org: m[2]!, name: m[3]! };
}

/** The slug a repository URL implies: GitHub URLs give gh/org/repo, local paths local/<dir>/<repo>. */
export function slugForRepo(repoUrl: string): string {
  const github = /github\.com[:/]([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(repoUrl);
  if (github) return `gh/${github[1]}/${github[2]}`;
  const parts = repoUrl
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .split(/[\\/]/)
    .filter(Boolean);
  const name = parts.at(-1) ?? "repo";
  const org = parts.at(-2) ?? "local";
  return `local/${org.replace(/[^A-Za-z0-9_.-]/g, "-")}/${name.replace(/[^A-Za-z0-9_.-]/g, "-")}`;
}

const webhookAad = (slug: string) => `project:${slug}:webhook-secret`;

export async function createProject(
  gyre: Gyre,
  input: { repoUrl: string; slug?: string; defaultBranch?: string },
): Promise<{ project: Project; webhookSecret: string }> {
  if (!input.repoUrl.trim()) throw badRequest("repo_url is required: a git URL or a local path.");
  const { slug, vcsType, org, name } = parseSlug(input.slug ?? slugForRepo(input.repoUrl));
  const webhookSecret = randomBytes(24).toString("hex");
  const item: ProjectItem = {
    id: randomUUID(),
    slug,
    vcsType,
    org,
    name,
    repoUrl: input.repoUrl,
    defaultBranch: input.defaultBranch ?? "main",
    createdAt: new Date(gyre.now()).toISOString(),
    webhookSecret: await encryptSecret(gyre.keys, webhookSecret, webhookAad(slug)),
    pipelineCounter: 0,
    jobCounter: 0,
  };
  if (!(await putNew(gyre, { ...Keys.project(slug), gsi1pk: Index.projects(), gsi1sk: slug, ...item }))) {
    throw conflict(`Project ${slug} already exists.`);
  }
  return { project: toProject(item), webhookSecret };
}

function toProject(item: ProjectItem): Project {
  const { id, slug, vcsType, org, name, repoUrl, defaultBranch, createdAt, jobsPerPipeline } = item;
  return { id, slug, vcsType, org, name, repoUrl, defaultBranch, createdAt, jobsPerPipeline };
}

/**
 * Read eventually consistent: a project's settings change rarely, and its counters are read
 * only through reserveNumbers' update (`jobsPerPipeline` is a hint: a stale one costs a top-up).
 * Reads of one project that arrive while one is in flight share the next read (lane.ts).
 */
const readProject = (gyre: Gyre, slug: string) =>
  sharedFreshRun(gyre, `project\u0000${slug}`, () =>
    getItem(gyre, Keys.project(slug), ProjectItemSchema, "project", { consistent: false }),
  );

export async function findProject(gyre: Gyre, slug: string): Promise<Project | undefined> {
  const item = await readProject(gyre, slug);
  return item && toProject(item);
}

export async function getProject(gyre: Gyre, rawSlug: string): Promise<Project> {
  const { slug } = parseSlug(rawSlug);
  const project = await findProject(gyre, slug);
  if (!project) throw notFound(`Project ${slug} not found.`);
  return project;
}

/** The project with its webhook secret in clear, for signature checks only. */
export async function getWebhookSecret(
  gyre: Gyre,
  slug: string,
): Promise<{ project: Project; secret: string } | undefined> {
  const item = await readProject(gyre, slug);
  if (!item) return undefined;
  return {
    project: toProject(item),
    secret: await decryptSecret(gyre.keys, item.webhookSecret, webhookAad(slug)),
  };
}

export async function listProjects(gyre: Gyre): Promise<Project[]> {
  const projects: Project[] = [];
  const spec = { index: "gsi1", partition: Index.projects() } as const;
  for await (const item of queryAll(gyre, spec, ProjectItemSchema, "project")) projects.push(toProject(item));
  return projects;
}

/**
 * Reserves pipeline and job numbers in one conditional update. A pipeline triggered through
 * the API reserves its number before its config is read, together with a block of job numbers
 * as large as the project's last pipeline needed (`jobsPerPipeline`), so the usual pipeline
 * costs one counter write; the intake reserves more only when the config grew. A crash after
 * this leaves a gap in the numbering, as CircleCI's numbering can have.
 */
export async function reserveNumbers(
  gyre: Gyre,
  slug: string,
  jobs: number,
  /** 0 when the jobs join an existing pipeline (a continuation, or a block that was too small). */
  pipelines = 1,
  /** Remembered as the block the next API trigger reserves. */
  jobsPerPipeline?: number,
): Promise<{ pipelineNumber: number; firstJobNumber: number }> {
  // Reservations of one project that arrive while one is in flight are one update: a burst of
  // triggers does not queue on the counter item. Numbers are handed out in arrival order.
  const numbers = await inLane(
    gyre,
    `numbers\u0000${slug}`,
    { jobs, pipelines, jobsPerPipeline },
    (requests) => reserveBatch(gyre, slug, requests),
  );
  if (!numbers) throw notFound(`Project ${slug} not found.`);
  return numbers;
}

interface Reservation {
  jobs: number;
  pipelines: number;
  jobsPerPipeline?: number;
}

async function reserveBatch(
  gyre: Gyre,
  slug: string,
  requests: Reservation[],
): Promise<({ pipelineNumber: number; firstJobNumber: number } | undefined)[]> {
  const sum = (f: (r: Reservation) => number) => requests.reduce((n, r) => n + f(r), 0);
  const pipelines = sum((r) => r.pipelines);
  const jobs = sum((r) => r.jobs);
  // The last request's hint wins, as it would have with one update each.
  const jobsPerPipeline = requests.reduce<number | undefined>(
    (last, r) => r.jobsPerPipeline ?? last,
    undefined,
  );
  const attrs = await updateItem(
    gyre,
    Keys.project(slug),
    {
      add: { pipelineCounter: pipelines, jobCounter: jobs },
      ...(jobsPerPipeline !== undefined ? { set: { jobsPerPipeline } } : {}),
      when: [{ path: "pk", exists: true }],
    },
    CountersSchema,
    "project counters",
  );
  if (!attrs) return requests.map(() => undefined);
  let pipelineCounter = attrs.pipelineCounter - pipelines;
  let jobCounter = attrs.jobCounter - jobs;
  return requests.map((r) => {
    pipelineCounter += r.pipelines;
    const firstJobNumber = jobCounter + 1;
    jobCounter += r.jobs;
    return { pipelineNumber: pipelineCounter, firstJobNumber };
  });
}

/** Remembers how many job numbers the next API trigger of this project reserves. */
export async function rememberJobsPerPipeline(
  gyre: Gyre,
  slug: string,
  jobsPerPipeline: number,
): Promise<void> {
  await tryUpdate(gyre, Keys.project(slug), {
    set: { jobsPerPipeline },
    when: [{ path: "pk", exists: true }],
  });
}

/** CircleCI API v2 `Project` shape. */
export function projectJson(p: Project) {
  const provider = p.vcsType === "github" ? "GitHub" : p.vcsType === "bitbucket" ? "Bitbucket" : "Local";
  return {
    slug: p.slug,
    name: p.name,
    id: p.id,
    organization_name: p.org,
    organization_slug: p.slug.split("/").slice(0, 2).join("/"),
    organization_id: p.org,
    vcs_info: { vcs_url: p.repoUrl, provider, default_branch: p.defaultBranch },
  };
}
