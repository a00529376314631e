/**
 * Projects: a repository Gyre builds, addressed by a CircleCI slug (`gh/org/repo`). A project
 * holds its clone URL, its webhook secret (sealed at rest) and the counters that number its
 * pipelines and jobs.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { GetCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { putNew } from "../aws/dynamo.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, notFound } from "../error.ts";
import { decryptSecret, encryptSecret } from "../secret/index.ts";
import { Index, Keys } from "../table.ts";

export interface Project {
  id: string;
  slug: string;
  /** `github` for gh/ slugs, `bitbucket` for bb/, `local` otherwise. */
  vcsType: string;
  org: string;
  name: string;
  /** What `git clone` is given: an https/ssh URL or a local path. */
  repoUrl: string;
  defaultBranch: string;
  createdAt: string;
}

interface ProjectItem extends Project {
  webhookSecret: string;
  pipelineCounter: number;
  jobCounter: number;
}

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
  const { id, slug, vcsType, org, name, repoUrl, defaultBranch, createdAt } = item;
  return { id, slug, vcsType, org, name, repoUrl, defaultBranch, createdAt };
}

async function getItem(gyre: Gyre, slug: string): Promise<ProjectItem | undefined> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({ TableName: gyre.resources.tableName, Key: Keys.project(slug) }),
  );
  return out.Item as ProjectItem | undefined;
}

export async function findProject(gyre: Gyre, slug: string): Promise<Project | undefined> {
  const item = await getItem(gyre, slug);
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
  const item = await getItem(gyre, slug);
  if (!item) return undefined;
  return {
    project: toProject(item),
    secret: await decryptSecret(gyre.keys, item.webhookSecret, webhookAad(slug)),
  };
}

export async function listProjects(gyre: Gyre): Promise<Project[]> {
  const out = await gyre.aws.dynamo.send(
    new QueryCommand({
      TableName: gyre.resources.tableName,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :p",
      ExpressionAttributeValues: { ":p": Index.projects() },
    }),
  );
  return (out.Items ?? []).map((i) => toProject(i as ProjectItem));
}

/**
 * Reserves the next pipeline number and `jobs` job numbers in one conditional update.
 * A crash after this leaves a gap in the numbering, as CircleCI's numbering can have.
 */
export async function reserveNumbers(
  gyre: Gyre,
  slug: string,
  jobs: number,
  /** 0 when the jobs join an existing pipeline (a continuation). */
  pipelines = 1,
): Promise<{ pipelineNumber: number; firstJobNumber: number }> {
  const out = await gyre.aws.dynamo.send(
    new UpdateCommand({
      TableName: gyre.resources.tableName,
      Key: Keys.project(slug),
      UpdateExpression: "ADD pipelineCounter :one, jobCounter :jobs",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":one": pipelines, ":jobs": jobs },
      ReturnValues: "UPDATED_NEW",
    }),
  );
  const attrs = out.Attributes as { pipelineCounter: number; jobCounter: number };
  return { pipelineNumber: attrs.pipelineCounter, firstJobNumber: attrs.jobCounter - jobs + 1 };
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
