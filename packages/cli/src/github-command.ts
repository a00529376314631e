/**
 * `gyre github resync <project slug> [--json]`: builds the pushes GitHub delivered while Gyre
 * was down or unreachable (GitHub never redelivers a failed delivery by itself). The server
 * reads the repository's branch heads with the project's token and triggers a pipeline for each
 * head that has none (`POST /api/gyre/projects/{slug}/github/resync`). Prints one line a branch.
 */
import type { Client } from "./client.ts";

type Print = (line: string) => void;

export interface ResyncJson {
  triggered: { branch: string; sha: string; pipeline_id: string }[];
  skipped: { branch: string; sha: string; reason: string }[];
}

/** The answer as lines: each branch triggered, each skipped with why, then a count. */
export function resyncLines(slug: string, answer: ResyncJson): string[] {
  const lines = [
    ...answer.triggered.map((t) => `${t.branch}  ${t.sha.slice(0, 12)}  triggered pipeline ${t.pipeline_id}`),
    ...answer.skipped.map((s) => `${s.branch}  ${s.sha.slice(0, 12)}  skipped: ${s.reason}`),
  ];
  const n = answer.triggered.length;
  lines.push(
    n === 0
      ? `${slug}: every branch head has a pipeline; nothing to resync.`
      : `${slug}: triggered ${n} pipeline${n === 1 ? "" : "s"} for branch heads GitHub's deliveries missed.`,
  );
  return lines;
}

export async function githubResync(
  client: Client,
  slug: string,
  options: { json?: boolean },
  print: Print,
): Promise<ResyncJson> {
  const answer = await client.post<ResyncJson>(`/api/gyre/projects/${slug}/github/resync`, {});
  if (options.json) print(JSON.stringify(answer, null, 2));
  else for (const line of resyncLines(slug, answer)) print(line);
  return answer;
}
