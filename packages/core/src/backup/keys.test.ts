/**
 * The object keys a local restore writes (keys.ts): only those Gyre's own key builders make,
 * never one that s3rver's key-to-path mapping would take out of the data directory.
 */
import { describe, expect, it } from "vitest";
import { AuditObjects } from "../audit/index.ts";
import { ORB_PREFIX } from "../orb/index.ts";
import { PipelineConfigKeys } from "../pipeline/config.ts";
import { RETENTION_PREFIXES } from "../retention/periods.ts";
import { ArtifactKeys } from "../storage/artifacts.ts";
import { CacheKeys } from "../storage/caches.ts";
import { TestResultKeys } from "../storage/test-results.ts";
import { WorkspaceKeys } from "../storage/workspaces.ts";
import { usageKeys } from "../usage/delivery.ts";
import { BackupArchiveError } from "./archive.ts";
import { checkObjectKeys, objectKeyProblem, RESTORABLE_PREFIXES } from "./keys.ts";
import type { Manifest } from "./manifest.ts";

const JOB = "0195f0a2-7c1e-7b3a-9d4e-2f6a1b8c9d0e";

describe("the object keys a restore writes", () => {
  it("are every key Gyre's modules build", () => {
    const keys = [
      `${RETENTION_PREFIXES.output}${JOB}/1/0/0000/00000001`,
      `${RETENTION_PREFIXES.output}${JOB}/1/0/steps.json`,
      ArtifactKeys.object(JOB, 1, 0, "out/report dir/é.txt"),
      TestResultKeys.object(JOB, 1, 0),
      CacheKeys.archive("gh/acme/app", "v1-deps-{{ checksum }}-abc"),
      CacheKeys.meta("gh/acme/app", "v1-deps"),
      WorkspaceKeys.archive(JOB, "build/linux", 2),
      WorkspaceKeys.meta(JOB, "..", 2),
      PipelineConfigKeys.created(JOB),
      PipelineConfigKeys.continuation(JOB),
      AuditObjects.parked(JOB),
      AuditObjects.hourFile("2026-03-01T12"),
      AuditObjects.marker,
      ...Object.values(usageKeys("2026-W09")),
      `${ORB_PREFIX}acme/tools/1.2.3.yml`,
    ];
    for (const key of keys) expect(objectKeyProblem(key), key).toBeUndefined();
    for (const prefix of RESTORABLE_PREFIXES) expect(prefix).toMatch(/^[a-z-]+\/$/);
  });

  it("refuse what would leave the bucket's directory, or that Gyre never writes", () => {
    const refused: [string, RegExp][] = [
      ["", /empty/],
      ["../../../escaped/x", /segment/],
      ["output/../../x", /segment/],
      ["output/./x", /segment/],
      ["output/a/..", /segment/],
      ["output//x", /segment/],
      ["output/x/", /segment/],
      ["/output/x", /starts with \//],
      ["output\\..\\..\\x", /backslash/],
      ["output/a\u0000", /control/],
      ["output/a\u001b[31m", /control/],
      ["output/a\u007f", /control/],
      ["output/a\u0085", /control/],
      [`output/${"é".repeat(509)}`, /longer than 1024 bytes/],
      ["backups/gyre-prod.json", /none of the prefixes/],
      ["dynamodb/000001.ldb", /none of the prefixes/],
      ["outputs/x", /none of the prefixes/],
      ["output", /none of the prefixes/],
    ];
    for (const [key, why] of refused) expect(objectKeyProblem(key), JSON.stringify(key)).toMatch(why);
    // Exactly 1024 bytes is S3's limit, and allowed.
    expect(objectKeyProblem(`output/${"a".repeat(1017)}`)).toBeUndefined();
  });

  it("a manifest with one bad key is refused whole, with a clear message", () => {
    const entry = (key: string, n: number) => ({
      kind: "object" as const,
      name: `bucket/${String(n).padStart(6, "0")}`,
      key,
      bytes: 0,
      sha256: "0".repeat(64),
    });
    const manifest = {
      entries: [entry("output/a", 1), entry("../../../escaped/x", 2), entry("output/b", 3)],
    } as unknown as Manifest;
    expect(() => checkObjectKeys(manifest, "/tmp/b.tar.gz")).toThrow(BackupArchiveError);
    expect(() => checkObjectKeys(manifest, "/tmp/b.tar.gz")).toThrow(
      '/tmp/b.tar.gz is refused: its manifest names the object key "../../../escaped/x", which Gyre never writes ' +
        '(it has an empty, "." or ".." path segment). It is not a backup Gyre made, or it was altered: nothing was restored.',
    );
  });
});
