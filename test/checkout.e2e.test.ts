/** `checkout` as CircleCI does it: full or blobless, into `path`, and at a tag. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, outputsByName, runPipeline, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("checkout"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
});

afterAll(async () => {
  await runtime?.stop();
});

const CONFIG = `version: 2.1
jobs:
  blobless:
    machine: true
    steps:
      - checkout:
          method: blobless
      - run:
          name: Inspect
          command: |
            echo "filter $(git config --get remote.origin.partialclonefilter)"
            cat hello.txt
  elsewhere:
    machine: true
    steps:
      - checkout:
          path: ~/src/app
      - run:
          name: Inspect
          command: |
            cat ~/src/app/hello.txt
            test ! -e hello.txt && echo "working directory untouched"
  gopath:
    machine: true
    working_directory: /go/src/github.com/acme/app
    steps:
      - checkout
      - run:
          name: Write outside HOME
          command: |
            cat hello.txt
            mkdir -p /go/pkg/mod && echo module > /go/pkg/mod/cached
      - run:
          name: Read it back
          command: |
            pwd
            cat /go/pkg/mod/cached
      - save_cache:
          key: gopath-v1
          paths: [/go/pkg/mod]
      - store_artifacts:
          path: hello.txt
  tagged:
    machine: true
    steps:
      - checkout
      - run:
          name: Inspect
          command: |
            echo "tag $CIRCLE_TAG branch '$CIRCLE_BRANCH' head $(git rev-parse --abbrev-ref HEAD)"
workflows:
  main:
    jobs: [blobless, elsewhere, gopath]
  release:
    jobs:
      - tagged:
          filters:
            tags:
              only: /^v.*/
            branches:
              ignore: /.*/
`;

describe("checkout", () => {
  const slug = "gh/acme/checkout";
  let repo: ReturnType<typeof gitRepo>;

  beforeAll(async () => {
    repo = gitRepo({ ".circleci/config.yml": CONFIG, "hello.txt": "hello\n" });
    // A server that serves partial clones (GitHub does).
    execFileSync("git", ["config", "uploadpack.allowFilter", "true"], { cwd: repo.path });
    execFileSync("git", ["tag", "v1.0.0"], { cwd: repo.path });
    await client.post("/api/gyre/projects", { repo_url: repo.path, slug });
  });

  it("checks out blobless (a partial clone) and into a path, leaving the working directory alone", async () => {
    const { workflow, byName } = await runPipeline(client, slug);
    expect(workflow.status).toBe("success");
    expect((await outputsByName(client, slug, byName.blobless!.job_number as number)).Inspect).toBe(
      "filter blob:none\nhello\n",
    );
    expect((await outputsByName(client, slug, byName.elsewhere!.job_number as number)).Inspect).toBe(
      "hello\nworking directory untouched\n",
    );
  });

  it("keeps an absolute working directory and paths outside HOME across steps, inside the job's own directory", async () => {
    const hostHadGo = existsSync("/go");
    const { workflow, byName } = await runPipeline(client, slug);
    expect(workflow.status).toBe("success");
    const number = byName.gopath!.job_number as number;
    const out = await outputsByName(client, slug, number);
    expect(out["Write outside HOME"]).toBe("hello\n");
    expect(out["Read it back"]).toBe("/go/src/github.com/acme/app\nmodule\n");
    const artifacts = (await client.get(`/api/v2/project/${slug}/${number}/artifacts`)).body.items!;
    expect(artifacts.map((a) => a.path)).toEqual(["hello.txt"]);
    // Nothing was written on the builder outside the job's directory.
    if (!hostHadGo) expect(existsSync("/go")).toBe(false);
  });

  it("checks out a tag detached, with CIRCLE_TAG set and no branch", async () => {
    const created = await client.post(`/api/v2/project/${slug}/pipeline`, { tag: "v1.0.0" });
    expect(created.status).toBe(201);
    const job = await waitFor("the tag job", async () => {
      const [workflow] = (await client.get(`/api/v2/pipeline/${created.body.id}/workflow`)).body.items!;
      if (!workflow || workflow.status !== "success") return undefined;
      return (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items![0];
    });
    expect(job!.name).toBe("tagged");
    expect((await outputsByName(client, slug, job!.job_number as number)).Inspect).toBe(
      "tag v1.0.0 branch '' head HEAD\n",
    );
  });
});
