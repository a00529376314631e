/**
 * The orb registry against a real S3 wire protocol: s3rver (the local runtime's stand-in),
 * reached through the real AWS SDK client. Nothing is mocked.
 */

import { rmSync } from "node:fs";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileConfig } from "../config/index.ts";
import { pipeline } from "../config/testing.ts";
import { createGyre, type Gyre } from "../context.ts";
import { GyreError } from "../error.ts";
import type { Resources } from "../resources.ts";
import { LocalKeyPort } from "../secret/index.ts";
import { testBucket } from "../store/test-table.ts";
import { listOrbs, orbResolver, publishOrb, S3OrbResolver } from "./index.ts";

const BUCKET = "orbs-test";
let dir: string;
let server: { close(): Promise<void> };
let gyre: Gyre;

/** A fresh context on the same bucket: another process, with caches of its own. */
function otherProcess(): Gyre {
  return createGyre(gyre.resources, new LocalKeyPort(dir), dir);
}

beforeAll(async () => {
  const bucket = await testBucket(BUCKET);
  dir = bucket.dir;
  server = bucket;
  const resources: Resources = {
    region: "us-east-1",
    tableName: "unused",
    bucketName: BUCKET,
    intakeQueueUrl: "unused",
    jobQueueUrls: {},
    stateMachineArn: "unused",
    heartbeatSeconds: 30,
    queueTimeoutSeconds: 86400,
    maxJobSeconds: 18000,
    endpoints: { s3: bucket.endpoint },
  };
  gyre = createGyre(resources, new LocalKeyPort(dir), dir);
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const orb = (message: string) => `version: 2.1
description: says things
commands:
  greet:
    parameters:
      to: { type: string, default: world }
    steps:
      - run: echo "${message} << parameters.to >>"
`;

async function errorOf(p: Promise<unknown>): Promise<GyreError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(GyreError);
  return e as GyreError;
}

describe("publishOrb", () => {
  it("stores the source at orbs/<ns>/<name>/<version>.yml, byte for byte", async () => {
    const source = orb("hello");
    expect(await publishOrb(gyre, "acme/store", "1.0.0", source)).toEqual({
      name: "acme/store",
      version: "1.0.0",
      created: true,
    });
    const out = await gyre.aws.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: "orbs/acme/store/1.0.0.yml" }),
    );
    expect(await out.Body!.transformToString("utf8")).toBe(source);
  });

  it("keeps a published version: the same source again is a no-op, a different one a conflict", async () => {
    await publishOrb(gyre, "acme/fixed", "2.0.0", orb("first"));
    expect(await publishOrb(gyre, "acme/fixed", "2.0.0", orb("first"))).toMatchObject({ created: false });
    const e = await errorOf(publishOrb(gyre, "acme/fixed", "2.0.0", orb("second")));
    expect(e.code).toBe("conflict");
    expect(e.message).toBe(
      "acme/fixed@2.0.0 is already published with different content; published versions never change, so publish a new version.",
    );
    expect(await new S3OrbResolver(otherProcess()).resolve("acme/fixed", "2.0.0")).toBe(orb("first"));
  });

  it("settles a lost race on S3's If-None-Match: the same source is a no-op, another a conflict", async () => {
    // s3rver ignores If-None-Match on PUT, so S3's answer to the second writer is played here:
    // the rival's object lands first, then this writer's conditional PUT fails with 412.
    const racing = (rival: string): Gyre => {
      const real = otherProcess();
      const s3 = {
        send: async (command: unknown) => {
          if (command instanceof PutObjectCommand) {
            expect(command.input.IfNoneMatch).toBe("*");
            await real.aws.s3.send(
              new PutObjectCommand({ ...command.input, Body: rival, IfNoneMatch: undefined }),
            );
            throw Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
              name: "PreconditionFailed",
              $metadata: { httpStatusCode: 412 },
            });
          }
          return real.aws.s3.send(command as GetObjectCommand);
        },
      };
      return { ...real, aws: { ...real.aws, s3: s3 as unknown as Gyre["aws"]["s3"] } };
    };
    const lost = await errorOf(publishOrb(racing(orb("rival")), "acme/race", "1.0.0", orb("mine")));
    expect(lost.code).toBe("conflict");
    expect(await new S3OrbResolver(otherProcess()).resolve("acme/race", "1.0.0")).toBe(orb("rival"));
    expect(await publishOrb(racing(orb("same")), "acme/race", "2.0.0", orb("same"))).toEqual({
      name: "acme/race",
      version: "2.0.0",
      created: false,
    });
  });

  it.each([
    ["acme", "1.0.0", `"acme" is not an orb name`],
    ["acme/tools/extra", "1.0.0", `"acme/tools/extra" is not an orb name`],
    ["acme/../x", "1.0.0", `"acme/../x" is not an orb name`],
    ["acme/tools", "1.0", `"1.0" is not an orb version`],
    ["acme/tools", "1.0.0-beta.1", `"1.0.0-beta.1" is not an orb version`],
    ["acme/tools", "01.0.0", `"01.0.0" is not an orb version`],
    ["acme/tools", "volatile", `"volatile" is not an orb version`],
  ])("refuses name %s version %s", async (name, version, message) => {
    const e = await errorOf(publishOrb(gyre, name, version, orb("x")));
    expect(e.code).toBe("bad_request");
    expect(e.message.startsWith(message)).toBe(true);
  });

  it("refuses a source that is not an orb, with the engine's located errors", async () => {
    const notMap = await errorOf(publishOrb(gyre, "acme/bad", "1.0.0", "- just\n- a list\n"));
    expect(notMap.message).toBe(
      "acme/bad@1.0.0 is not an orb: the source must be a YAML map with at least one of commands, jobs or executors.",
    );
    const empty = await errorOf(
      publishOrb(gyre, "acme/bad", "1.0.0", "version: 2.1\ndescription: nothing\n"),
    );
    expect(empty.code).toBe("bad_request");
    const syntax = await errorOf(publishOrb(gyre, "acme/bad", "1.0.0", "commands:\n  greet: [\n"));
    expect(syntax.message).toMatch(
      /^acme\/bad@1\.0\.0 is not a valid orb:\nacme\/bad@1\.0\.0: invalid YAML: .*\(line \d+, column \d+\)/,
    );
    const badKey = await errorOf(
      publishOrb(gyre, "acme/bad", "1.0.0", "commands:\n  greet:\n    stepz:\n      - run: echo\n"),
    );
    expect(badKey.message).toBe(
      'acme/bad@1.0.0 is not a valid orb:\ncommands.greet.stepz: unknown key "stepz" in command "greet" (line 3, column 5)',
    );
    const missingImport = await errorOf(
      publishOrb(
        gyre,
        "acme/bad",
        "1.0.0",
        "orbs:\n  base: acme/nowhere@1\ncommands:\n  c:\n    steps: [checkout]\n",
      ),
    );
    expect(missingImport.message).toBe(
      'acme/bad@1.0.0 is not a valid orb:\norbs.base: orb acme/nowhere@1 not found: no published version of acme/nowhere matches "1" (line 2, column 9)',
    );
    expect(await publishedNothing("acme/bad")).toBe(true);
  });

  it("refuses a source over 1 MiB", async () => {
    const big = `${orb("x")}# ${"x".repeat(1024 * 1024)}\n`;
    expect((await errorOf(publishOrb(gyre, "acme/big", "1.0.0", big))).code).toBe("payload_too_large");
  });
});

