/**
 * What the web app's browser tests share: one local runtime (real agent, real git repositories)
 * and one chromium, started by test/web.e2e.test.ts before any scenario runs. Scenario modules
 * (test/web/*.ts) register their describe blocks with `web()` to reach them.
 */

import { randomUUID } from "node:crypto";
import type { Browser } from "playwright-core";
import type { LocalRuntime } from "../../packages/cli/src/local/runtime.ts";
import { api, gitRepo, pushPayload, sign } from "../support.ts";

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

/** A project of its own for a scenario: a git repository holding `config`, and its webhook secret. */
export async function addProject(slug: string, config: string, files: Record<string, string> = {}) {
  const repo = gitRepo({ ".circleci/config.yml": config, ...files });
  const res = await web().client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  if (res.status !== 201) throw new Error(`add project ${slug}: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...repo, webhookSecret: res.body.webhook_secret as string };
}

/** A push of `commit` to `branch` of `slug`'s GitHub repository, as GitHub delivers it (signed). */
export async function pushed(slug: string, secret: string, commit: string, branch = "main") {
  const body = pushPayload(slug.split("/").slice(1).join("/"), commit, branch);
  const res = await fetch(`${web().url}/webhooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": `web-${randomUUID()}`,
      "x-hub-signature-256": sign(secret, body),
    },
    body,
  });
  if (res.status >= 300) throw new Error(`push to ${slug}: ${res.status} ${await res.text()}`);
}

export { api };
