/**
 * A project's GitHub connection with its token in clear, for the GitHub client only
 * (github/client.ts): the token is sealed on the project item, bound to the project
 * (`githubTokenAad`), and is never logged nor answered by any route.
 */
import type { Gyre } from "../context.ts";
import { decryptSecret } from "../secret/index.ts";
import { githubTokenAad, readProjectItem } from "./index.ts";
import { defaultApiUrl } from "./settings.ts";

export interface GithubConnection {
  /** `https://api.github.com` or `https://HOST/api/v3`, no trailing slash. */
  apiUrl: string;
  token: string;
  /** PEM certificates to trust besides the system's. */
  caPem?: string;
}

/**
 * How to reach GitHub as the project: undefined when it is not a GitHub project, was removed,
 * or has no token (nothing is posted, installed or read then).
 */
export async function githubConnection(gyre: Gyre, slug: string): Promise<GithubConnection | undefined> {
  const item = await readProjectItem(gyre, slug);
  if (item?.vcsType !== "github" || !item.github?.token) return undefined;
  const apiUrl = item.github.apiUrl ?? defaultApiUrl(item.repoUrl);
  if (!apiUrl) return undefined;
  return {
    apiUrl,
    token: await decryptSecret(gyre.keys, item.github.token, githubTokenAad(slug)),
    ...(item.github.caPem ? { caPem: item.github.caPem } : {}),
  };
}