async function publishedNothing(name: string) {
  return !(await listOrbs(otherProcess())).some((o) => o.name === name);
}

describe("S3OrbResolver", () => {
  beforeAll(async () => {
    for (const v of ["1.0.0", "1.2.0", "1.2.7", "1.10.1", "2.0.0", "0.9.9"])
      await publishOrb(gyre, "acme/ranges", v, orb(`v${v}`));
  });

  it.each([
    ["1.2.0", "1.2.0"],
    ["1.2", "1.2.7"],
    ["1", "1.10.1"],
    ["2", "2.0.0"],
    ["0", "0.9.9"],
    ["volatile", "2.0.0"],
  ])("resolves @%s to %s through the bucket", async (range, version) => {
    expect(await new S3OrbResolver(otherProcess()).resolve("acme/ranges", range)).toBe(orb(`v${version}`));
  });

  it.each([["3"], ["1.3"], ["1.2.1"], ["dev:alpha"]])("finds nothing for @%s", async (range) => {
    expect(await new S3OrbResolver(otherProcess()).resolve("acme/ranges", range)).toBeUndefined();
  });

  it("finds nothing for an orb never published, or one whose name only starts the same", async () => {
    const resolver = new S3OrbResolver(otherProcess());
    expect(await resolver.resolve("acme/nothing", "1")).toBeUndefined();
    expect(await resolver.resolve("acme/range", "volatile")).toBeUndefined();
  });

  it("caches version lists for a while and sees a new version at once when the cached list has no match", async () => {
    const reader = otherProcess();
    const resolver = new S3OrbResolver(reader);
    await publishOrb(gyre, "acme/cached", "1.0.0", orb("one"));
    expect(await resolver.resolve("acme/cached", "1")).toBe(orb("one"));
    // Published by another process: the cached list still says 1.0.0 is the newest 1.x.
    await publishOrb(gyre, "acme/cached", "1.1.0", orb("one-one"));
    expect(await resolver.resolve("acme/cached", "1")).toBe(orb("one"));
    // An exact pin needs no list.
    expect(await resolver.resolve("acme/cached", "1.1.0")).toBe(orb("one-one"));
    // No cached match: read the list again.
    await publishOrb(gyre, "acme/cached", "2.0.0", orb("two"));
    expect(await resolver.resolve("acme/cached", "2")).toBe(orb("two"));
    // After the TTL the list is read again.
    const later = { ...reader, now: () => Date.now() + 61_000 };
    const aged = new S3OrbResolver(later);
    expect(await aged.resolve("acme/cached", "1")).toBe(orb("one-one"));
  });

  it("sees a version published in the same process at once", async () => {
    const resolver = orbResolver(gyre);
    await publishOrb(gyre, "acme/local", "1.0.0", orb("one"));
    expect(await resolver.resolve("acme/local", "1")).toBe(orb("one"));
    await publishOrb(gyre, "acme/local", "1.0.1", orb("two"));
    expect(await resolver.resolve("acme/local", "1")).toBe(orb("two"));
  });

  it("lists every orb with its versions in semver order", async () => {
    const all = await listOrbs(otherProcess());
    expect(all.find((o) => o.name === "acme/ranges")).toEqual({
      name: "acme/ranges",
      versions: ["0.9.9", "1.0.0", "1.2.0", "1.2.7", "1.10.1", "2.0.0"],
    });
    const names = all.map((o) => o.name);
    expect(names).toEqual([...names].sort());
  });

  it("serves the config engine: a registry orb compiles, a missing one is the engine's missing-orb error", async () => {
    const resolver = new S3OrbResolver(otherProcess());
    const ok = await compileConfig(
      `version: 2.1
orbs:
  r: acme/ranges@1.2
jobs:
  build:
    machine: true
    steps:
      - r/greet:
          to: gyre
`,
      { pipeline: pipeline(), orbs: resolver },
    );
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    const step = ok.config.workflows[0]!.jobs[0]!.plan!.steps[0]!;
    expect(step).toMatchObject({ type: "run", command: 'echo "v1.2.7 gyre"' });

    const missing = await compileConfig(
      "version: 2.1\norbs:\n  r: acme/absent@1.0.0\njobs:\n  build:\n    machine: true\n    steps: [checkout]\n",
      { pipeline: pipeline(), orbs: resolver },
    );
    expect(missing).toMatchObject({
      ok: false,
      errors: [
        {
          path: "orbs.r",
          message: 'orb acme/absent@1.0.0 not found: no published version of acme/absent matches "1.0.0"',
          line: 3,
          column: 6,
        },
      ],
    });
  });
});
