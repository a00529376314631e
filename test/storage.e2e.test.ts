/**
 * Caches, artifacts, test results and workspaces end to end on the local stack: a real
 * builder agent runs the storage steps with presigned URLs from the API against s3rver, and
 * everything is checked through the API a user calls.
 */
import { createHash } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;

beforeAll(async () => {
  runtime = await startLocalRuntime({
    dataDir: tempDir("storage-e2e"),
    port: 0,
    heartbeatSeconds: 5,
    reconcileIntervalMs: 1000,
    reconcileGraceMs: 10_000,
  });
  client = api(runtime.url, runtime.adminToken);
  const limited = await fetch(`${runtime.url}/api/gyre/settings`, {
    method: "PATCH",
    headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
    body: JSON.stringify({ max_test_output_bytes: 1024 }),
  });
  expect(limited.status).toBe(200);
});

afterAll(async () => {
  await runtime?.stop();
});

const DEPS = "left-pad 1.3.0\n";

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: Install deps
          command: |
            mkdir -p vendor
            echo "deps from build $CIRCLE_BUILD_NUM" > vendor/lib.txt
      - save_cache:
          key: v1-deps-{{ checksum "deps.txt" }}
          paths:
            - vendor
      - run:
          name: Make outputs
          command: |
            mkdir -p out/reports test-results/unit dist/sub
            printf 'hello artifact\\n' > out/hello.txt
            printf '<html><script>alert(1)</script></html>\\n' > out/reports/index.html
            printf 'not really a png' > out/shot.png
            cat > test-results/unit/junit.xml <<'XML'
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuite name="unit" tests="3">
              <testcase classname="math" name="adds" time="0.5" file="math.test.js"/>
              <testcase classname="math" name="divides" time="0.25"><failure message="expected 2">got 3</failure></testcase>
              <testcase classname="math" name="later"><skipped/></testcase>
            </testsuite>
            XML
            printf '<testsuite><testcase' > test-results/unit/broken.xml
            { printf '<testsuite><testcase classname="math" name="overflows"><failure message="long">'
              head -c 3000 /dev/zero | tr '\\0' x; printf '</failure></testcase></testsuite>'; } > test-results/unit/long.xml
            echo "from the workspace" > dist/app.txt
            echo "nested" > dist/sub/deep.txt
            echo "left out" > dist/other.log
      - store_artifacts:
          path: out
      - store_test_results:
          path: test-results
      - persist_to_workspace:
          root: dist
          paths:
            - "*.txt"
            - sub/**
  test:
    machine: true
    steps:
      - checkout
      - attach_workspace:
          at: ws
      - run:
          name: Read workspace
          command: cat ws/app.txt ws/sub/deep.txt; test ! -e ws/other.log
      - restore_cache:
          keys:
            - v1-deps-{{ checksum "deps.txt" }}
            - v1-deps-
      - run:
          name: Show restored
          when: always
          command: if [ -e vendor ]; then cat vendor/lib.txt; else echo "nothing restored"; fi
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
`;

const SLUG = "gh/acme/storage";
const CACHE_KEY = `v1-deps-${createHash("sha256").update(DEPS).digest("base64")}`;

async function trigger(): Promise<string> {
  const res = await client.post(`/api/v2/project/${SLUG}/pipeline`, { branch: "main" });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function settled(pipelineId: string) {
  return waitFor(
    "the workflow to finish",
    async () => {
      const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items!;
      if (!workflow || !["success", "failed"].includes(workflow.status as string)) return undefined;
      const jobs = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
      return { workflow, jobs };
    },
    60_000,
  );
}

async function stepOutput(jobNumber: number): Promise<Record<string, string>> {
  return Object.fromEntries((await stepOutputs(client, SLUG, jobNumber)).map((s) => [s.name, s.output]));
}

describe("storage steps", () => {
  let first: { build: number; test: number };

  it("saves a cache, stores artifacts and test results, persists and attaches a workspace", async () => {
    const repo = gitRepo({ ".circleci/config.yml": CONFIG, "deps.txt": DEPS });
    const added = await client.post("/api/gyre/projects", { repo_url: repo.path, slug: SLUG });
    expect(added.status).toBe(201);

    const { workflow, jobs } = await settled(await trigger());
    const build = jobs.find((j) => j.name === "build")!;
    const test = jobs.find((j) => j.name === "test")!;
    const buildOutput = await stepOutput(build.job_number as number);
    const testOutput = await stepOutput(test.job_number as number);
    expect(
      { workflow: workflow.status, build: build.status, test: test.status },
      JSON.stringify(buildOutput),
    ).toEqual({ workflow: "success", build: "success", test: "success" });
    first = { build: build.job_number as number, test: test.job_number as number };

    expect(buildOutput["Saving Cache"]).toContain(`Stored Cache to ${CACHE_KEY}\n`);
    expect(buildOutput["Saving Cache"]).toMatch(/\/home\/project\/vendor\n/);
    expect(buildOutput["Uploading artifacts"]).toMatch(/Uploading \/.*\/out\/hello\.txt \(15 bytes\)\n/);
    expect(buildOutput["Uploading test results"]).toMatch(/Error parsing test results in \/.*broken\.xml: /);
    expect(buildOutput["Uploading test results"]).toContain(
      "Uploaded 4 test results (1 passed, 2 failed, 1 skipped); 1 file could not be parsed.\n",
    );
    expect(buildOutput["Persisting to Workspace"]).toMatch(/Total size uploaded: /);

    expect(testOutput["Attaching Workspace"]).toMatch(/Applied 1 workspace layer into \/.*\/ws\n/);
    expect(testOutput["Read workspace"]).toBe("from the workspace\nnested\n");
    expect(testOutput["Restoring Cache"]).toContain(
      `Found a cache from build ${first.build} at ${CACHE_KEY}\n`,
    );
    expect(testOutput["Show restored"]).toBe(`deps from build ${first.build}\n`);
  });

  it("lists the artifacts in CircleCI's shape and serves them under the content-type policy", async () => {
    const list = await client.get(`/api/v2/project/${SLUG}/${first.build}/artifacts`);
    expect(list.status).toBe(200);
    expect(list.body.next_page_token).toBeNull();
    const items = list.body.items as { path: string; node_index: number; url: string }[];
    expect(items.map((i) => [i.path, i.node_index])).toEqual([
      ["out/hello.txt", 0],
      ["out/reports/index.html", 0],
      ["out/shot.png", 0],
    ]);
    const url = (path: string) => items.find((i) => i.path === path)!.url;
    expect(url("out/hello.txt").startsWith(`${runtime.url}/artifacts/`)).toBe(true);

    const headers = { "circle-token": runtime.adminToken };
    const txt = await fetch(url("out/hello.txt"), { headers });
    expect(txt.status).toBe(200);
    expect(txt.headers.get("content-type")).toBe("text/plain");
    expect(await txt.text()).toBe("hello artifact\n");

    const html = await fetch(url("out/reports/index.html"), { headers });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toBe("text/plain");
    expect(html.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await html.text()).toBe("<html><script>alert(1)</script></html>\n");

    const png = await fetch(`${url("out/shot.png")}?circle-token=${runtime.adminToken}`);
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(await png.text()).toBe("not really a png");

    // The operator setting serves unsafe types as themselves.
    const setUnsafe = (on: boolean) =>
      fetch(`${runtime.url}/api/gyre/settings`, {
        method: "PATCH",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ allow_unsafe_artifacts: on }),
      });
    expect((await setUnsafe(true)).status).toBe(200);
    try {
      const unsafe = await fetch(url("out/reports/index.html"), { headers });
      expect(unsafe.headers.get("content-type")).toBe("text/html");
      expect(unsafe.headers.get("x-content-type-options")).toBe("nosniff");
    } finally {
      expect((await setUnsafe(false)).status).toBe(200);
    }

    expect((await fetch(url("out/hello.txt"))).status).toBe(401);
    const missing = await fetch(url("out/hello.txt").replace("hello.txt", "nope.txt"), { headers });
    expect(missing.status).toBe(404);
    const traversal = await fetch(url("out/hello.txt").replace("out/hello.txt", "out/..%2F..%2Fx"), {
      headers,
    });
    expect(traversal.status).toBe(400);
  });

  it("lists the test results in CircleCI's shape", async () => {
    const tests = await client.get(`/api/v2/project/${SLUG}/${first.build}/tests`);
    expect(tests.status).toBe(200);
    expect(tests.body.next_page_token).toBeNull();
    const items = tests.body.items as Record<string, unknown>[];
    expect(items.map((t) => [t.classname, t.name, t.result, t.run_time, t.source])).toEqual([
      ["math", "adds", "success", 0.5, "unit"],
      ["math", "divides", "failure", 0.25, "unit"],
      ["math", "later", "skipped", 0, "unit"],
      ["math", "overflows", "failure", 0, "unit"],
    ]);
    // The installation keeps 1 KiB of a test's output here (max_test_output_bytes, set above).
    expect(items[3]!.message).toBe(
      `long\n${"x".repeat(1019)}\n[Gyre: output cut at 1024 of 3005 bytes (max_test_output_bytes)]`,
    );
    expect(items[0]).toMatchObject({ file: "math.test.js", message: "" });
    expect(items[1]!.message).toMatch(/expected 2/);
    expect(items[1]!.message).toMatch(/got 3/);
    expect((await client.get(`/api/v2/project/${SLUG}/${first.test}/tests`)).body.items).toEqual([]);
  });

  it("keeps an existing cache and restores it in the next pipeline", async () => {
    const { workflow, jobs } = await settled(await trigger());
    expect(workflow.status).toBe("success");
    const build = await stepOutput(jobs.find((j) => j.name === "build")!.job_number as number);
    expect(build["Saving Cache"]).toContain(
      `Skipping cache generation, cache already exists for key: ${CACHE_KEY}\n`,
    );
    const test = await stepOutput(jobs.find((j) => j.name === "test")!.job_number as number);
    expect(test["Restoring Cache"]).toContain(`Found a cache from build ${first.build} at ${CACHE_KEY}\n`);
    expect(test["Show restored"]).toBe(`deps from build ${first.build}\n`);
  });

  it("fails restore_cache clearly on a corrupt archive and unpacks nothing", async () => {
    await runtime.gyre.aws.s3.send(
      new PutObjectCommand({
        Bucket: runtime.gyre.resources.bucketName,
        Key: `caches/${SLUG}/${CACHE_KEY}.tar.gz`,
        Body: Buffer.alloc(200, 7),
      }),
    );
    const { workflow, jobs } = await settled(await trigger());
    expect(workflow.status).toBe("failed");
    const test = jobs.find((j) => j.name === "test")!;
    expect(test.status).toBe("failed");
    const output = await stepOutput(test.job_number as number);
    expect(output["Restoring Cache"]).toMatch(
      /Error: The cache archive is corrupt: its SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}\. Nothing was unpacked/,
    );
    expect(output["Show restored"]).toBe("nothing restored\n");
  });
});
