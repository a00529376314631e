/**
 * Projects: a repository Gyre builds, addressed by a CircleCI slug (`gh/org/repo`). A project
 * holds its clone URL, its webhook secret (sealed at rest), its organization's UUID
 * (organization.ts) and the counters that number its pipelines and jobs.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { inLane, sharedFreshRun } from "../lane.ts";
import { z } from "../protocol/schema.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import {
  deleteItems,
  getItem,
  type Key,
  putNew,
  queryAll,
  queryRaw,
  tryUpdate,
  updateItem,
} from "../store/index.ts";
import { Index, Keys, Partitions } from "../table.ts";
import { type Organization, organizationOf, orgSlugOf } from "./organization.ts";

import {
  type GithubInfo,
  githubInfo,
  type ProjectSettings,
  type StoredGithub,
  StoredGithubSchema,
  type StoredSettings,
  StoredSettingsSchema,
  settingsOf,
} from "./settings.ts";

export * from "./organization.ts";
export * from "./settings.ts";

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
  /**
   * Its organization's UUID (organization.ts). Recorded with the project since organizations
   * have ids; projects added before get it from the organization's record when read.
   */
  organizationId: z.string().optional(),
});
export type Project = z.infer<typeof ProjectSchema>;
/**
 * A project as reads of the table answer it: its organization's UUID is always known, so are
 * its settings (settings.ts, defaults applied) and, for a GitHub project, how it reaches GitHub.
 */
export type StoredProject = Project & {
  organizationId: string;
  settings: ProjectSettings;
  github?: GithubInfo;
};

