import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import type { Gyre } from "../context.ts";
import type { AllocationRef } from "../dispatch/index.ts";
import { GyreError } from "../error.ts";
import type { Job } from "../job/index.ts";
import {
  checkAllocation,
  commitUpload,
  GRANT_SECONDS,
  grantCacheDownload,
  grantUpload,
  MAX_NAME_BYTES,
  StorageKeys,
  uploadKey,
  upstreamJobs,
  validateCacheKey,
  validateRelativeName,
} from "./index.ts";

const NOW = Date.parse("2024-01-02T03:04:05Z");

const ref: AllocationRef = { workflowId: "wf-1", jobName: "build", jobId: "job-1", attempt: 2, index: 1 };

function job(overrides: Partial<Job> = {}): Job {
  return {
    id: "job-1",
    number: 7,
    name: "build",
    type: "build",
    status: "running",
    projectSlug: "gh/acme/api",
    pipelineId: "p-1",
    pipelineNumber: 3,
    workflowId: "wf-1",
    workflowName: "main",
    requires: [],
    contexts: [],
    checkout: { repoUrl: "https://example.com/r.git", revision: "a".repeat(40), branch: "main" },
    pipeline: {
      id: "p-1",
      number: 3,
      branch: "main",
      revision: "a".repeat(40),
      gitUrl: "https://example.com/r.git",
      projectType: "github",
      triggerSource: "webhook",
    },
    attempt: 2,
    retries: 0,
    allocations: { "0": { status: "success", nodeId: "n-0" }, "1": { status: "running", nodeId: "node-a" } },
    createdAt: "2024-01-01T00:00:00Z",
    updatedAt: 0,
    ...overrides,
  };
}

interface FakeS3 {
  objects: Map<string, { body: string; contentType?: string }>;
  calls: string[];
}

