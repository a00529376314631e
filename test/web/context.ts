/**
 * What the web app's browser tests share: one local runtime (real agent, real git repositories)
 * and one chromium, started by test/web.e2e.test.ts before any scenario runs. Scenario modules
 * (test/web/*.ts) register their describe blocks with `web()` to reach them.
 */
import type { Browser } from "playwright-core";
import type { LocalRuntime } from "../../packages/cli/src/local/runtime.ts";
import { api, gitRepo } from "../support.ts";

export interface Web {
  runtime: LocalRuntime;
  browser: Browser;
  url: string;
  adminToken: string;
  client: ReturnType<typeof api>;
}

let current: Web | undefined;

export function setWeb(value: Web | undefined) {
  current = value;
}

export function web(): Web {
  if (!current) throw new Error("test/web.e2e.test.ts starts the runtime and browser first");
  return current;
}

/** A project of its own for a scenario: a git repository holding `config`. */
export async function addProject(slug: string, config: string, files: Record<string, string> = {}) {
  const repo = gitRepo({ ".circleci/config.yml": config, ...files });
  const res = await web().client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  if (res.status !== 201) throw new Error(`add project ${slug}: ${res.status} ${JSON.stringify(res.body)}`);
  return repo;
}

export { api };
