/**
 * `gyre build delete <url or project/number>`: removes one build (job) with its records and
 * output, as the reference's `admin/delete-build "https://host/gh/org/project/1234"` does
 * (`DELETE /api/gyre/projects/{slug}/jobs/{number}`, functions/src/http/builds.ts). Takes the
 * build's slug and number (`gh/acme/api/12`) or any URL the API or the web app gives for it;
 * a URL of another Gyre than the one the CLI talks to (GYRE_URL) is refused: its slug and number
 * would name some other build here.
 */
import { parseBuildRef } from "@gyre/core/job/delete";
import type { Client } from "./client.ts";

type Print = (line: string) => void;

export async function buildDelete(
  client: Client,
  ref: string,
  options: { json?: boolean },
  print: Print,
): Promise<number> {
  const { slug, number, origin } = parseBuildRef(ref);
  const ours = new URL(client.url).origin;
  if (origin !== undefined && origin !== ours)
    throw new Error(
      `${ref.trim()} is a build of ${origin}, but this CLI talks to the Gyre at ${ours} (GYRE_URL): ` +
        `set GYRE_URL=${origin} (and its GYRE_TOKEN) to delete it there, or give ${slug}/${number} to delete that build of ${ours}.`,
    );
  const answer = await client.request<{ id: string; objects: number; items: number; workflow_id: string }>(
    "DELETE",
    `/api/gyre/projects/${slug}/jobs/${number}`,
  );
  if (options.json) print(JSON.stringify({ project_slug: slug, number, ...answer }, null, 2));
  else
    print(
      `Deleted build ${slug}/${number} (job ${answer.id} of workflow ${answer.workflow_id}): ${answer.items} record(s), ${answer.objects} object(s).`,
    );
  return 0;
}
