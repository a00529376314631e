/** GitHub's failures as Gyre says them: method, path, status and GitHub's words; never a header. */
import { GyreError } from "../error.ts";

/** What an Octokit failure says, without anything of the request but its method and path. */
export function describeGithubError(error: unknown): string {
  const e = error as {
    status?: number;
    message?: string;
    request?: { method?: string; url?: string };
    response?: { data?: { message?: string } };
  };
  const where =
    e.request?.method && e.request.url ? `${e.request.method} ${new URL(e.request.url).pathname}` : "";
  const said = e.response?.data?.message ?? e.message ?? String(error);
  return `${where ? `${where}: ` : ""}${e.status ? `${e.status} ` : ""}${said}`.slice(0, 500);
}

/**
 * A GitHub failure as Gyre's error, 422 with GitHub's words: whether GitHub refused (a bad
 * token, a repository the token cannot see) or could not be reached (the API URL, a proxy, a CA),
 * the admin who asked has something to fix, and the message says what GitHub said.
 */
export function githubFailure(doing: string, error: unknown): GyreError {
  const status = (error as { status?: number }).status;
  const reached = status !== undefined && status < 500;
  return new GyreError(
    "unprocessable",
    `GitHub ${reached ? "refused" : "could not be reached for"} ${doing}: ${describeGithubError(error)}`,
  );
}
