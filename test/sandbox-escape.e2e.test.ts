/**
 * A job must not be able to change what the next step's sandbox binds. Mount sources (its /tmp,
 * its mounted paths) live beside the job's directory, where the job can neither see nor replace
 * them: replacing what looks like them with a symlink to the builder's directories changes nothing.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, outputsByName, runPipeline, tempDir } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("escape"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

describe("mount sources", () => {
  it("cannot be swapped for a symlink between steps to reach the builder's data directory", async () => {
    const slug = "gh/acme/escape";
    const repo = gitRepo({
      ".circleci/config.yml": `version: 2.1
jobs:
  swap:
    machine: true
    working_directory: /srv/app
    steps:
      - run:
          name: Swap
          command: |
            job=$(dirname "$HOME")
            echo mine > /tmp/marker
            test -e "$job.mounts" && echo "mount sources visible" || echo "mount sources hidden"
            for dir in "$job/tmp" "$job/fs" "$job.mounts"; do rm -rf "$dir" 2>/dev/null; ln -s ../../.. "$dir" 2>/dev/null; done
      - run:
          name: Look
          command: |
            cat /tmp/marker
            ls -A /srv/app
            cat /tmp/admin-token /tmp/*/admin-token 2>/dev/null || echo "no token in reach"
workflows:
  main:
    jobs: [swap]
`,
    });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
    const { workflow, jobs } = await runPipeline(client, slug);
    expect(workflow.status).toBe("success");
    const out = await outputsByName(client, slug, jobs[0]!.job_number as number);
    expect(out.Swap).toBe("mount sources hidden\n");
    // The next step's /tmp is still the job's own, holding only what the job put there.
    expect(out.Look).toBe("mine\nno token in reach\n");
    const token = readFileSync(join(runtime.dataDir, "admin-token"), "utf8").trim();
    expect(Object.values(out).join("")).not.toContain(token);
  });
});