/** A project as the table holds it (`Keys.project`, listed under `Index.projects`). */
export const ProjectItemSchema = ProjectSchema.extend({
  /** Sealed at rest, bound to the project (`webhookAad`). */
  webhookSecret: z.string(),
  pipelineCounter: z.number().int(),
  jobCounter: z.number().int(),
  settings: StoredSettingsSchema.optional(),
  github: StoredGithubSchema.optional(),
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
  // A part `.` or `..` would be resolved away by every URL that names the project.
  if (!m || [m[2], m[3]].some((part) => part === "." || part === ".."))
    throw badRequest(`Invalid project slug "${slug}": expected <vcs>/<org>/<repo>, e.g. gh/acme/api.`);
  const vcsType = VCS[m[1]!]!;
  return { slug: `${SHORT[vcsType]}/${m[2]}/${m[3]}`, vcsType, org: m[2]!, name: m[3]! };
}

/** Normalises an organization slug (`github/acme` → `gh/acme`); bad_request when malformed. */
export function parseOrgSlug(orgSlug: string): string {
  const [vcs, org, ...rest] = orgSlug.split("/");
  if (rest.length > 0 || !vcs || !org || !SLUG.test(`${vcs}/${org}/_`))
    throw badRequest(`Invalid org-slug "${orgSlug.slice(0, 120)}": expected <vcs>/<org>, e.g. gh/acme.`);
  return orgSlugOf(parseSlug(`${vcs}/${org}/_`).slug);
}

/** The slug a repository URL implies: GitHub URLs give gh/org/repo, local paths local/<dir>/<repo>. */
export function slugForRepo(repoUrl: string): string {
  const github = /github\.com[:/]([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(repoUrl);
  if (github) return `gh/${github[1]}/${github[2]}`;
  const parts = repoUrl
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .split(/[\\/]/)
    .filter((part) => part !== "" && part !== "." && part !== "..");
  const name = parts.at(-1) ?? "repo";
  const org = parts.at(-2) ?? "local";
  return `local/${org.replace(/[^A-Za-z0-9_.-]/g, "-")}/${name.replace(/[^A-Za-z0-9_.-]/g, "-")}`;
}

const webhookAad = (slug: string) => `project:${slug}:webhook-secret`;
/** What the project's GitHub token is sealed to (project/github.ts opens it). */
export const githubTokenAad = (slug: string) => `project:${slug}:github-token`;

/** How a project reaches GitHub, as given when it is added or changed (the token in clear). */
export interface GithubInput {
  token?: string;
  apiUrl?: string;
  caPem?: string;
  webhookUrl?: string;
}

/** The GitHub connection as the item keeps it: the token sealed to the project. */
export async function sealGithub(gyre: Gyre, slug: string, input: GithubInput): Promise<StoredGithub> {
  return Object.fromEntries(
    Object.entries({
      apiUrl: input.apiUrl?.replace(/\/+$/, ""),
      token:
        input.token === undefined
          ? undefined
          : await encryptSecret(gyre.keys, input.token, githubTokenAad(slug)),
      caPem: input.caPem,
      webhookUrl: input.webhookUrl,
    }).filter(([, v]) => v !== undefined),
  );
}

/**
 * The numbers a project added under a slug that was used before starts after: its pipelines and
 * jobs stay listed under the slug when it is removed, and numbers must not repeat.
 */
async function highestNumbers(gyre: Gyre, slug: string): Promise<{ pipelines: number; jobs: number }> {
  const last = async (partition: string) => {
    for await (const item of queryRaw(gyre, { index: "gsi1", partition, descending: true, limit: 1 })) {
      return typeof item.number === "number" ? item.number : 0;
    }
    return 0;
  };
  const [pipelines, jobs] = await Promise.all([last(Index.pipelinesOf(slug)), last(Index.jobsOf(slug))]);
  return { pipelines, jobs };
}

export async function createProject(
  gyre: Gyre,
  input: {
    repoUrl: string;
    slug?: string;
    defaultBranch?: string;
    settings?: StoredSettings;
    github?: GithubInput;
  },
): Promise<{ project: StoredProject; webhookSecret: string }> {
  if (!input.repoUrl.trim()) throw badRequest("repo_url is required: a git URL or a local path.");
  const { slug, vcsType, org, name } = parseSlug(input.slug ?? slugForRepo(input.repoUrl));
  if (input.github && vcsType !== "github")
    throw badRequest(`github: only a GitHub project (gh/<owner>/<repo>) reaches GitHub; ${slug} is not one.`);
  const webhookSecret = randomBytes(24).toString("hex");
  // The first project of an organization records the organization's UUID.
  const organization = await organizationOf(gyre, { slug, vcsType, org });
  const numbers = await highestNumbers(gyre, slug);
  const item: ProjectItem = {
    id: randomUUID(),
    slug,
    vcsType,
    org,
    name,
    repoUrl: input.repoUrl,
    defaultBranch: input.defaultBranch ?? "main",
    createdAt: new Date(gyre.now()).toISOString(),
    organizationId: organization.id,
    webhookSecret: await encryptSecret(gyre.keys, webhookSecret, webhookAad(slug)),
    pipelineCounter: numbers.pipelines,
    jobCounter: numbers.jobs,
    ...(input.settings && Object.keys(input.settings).length > 0 ? { settings: input.settings } : {}),
    ...(input.github ? { github: await sealGithub(gyre, slug, input.github) } : {}),
  };
  if (!(await putNew(gyre, { ...Keys.project(slug), gsi1pk: Index.projects(), gsi1sk: slug, ...item }))) {
    throw conflict(`Project ${slug} already exists.`);
  }
  return { project: await toProject(gyre, item), webhookSecret };
}

async function toProject(gyre: Gyre, item: ProjectItem): Promise<StoredProject> {
  const { id, slug, vcsType, org, name, repoUrl, defaultBranch, createdAt, jobsPerPipeline } = item;
  const organizationId = item.organizationId ?? (await organizationOf(gyre, item)).id;
  const github = vcsType === "github" ? githubInfo(repoUrl, item.github) : undefined;
  return {
    id,
    slug,
    vcsType,
    org,
    name,
    repoUrl,
    defaultBranch,
    createdAt,
    jobsPerPipeline,
    organizationId,
    settings: settingsOf(item.settings),
    ...(github ? { github } : {}),
  };
}

/**
 * Read eventually consistent: a project's settings change rarely, and its counters are read
 * only through reserveNumbers' update (`jobsPerPipeline` is a hint: a stale one costs a top-up).
 * Reads of one project that arrive while one is in flight share the next read (lane.ts).
 */
export const readProjectItem = (gyre: Gyre, slug: string) =>
  sharedFreshRun(gyre, `project\u0000${slug}`, () =>
    getItem(gyre, Keys.project(slug), ProjectItemSchema, "project", { consistent: false }),
  );

export async function findProject(gyre: Gyre, slug: string): Promise<StoredProject | undefined> {
  const item = await readProjectItem(gyre, slug);
  return item && toProject(gyre, item);
}

export async function getProject(gyre: Gyre, rawSlug: string): Promise<StoredProject> {
  const { slug } = parseSlug(rawSlug);
  const project = await findProject(gyre, slug);
  if (!project) throw notFound(`Project ${slug} not found.`);
  return project;
}

/** The project with its webhook secret in clear, for signature checks only. */
export async function getWebhookSecret(
  gyre: Gyre,
  slug: string,
): Promise<{ project: StoredProject; secret: string } | undefined> {
  const item = await readProjectItem(gyre, slug);
  if (!item) return undefined;
  return {
    project: await toProject(gyre, item),
    secret: await decryptSecret(gyre.keys, item.webhookSecret, webhookAad(slug)),
  };
}

export async function listProjects(gyre: Gyre, options: { orgSlug?: string } = {}): Promise<StoredProject[]> {
  const projects: StoredProject[] = [];
  const spec = {
    index: "gsi1",
    partition: Index.projects(),
    // The index sorts by slug: an organization's projects are one range of it.
    ...(options.orgSlug ? { sort: { beginsWith: `${options.orgSlug}/` } } : {}),
  } as const;
  for await (const item of queryAll(gyre, spec, ProjectItemSchema, "project"))
    projects.push(await toProject(gyre, item));
  return projects;
}

/** An organization the caller can see, with the avatar its VCS shows for it ("" when unknown). */
export interface Collaboration {
  organization: Organization;
  avatarUrl: string;
}

/**
 * `GET /me/collaborations`: the organizations of the projects given (those the caller may see),
 * in slug order. A GitHub organization's avatar is the one github.com
 * serves at `/<org>.png`; Gyre knows none for other hosts.
 */
export async function listCollaborations(
  gyre: Gyre,
  projects: readonly StoredProject[],
): Promise<Collaboration[]> {
  const byOrg = new Map<string, StoredProject[]>();
  for (const project of projects) {
    const slug = orgSlugOf(project.slug);
    byOrg.set(slug, [...(byOrg.get(slug) ?? []), project]);
  }
  return Promise.all(
    [...byOrg.values()].map(async (projects) => {
      const organization = await organizationOf(gyre, projects[0]!);
      const onGitHub = projects.some((p) => /^(https:\/\/|ssh:\/\/git@|git@)github\.com[:/]/.test(p.repoUrl));
      const avatarUrl =
        organization.vcsType === "github" && onGitHub ? `https://github.com/${organization.name}.png` : "";
      return { organization, avatarUrl };
    }),
  );
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

/** Changes the settings given (settings.ts), leaving the others as they are. */
export async function updateProjectSettings(gyre: Gyre, slug: string, change: StoredSettings): Promise<void> {
  const entries = Object.entries(change).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return;
  const key = Keys.project(slug);
  // A project added before settings existed has no map yet; then each setting is set by its path.
  if (!(await tryUpdate(gyre, key, { setIfMissing: { settings: {} }, when: [{ path: "pk", exists: true }] })))
    throw notFound(`Project ${slug} not found.`);
  await tryUpdate(gyre, key, {
    set: entries.map(([name, value]) => [["settings", name], value] as const),
    when: [{ path: "pk", exists: true }],
  });
}

/** Changes how the project reaches GitHub (the fields given) and what it installed there. */
export async function updateProjectGithub(
  gyre: Gyre,
  slug: string,
  change: Omit<StoredGithub, "hookId" | "deployKeyId"> & {
    hookId?: number | null;
    deployKeyId?: number | null;
  },
): Promise<void> {
  const entries = Object.entries(change).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return;
  const key = Keys.project(slug);
  if (!(await tryUpdate(gyre, key, { setIfMissing: { github: {} }, when: [{ path: "pk", exists: true }] })))
    throw notFound(`Project ${slug} not found.`);
  await tryUpdate(gyre, key, {
    // null: the attribute goes (a hook or key removed from the repository).
    set: entries.map(([name, value]) => [["github", name], value === null ? undefined : value] as const),
    when: [{ path: "pk", exists: true }],
  });
}

/** What removing a project removed, by kind (the sort key's prefix: ENVVAR, CHECKOUTKEY, ...). */
export type RemovedRecords = Record<string, number>;

/**
 * Removes a project and every record in its partition: the project itself (its sealed webhook
 * secret and GitHub token), its environment variables, checkout and additional SSH keys,
 * trigger idempotency records and open pull requests. Its pipelines, workflows, jobs, their
 * output, artifacts and test results stay (history, and what still runs finishes: a pending
 * pipeline ends `errored`); so do the organization, other users' follows (listed without it)
 * and delivery records (they expire). Adding the slug again numbers on after its last pipeline.
 */
export async function deleteProject(gyre: Gyre, slug: string): Promise<RemovedRecords> {
  const keys: Key[] = [];
  const removed: RemovedRecords = {};
  for await (const item of queryRaw(gyre, { partition: Partitions.project(slug), consistent: true })) {
    const sk = String(item.sk);
    const kind = sk.split("#")[0]!;
    removed[kind] = (removed[kind] ?? 0) + 1;
    keys.push({ pk: String(item.pk), sk });
  }
  if (!removed.PROJECT) throw notFound(`Project ${slug} not found.`);
  // Its schedules (API and config) too: kept elsewhere, they would fire into a project re-added
  // under the slug.
  for await (const item of queryRaw(gyre, { index: "gsi1", partition: Index.schedulesOf(slug) })) {
    removed.SCHEDULE = (removed.SCHEDULE ?? 0) + 1;
    keys.push({ pk: String(item.pk), sk: String(item.sk) });
  }
  // Its API tokens: a project re-added under the slug starts with none.
  for await (const item of queryRaw(gyre, { index: "gsi1", partition: Index.projectTokensOf(slug) })) {
    removed.TOKEN = (removed.TOKEN ?? 0) + 1;
    keys.push({ pk: String(item.pk), sk: String(item.sk) });
  }
  // The project item last: a failure half-way leaves a project that can be removed again.
  await deleteItems(
    gyre,
    keys.filter((k) => k.sk !== "PROJECT"),
  );
  await deleteItems(gyre, [Keys.project(slug)]);
  return removed;
}

/** CircleCI API v2 `Project` shape. */
export function projectJson(p: StoredProject) {
  // The API's providers are GitHub, Bitbucket and CircleCI (a project no VCS provider hosts, as a
  // repository on a local path is).
  const provider = p.vcsType === "github" ? "GitHub" : p.vcsType === "bitbucket" ? "Bitbucket" : "CircleCI";
  return {
    slug: p.slug,
    name: p.name,
    id: p.id,
    organization_name: p.org,
    organization_slug: orgSlugOf(p.slug),
    organization_id: p.organizationId,
    vcs_info: { vcs_url: p.repoUrl, provider, default_branch: p.defaultBranch },
  };
}
