/**
 * `gyre build delete <url or project/number>`: removes one build (job) with its records and
 * output, as the reference's `admin/delete-build "https://host/gh/org/project/1234"` does
 * (`DELETE /api/gyre/projects/{slug}/jobs/{number}`, functions/src/http/builds.ts). Takes the
 * build's slug and number (`gh/acme/api/12`) or any URL the API or the web app gives for it.
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
  const { slug, number } = parseBuildRef(ref);
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