/** A Gyre whose DynamoDB answers `item` and whose S3 keeps objects in a map; presigning is real. */
function fakeGyre(item: Job | undefined): { gyre: Gyre; s3: FakeS3 } {
  const s3 = new S3Client({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:4569",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  const fake: FakeS3 = { objects: new Map(), calls: [] };
  const missing = () => Object.assign(new Error("NoSuchKey"), { name: "NoSuchKey" });
  (s3 as unknown as { send: (c: unknown) => Promise<unknown> }).send = async (command) => {
    const name = (command as object).constructor.name.replace(/Command$/, "");
    const input = (command as { input: { Key?: string; Body?: string; ContentType?: string } }).input;
    fake.calls.push(`${name} ${input.Key}`);
    const object = input.Key ? fake.objects.get(input.Key) : undefined;
    switch (name) {
      case "GetObject":
        if (!object) throw missing();
        return { Body: { transformToString: async () => object.body }, ContentType: object.contentType };
      case "HeadObject":
        if (!object) throw Object.assign(new Error("NotFound"), { name: "NotFound" });
        return { ContentLength: Buffer.byteLength(object.body) };
      case "PutObject":
        fake.objects.set(input.Key!, { body: String(input.Body), contentType: input.ContentType });
        return {};
      default:
        throw new Error(`unexpected S3 call ${name}`);
    }
  };
  const gyre = {
    resources: {
      bucketName: "gyre",
      tableName: "gyre",
      region: "us-east-1",
      endpoints: { s3: "http://127.0.0.1:4569" },
    },
    aws: {
      // The job for a job's key; no other item (the settings: their defaults).
      dynamo: {
        send: async (c: { input: { Key?: { sk?: string } } }) => ({
          Item: c.input.Key?.sk?.startsWith("JOB#") ? item : undefined,
        }),
      },
      s3,
    },
    now: () => NOW,
  } as unknown as Gyre;
  return { gyre, s3: fake };
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof GyreError ? error.code : "not a GyreError";
  }
  return "no error";
};

describe("validateRelativeName", () => {
  it.each([
    "a.txt",
    "out/reports/index.html",
    "deep/a b/ümlaut.png",
    "x".repeat(MAX_NAME_BYTES),
    ".hidden/a..b",
  ])("accepts %j", (name) => {
    expect(validateRelativeName(name)).toBe(name);
  });

  it.each([
    "",
    "/etc/passwd",
    "../caches/gh/other/x",
    "a/../../b",
    "a/./b",
    ".",
    "..",
    "a//b",
    "a/",
    "a\\b",
    "a\u0000b",
    "line\nbreak",
    "x".repeat(MAX_NAME_BYTES + 1),
    "é".repeat(MAX_NAME_BYTES / 2 + 1),
    42,
    undefined,
  ])("refuses %j with 400", (name) => {
    expect(code(() => validateRelativeName(name))).toBe("bad_request");
  });
});

describe("validateCacheKey", () => {
  it.each(["v1-deps-abc", "v1-deps-feature/x-Zm9v+Lw==", "k".repeat(900)])("accepts %j", (key) => {
    expect(validateCacheKey(key)).toBe(key);
  });

  it.each(["", "k".repeat(901), "a/../b", "..", "../other", "a\tb", null])("refuses %j with 400", (key) => {
    expect(code(() => validateCacheKey(key))).toBe("bad_request");
  });
});

describe("checkAllocation", () => {
  it("accepts the running allocation on its own node", () => {
    expect(() => checkAllocation(job(), ref, "node-a")).not.toThrow();
  });

  it.each([
    ["another node", job(), { ...ref }, "node-b"],
    ["an earlier attempt", job(), { ...ref, attempt: 1 }, "node-a"],
    ["a finished allocation", job(), { ...ref, index: 0 }, "n-0"],
    ["an unknown index", job(), { ...ref, index: 5 }, "node-a"],
    ["another job's id", job({ id: "job-2" }), { ...ref }, "node-a"],
  ])("refuses %s with 409", (_what, j, r, node) => {
    expect(code(() => checkAllocation(j, r, node))).toBe("conflict");
  });
});

describe("uploadKey: keys come from the job, only a relative name from the agent", () => {
  it.each([
    [{ kind: "artifact", name: "out/a.txt" }, "artifacts/job-1/2/1/out/a.txt"],
    [{ kind: "test_results" }, "tests/job-1/2/1.json"],
    [{ kind: "workspace" }, "workspaces/wf-1/build/1.tar.gz"],
    [{ kind: "cache", name: "v1-deps-x" }, "caches/gh/acme/api/v1-deps-x.tar.gz"],
  ] as const)("%j → %s", (request, key) => {
    expect(uploadKey(job(), ref, request)).toBe(key);
  });

  it("ignores a name for kinds that take none", () => {
    expect(uploadKey(job(), ref, { kind: "test_results", name: "../../other.json" })).toBe(
      "tests/job-1/2/1.json",
    );
  });

  it("escapes a job name that would be a dot segment", () => {
    expect(StorageKeys.workspace("wf", "..", 0)).toBe("workspaces/wf/%2E%2E/0.tar.gz");
    expect(StorageKeys.workspace("wf", "a/b", 0)).toBe("workspaces/wf/a%2Fb/0.tar.gz");
  });

  it("refuses a name whose storage key would exceed S3's 1024 bytes", () => {
    expect(code(() => uploadKey(job(), ref, { kind: "cache", name: "é".repeat(500) }))).toBe("bad_request");
  });

  it("refuses an unknown kind", () => {
    expect(code(() => uploadKey(job(), ref, { kind: "output" as never }))).toBe("bad_request");
  });
});

describe("grantUpload", () => {
  it("presigns a PUT valid for 15 minutes, with the content type signed", async () => {
    const { gyre } = fakeGyre(job());
    const grant = await grantUpload(gyre, ref, "node-a", {
      kind: "artifact",
      name: "out/index.html",
      contentType: "text/html",
    });
    if (grant.exists) throw new Error("unexpected");
    expect(GRANT_SECONDS).toBe(900);
    const url = new URL(grant.url);
    expect(url.pathname).toBe("/gyre/artifacts/job-1/2/1/out/index.html");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-Date")).toBe("20240102T030405Z");
    expect(url.searchParams.get("X-Amz-SignedHeaders")?.split(";")).toContain("content-type");
    // No checksum of an empty body signed into the URL (S3 would refuse the real upload).
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(grant.method).toBe("PUT");
    expect(grant.headers).toEqual({ "content-type": "text/html" });
    expect(grant.expiresAt).toBe("2024-01-02T03:19:05.000Z");
  });

  it("presigns a GET for a committed cache that expires with the grant", async () => {
    const { gyre, s3 } = fakeGyre(job());
    s3.objects.set(StorageKeys.cacheMeta("gh/acme/api", "v1-k"), {
      body: JSON.stringify({
        key: "v1-k",
        sha256: "ab".repeat(32),
        bytes: 5,
        createdAt: "x",
        jobId: "j",
        jobNumber: 1,
      }),
    });
    const download = await grantCacheDownload(gyre, "gh/acme/api", "v1-k");
    const url = new URL(download!.url);
    expect(url.pathname).toBe("/gyre/caches/gh/acme/api/v1-k.tar.gz");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(download).toMatchObject({
      method: "GET",
      sha256: "ab".repeat(32),
      expiresAt: "2024-01-02T03:19:05.000Z",
    });
    expect(await grantCacheDownload(gyre, "gh/acme/api", "v1-missing")).toBeUndefined();
  });

  it("refuses a grant to an allocation that is not running on the caller's node", async () => {
    const { gyre } = fakeGyre(job());
    await expect(grantUpload(gyre, ref, "node-b", { kind: "workspace" })).rejects.toMatchObject({
      code: "conflict",
    });
    const { gyre: gone } = fakeGyre(undefined);
    await expect(grantUpload(gone, ref, "node-a", { kind: "workspace" })).rejects.toMatchObject({
      code: "conflict",
    });
  });

  it("refuses path traversal and a malformed content type with 400", async () => {
    const { gyre } = fakeGyre(job());
    await expect(
      grantUpload(gyre, ref, "node-a", { kind: "artifact", name: "../../../caches/gh/other/repo/k.tar.gz" }),
    ).rejects.toMatchObject({ code: "bad_request" });
    await expect(
      grantUpload(gyre, ref, "node-a", {
        kind: "artifact",
        name: "a.txt",
        contentType: "text/plain\r\nX: y",
      }),
    ).rejects.toMatchObject({ code: "bad_request" });
  });

  it("answers exists for a cache key already committed, and never presigns over it", async () => {
    const { gyre, s3 } = fakeGyre(job());
    s3.objects.set(StorageKeys.cacheMeta("gh/acme/api", "v1-k"), {
      body: JSON.stringify({
        key: "v1-k",
        sha256: "ab".repeat(32),
        bytes: 5,
        createdAt: "2024-01-01T00:00:00.000Z",
        jobId: "j",
        jobNumber: 1,
      }),
    });
    expect(await grantUpload(gyre, ref, "node-a", { kind: "cache", name: "v1-k" })).toEqual({
      exists: true,
      createdAt: "2024-01-01T00:00:00.000Z",
    });
    const fresh = await grantUpload(gyre, ref, "node-a", { kind: "cache", name: "v1-other" });
    expect(fresh.exists).toBe(false);
  });
});

describe("commitUpload", () => {
  const sha256 = "ab".repeat(32);

  it("records a cache's SHA-256, size and time once the archive is there with that size", async () => {
    const { gyre, s3 } = fakeGyre(job());
    s3.objects.set("caches/gh/acme/api/v1-k.tar.gz", { body: "12345" });
    expect(
      await commitUpload(gyre, ref, "node-a", {
        kind: "cache",
        name: "v1-k",
        sha256,
        bytes: 5,
        root: "/w/x",
      }),
    ).toEqual({ stored: true });
    expect(JSON.parse(s3.objects.get("caches/gh/acme/api/v1-k.tar.gz.json")!.body)).toEqual({
      key: "v1-k",
      sha256,
      bytes: 5,
      createdAt: "2024-01-02T03:04:05.000Z",
      jobId: "job-1",
      jobNumber: 7,
      root: "/w/x",
    });
    // A second commit of the same key keeps the first.
    expect(
      await commitUpload(gyre, ref, "node-a", { kind: "cache", name: "v1-k", sha256, bytes: 5 }),
    ).toEqual({
      stored: false,
    });
  });

  it("refuses a commit whose archive is missing or of another size", async () => {
    const { gyre, s3 } = fakeGyre(job());
    await expect(
      commitUpload(gyre, ref, "node-a", { kind: "workspace", sha256, bytes: 5 }),
    ).rejects.toMatchObject({
      code: "unprocessable",
    });
    s3.objects.set("workspaces/wf-1/build/1.tar.gz", { body: "1234" });
    await expect(commitUpload(gyre, ref, "node-a", { kind: "workspace", sha256, bytes: 5 })).rejects.toThrow(
      /has 4 bytes, not 5/,
    );
  });

  it("validates the checksum, the size and the kind", async () => {
    const { gyre } = fakeGyre(job());
    for (const bad of [
      { kind: "workspace", sha256: "xyz", bytes: 1 },
      { kind: "workspace", sha256, bytes: -1 },
      { kind: "artifact", sha256, bytes: 1 },
      { kind: "cache", name: "k", sha256, bytes: 1, root: "relative" },
    ] as const) {
      await expect(commitUpload(gyre, ref, "node-a", bad)).rejects.toMatchObject({ code: "bad_request" });
    }
  });
});

describe("upstreamJobs", () => {
  const jobs = [
    { name: "lint", requires: [], stoppedAt: "2024-01-01T00:00:03Z" },
    { name: "build", requires: [], stoppedAt: "2024-01-01T00:00:05Z" },
    { name: "assets", requires: [], stoppedAt: "2024-01-01T00:00:05Z" },
    { name: "test", requires: ["build", "assets"], stoppedAt: "2024-01-01T00:00:09Z" },
    { name: "deploy", requires: ["test", "lint"] },
    { name: "other", requires: ["lint"] },
  ];

  it("lists every job required transitively, by stop time then name", () => {
    expect(upstreamJobs(jobs, "deploy").map((j) => j.name)).toEqual(["lint", "assets", "build", "test"]);
    expect(upstreamJobs(jobs, "test").map((j) => j.name)).toEqual(["assets", "build"]);
    expect(upstreamJobs(jobs, "build")).toEqual([]);
  });

  it("survives a cycle without listing the job itself", () => {
    const cyclic = [
      { name: "a", requires: ["b"] },
      { name: "b", requires: ["a"] },
    ];
    expect(upstreamJobs(cyclic, "a").map((j) => j.name)).toEqual(["b"]);
  });
});
