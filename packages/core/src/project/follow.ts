/**
 * Following a project, CircleCI's way (API v1.1 `project/.../follow`): a user follows the
 * projects whose builds they want to see; `me` and `projects` list them, `recent-builds` merges
 * their builds. A follow is an item in the user's partition (`Keys.follow`), so one query reads
 * everything a user follows. Following twice, or unfollowing what is not followed, is a no-op.
 */
import type { Gyre } from "../context.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, putNew, queryAll } from "../store/index.ts";
import { Keys, Partitions, Prefixes } from "../table.ts";
import { findProject, getProject, type StoredProject } from "./index.ts";

const FollowSchema = z.object({ projectSlug: z.string(), followedAt: z.string() });

/** Records that `userId` follows the project (404 if there is none); true when newly followed. */
export async function followProject(gyre: Gyre, userId: string, rawSlug: string): Promise<boolean> {
  const project = await getProject(gyre, rawSlug);
  return putNew(gyre, {
    ...Keys.follow(userId, project.slug),
    projectSlug: project.slug,
    followedAt: new Date(gyre.now()).toISOString(),
  });
}

/** Stops following the project (404 if there is none); true when it was followed. */
export async function unfollowProject(gyre: Gyre, userId: string, rawSlug: string): Promise<boolean> {
  const project = await getProject(gyre, rawSlug);
  return deleteItem(gyre, Keys.follow(userId, project.slug), [{ path: "pk", exists: true }]);
}

/** The projects `userId` follows, by slug; a followed project that was removed is left out. */
export async function listFollowedProjects(gyre: Gyre, userId: string): Promise<StoredProject[]> {
  const slugs: string[] = [];
  const spec = {
    partition: Partitions.user(userId),
    sort: { beginsWith: Prefixes.follow },
    consistent: true,
  };
  for await (const follow of queryAll(gyre, spec, FollowSchema, "follow")) slugs.push(follow.projectSlug);
  const projects = await Promise.all(slugs.map((slug) => findProject(gyre, slug)));
  return projects.filter((p): p is StoredProject => p !== undefined);
}
