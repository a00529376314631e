/**
 * Organizations: the `<vcs>/<org>` part of project slugs (`gh/acme`). Each gets a UUID, recorded
 * once (`Keys.organization`) when its first project is added, or, for a project added before
 * organizations had ids, the first time one is asked for. That UUID is what the CircleCI API
 * calls `organization_id` and a collaboration's `id`. Concurrent first recordings agree: the
 * write is conditional, and the loser reads the winner's id.
 */
import { randomUUID } from "node:crypto";
import type { Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import { Ids, z } from "../protocol/schema.ts";
import { getItem, putNew } from "../store/index.ts";
import { Keys } from "../table.ts";

/** An organization as the table holds it (`Keys.organization`, by its slug). */
export const OrganizationSchema = z.object({
  id: Ids.uuid,
  /** `gh/acme`: the first two parts of its projects' slugs. */
  slug: z.string(),
  /** `github`, `bitbucket` or `local`, as its projects' `vcsType`. */
  vcsType: z.string(),
  name: z.string(),
  createdAt: z.string(),
});
export type Organization = z.infer<typeof OrganizationSchema>;

/** The organization slug of a (normalised) project slug: `gh/acme/api` → `gh/acme`. */
export const orgSlugOf = (projectSlug: string) => projectSlug.split("/").slice(0, 2).join("/");

/**
 * Recorded organizations never change, so each process remembers the ones it has read (per
 * Gyre context: one process may serve several local runtimes in tests).
 */
const known = new WeakMap<Gyre, Map<string, Organization>>();
const MAX_REMEMBERED = 10_000;

/** The organization of a project (`slug` normalised, as `parseSlug` gives it), recorded if it is not yet. */
export async function organizationOf(
  gyre: Gyre,
  project: { slug: string; vcsType: string; org: string },
): Promise<Organization> {
  const slug = orgSlugOf(project.slug);
  const cache = known.get(gyre) ?? new Map<string, Organization>();
  known.set(gyre, cache);
  const cached = cache.get(slug);
  if (cached) return cached;
  const key = Keys.organization(slug);
  let found = await getItem(gyre, key, OrganizationSchema, "organization", { consistent: false });
  if (!found) {
    const fresh: Organization = {
      id: randomUUID(),
      slug,
      vcsType: project.vcsType,
      name: project.org,
      createdAt: new Date(gyre.now()).toISOString(),
    };
    found = (await putNew(gyre, { ...key, ...fresh }))
      ? fresh
      : await getItem(gyre, key, OrganizationSchema, "organization");
  }
  if (!found) throw new GyreError("internal", `Organization ${slug} could not be recorded.`);
  if (cache.size >= MAX_REMEMBERED) cache.clear();
  cache.set(slug, found);
  return found;
}
