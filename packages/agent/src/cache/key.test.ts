import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GyreError } from "@gyre/core/error";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CacheKeyContext,
  circleArch,
  fileChecksum,
  MAX_CACHE_KEY_LENGTH,
  renderCacheKey,
} from "./key.ts";

let dir: string;
let home: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gyre-cachekey-"));
  home = join(dir, "home");
  await mkdir(join(dir, "project", "sub"), { recursive: true });
  await mkdir(home);
  await writeFile(join(dir, "project", "package-lock.json"), '{"lockfileVersion":3}\n');
  await writeFile(join(dir, "project", "sub", "Gemfile.lock"), "GEM\n");
  await writeFile(join(home, "deps.txt"), "home deps\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sha256Base64 = (text: string) => createHash("sha256").update(text).digest("base64");

function context(overrides: Partial<CacheKeyContext> = {}): CacheKeyContext {
  return {
    branch: "main",
    revision: "4f2c1e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a2",
    buildNum: 1234,
    environment: { CIRCLE_JOB: "build", NODE_VERSION: "20" },
    epoch: 1_700_000_000,
    arch: "arch1-linux-amd64-6_85",
    checksum: fileChecksum(join(dir, "project"), home),
    ...overrides,
  };
}

async function renderError(template: string, ctx = context()): Promise<GyreError> {
  const error = await renderCacheKey(template, ctx).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(GyreError);
  return error as GyreError;
}

describe("renderCacheKey", () => {
  it.each([
    ["v1-{{ .Branch }}", "v1-main"],
    ["v1-{{ .Revision }}", "v1-4f2c1e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a2"],
    ["v1-{{ .BuildNum }}", "v1-1234"],
    ["v1-{{ .Environment.CIRCLE_JOB }}-{{ .Environment.NODE_VERSION }}", "v1-build-20"],
    ["v1-{{ epoch }}", "v1-1700000000"],
    ["v1-{{ arch }}", "v1-arch1-linux-amd64-6_85"],
    ["static-key", "static-key"],
  ])("renders %s as %s", async (template, key) => {
    expect(await renderCacheKey(template, context())).toBe(key);
  });

  it("renders {{ checksum }} as base64 of the SHA-256 of the file, relative to the working directory", async () => {
    const sum = sha256Base64('{"lockfileVersion":3}\n');
    expect(await renderCacheKey('deps-{{ checksum "package-lock.json" }}', context())).toBe(`deps-${sum}`);
    expect(await renderCacheKey('g-{{ checksum "sub/Gemfile.lock" }}', context())).toBe(
      `g-${sha256Base64("GEM\n")}`,
    );
  });

  it("resolves absolute and ~ paths for checksum", async () => {
    const absolute = join(dir, "project", "package-lock.json");
    expect(await renderCacheKey(`{{ checksum "${absolute}" }}`, context())).toBe(
      sha256Base64('{"lockfileVersion":3}\n'),
    );
    expect(await renderCacheKey('{{ checksum "~/deps.txt" }}', context())).toBe(sha256Base64("home deps\n"));
  });

  it("accepts whitespace variants and Go raw strings inside the braces", async () => {
    const sum = sha256Base64('{"lockfileVersion":3}\n');
    for (const template of [
      '{{checksum "package-lock.json"}}',
      '{{   checksum    "package-lock.json"   }}',
      '{{\tchecksum "package-lock.json"\n}}',
      "{{ checksum `package-lock.json` }}",
    ]) {
      expect(await renderCacheKey(template, context()), template).toBe(sum);
    }
    expect(await renderCacheKey("{{.Branch}}-{{  .BuildNum  }}-{{epoch}}", context())).toBe(
      "main-1234-1700000000",
    );
  });

  it("honours Go trim markers", async () => {
    expect(await renderCacheKey("a  {{- .Branch -}}  b", context())).toBe("amainb");
  });

  it("renders an unset environment variable as <no value>, as CircleCI's Go templates do", async () => {
    expect(await renderCacheKey("v1-{{ .Environment.MISSING }}", context())).toBe("v1-<no value>");
  });

  it("names an unknown template function", async () => {
    const error = await renderError('v1-{{ sha1 "x" }}');
    expect(error.code).toBe("bad_request");
    expect(error.message).toBe(
      'Invalid cache key "v1-{{ sha1 "x" }}": unknown template function "sha1"; use checksum, epoch or arch.',
    );
  });

  it("names an unknown value such as .CheckoutKey", async () => {
    expect((await renderError("{{ .CheckoutKey }}")).message).toMatch(
      /unknown value \{\{ \.CheckoutKey \}\}/,
    );
  });

  it("rejects a checksum without a quoted file name", async () => {
    expect((await renderError("{{ checksum package.json }}")).message).toMatch(
      /checksum takes one quoted file name/,
    );
  });

  it("rejects an unclosed action", async () => {
    expect((await renderError("v1-{{ .Branch")).message).toMatch(/never closed/);
  });

  it("fails clearly when the checksum file is missing", async () => {
    const error = await renderError('{{ checksum "nope.lock" }}');
    expect(error.code).toBe("bad_request");
    expect(error.message).toMatch(
      /Cannot compute \{\{ checksum "nope\.lock" \}\}: .*project\/nope\.lock does not exist/,
    );
  });

  it("fails when the checksum path is a directory", async () => {
    expect((await renderError('{{ checksum "sub" }}')).message).toMatch(/is not a file/);
  });

  it(`accepts a key of ${MAX_CACHE_KEY_LENGTH} characters and rejects a longer one`, async () => {
    const limit = "k".repeat(MAX_CACHE_KEY_LENGTH);
    expect(await renderCacheKey(limit, context())).toBe(limit);
    const error = await renderError(`${limit}-{{ .Branch }}`);
    expect(error.message).toMatch(/the key is 905 characters long; the limit is 900/);
  });

  it("rejects an empty key", async () => {
    expect((await renderError("{{ .Branch }}", context({ branch: "" }))).message).toMatch(/the key is empty/);
  });
});

describe("circleArch", () => {
  it("builds CircleCI's arch1-<os>-<cpu>-<family>_<model> from /proc/cpuinfo", () => {
    const cpuinfo =
      "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\n";
    expect(circleArch(cpuinfo, "linux", "x64")).toBe("arch1-linux-amd64-6_85");
  });

  it("leaves out family and model when the CPU does not report them", () => {
    expect(circleArch("processor\t: 0\nCPU architecture: 8\n", "linux", "arm64")).toBe("arch1-linux-arm64");
  });
});
