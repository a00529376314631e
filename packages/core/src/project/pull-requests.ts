/**
 * The pull requests open against a project, as GitHub's `pull_request` deliveries tell them
 * (opened, reopened, synchronize record one; closed forgets it; a deleted branch forgets its
 * own). They say which branches `only_build_prs` builds, and which pull requests a push to a
 * branch builds for (`CIRCLE_PULL_REQUEST`). One item each in the project's partition
 * (`Keys.pullRequest`); a project has few open at once, so one query reads them all.
 */
import type { Gyre } from "../context.ts";
import { PullRequestSchema } from "../pipeline/model.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, deleteItems, putItem, queryAll } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";

export const OpenPullRequestSchema = PullRequestSchema.extend({
  /** The branch it builds as: its head branch, or `pull/<number>` for one from a fork. */
  branch: z.string(),
  /** Its head commit when last delivered. */
  headSha: z.string(),
  updatedAt: z.string(),
});
export type OpenPullRequest = z.infer<typeof OpenPullRequestSchema>;

/** Records (or refreshes) an open pull request. */
export async function recordPullRequest(gyre: Gyre, slug: string, pull: OpenPullRequest): Promise<void> {
  await putItem(gyre, { ...Keys.pullRequest(slug, pull.number), ...pull });
}

/** Forgets a pull request that was closed (merged or not). */
export async function forgetPullRequest(gyre: Gyre, slug: string, number: number): Promise<void> {
  await deleteItem(gyre, Keys.pullRequest(slug, number));
}

/** Every open pull request of the project, by number. */
export async function openPullRequests(gyre: Gyre, slug: string): Promise<OpenPullRequest[]> {
  const found: OpenPullRequest[] = [];
  const spec = { partition: Partitions.project(slug), sort: { beginsWith: Prefixes.pullRequest } };
  for await (const pull of queryAll(gyre, spec, OpenPullRequestSchema, "pull request")) found.push(pull);
  return found;
}

/** The open pull requests whose head is `branch` of the project's own repository. */
export async function pullRequestsOfBranch(gyre: Gyre, slug: string, branch: string) {
  return (await openPullRequests(gyre, slug)).filter((p) => p.branch === branch && !p.fork);
}

/** Forgets the pull requests of a deleted branch (GitHub closes them too, and says so). */
export async function forgetBranch(gyre: Gyre, slug: string, branch: string): Promise<number> {
  const gone = await pullRequestsOfBranch(gyre, slug, branch);
  await deleteItems(
    gyre,
    gone.map((p) => Keys.pullRequest(slug, p.number)),
  );
  return gone.length;
}
