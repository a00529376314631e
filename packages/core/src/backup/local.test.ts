/**
 * What `gyre restore --force` may replace (isGyreDataDir), and how the restored data takes the
 * place of the old (replaceDataDir): a failure at any rename leaves the old directory as it was.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { isGyreDataDir, replaceDataDir, stagingDirFor } from "./local.ts";

const dir = () => mkdtempSync(join(tmpdir(), "gyre-local-"));

/** Every file under `root`, with its content: what a directory holds, to compare. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path, name);
      else out[name] = readFileSync(path, "utf8");
    }
  };
  walk(root, "");
  return out;
}

function oldInstallation(): string {
  const data = join(dir(), "data");
  mkdirSync(join(data, "dynamodb"), { recursive: true });
  writeFileSync(join(data, "dynamodb", "000001.ldb"), "old table");
  mkdirSync(join(data, "s3", "gyre"), { recursive: true });
  writeFileSync(join(data, "s3", "gyre", "obj"), "old object");
  writeFileSync(join(data, "admin-token"), "old admin");
  writeFileSync(join(data, "master.key"), "key");
  mkdirSync(join(data, "work", "job"), { recursive: true });
  writeFileSync(join(data, "work", "job", "f"), "scratch");
  writeFileSync(join(data, "builder-ca.pem"), "ca");
  return data;
}

async function restoredInto(data: string): Promise<string> {
  const staging = await stagingDirFor(data);
  expect(dirname(staging)).toBe(dirname(data));
  mkdirSync(join(staging, "dynamodb"));
  writeFileSync(join(staging, "dynamodb", "000001.ldb"), "new table");
  mkdirSync(join(staging, "s3"));
  writeFileSync(join(staging, "admin-token"), "new admin");
  writeFileSync(join(staging, "master.key"), "key");
  return staging;
}

const REPLACED = [
  "dynamodb",
  "s3",
  "admin-token",
  "builder-token",
  "runtime.json",
  "work",
  "repos",
  "examples",
];

describe("gyre restore --force", () => {
  it("replaces only a Gyre data directory (dynamodb/ or master.key)", async () => {
    const other = dir();
    writeFileSync(join(other, "thesis.tex"), "x");
    mkdirSync(join(other, "work"));
    expect(await isGyreDataDir(other)).toBe(false);
    // A file named dynamodb is not the store.
    writeFileSync(join(other, "dynamodb"), "x");
    expect(await isGyreDataDir(other)).toBe(false);
    expect(await isGyreDataDir(oldInstallation())).toBe(true);
    const keyOnly = dir();
    writeFileSync(join(keyOnly, "master.key"), "k");
    expect(await isGyreDataDir(keyOnly)).toBe(true);
    expect(await isGyreDataDir(join(other, "missing"))).toBe(false);
  });

  it("moves the restored data in, the old aside and then away, keeping what it does not replace", async () => {
    const data = oldInstallation();
    const staging = await restoredInto(data);
    await replaceDataDir(staging, data, REPLACED);
    expect(tree(data)).toEqual({
      "dynamodb/000001.ldb": "new table",
      "admin-token": "new admin",
      "master.key": "key",
      "builder-ca.pem": "ca",
    });
    // Neither the staging directory nor the old contents are left beside it.
    expect(readdirSync(dirname(data))).toEqual(["data"]);
  });

  it("becomes the data directory when there is none", async () => {
    const data = join(dir(), "new");
    const staging = await restoredInto(data);
    await replaceDataDir(staging, data, REPLACED);
    expect(tree(data)["dynamodb/000001.ldb"]).toBe("new table");
    expect(readdirSync(dirname(data))).toEqual(["new"]);
  });

  it("leaves the old installation as it was when any rename fails", async () => {
    // Fail at each rename in turn: while moving the old aside, and while moving the new in.
    for (let failAt = 1; ; failAt++) {
      const data = oldInstallation();
      const before = tree(data);
      const staging = await restoredInto(data);
      let calls = 0;
      const failing = async (from: string, to: string) => {
        if (++calls === failAt) throw Object.assign(new Error("EIO: the disk said no"), { code: "EIO" });
        await rename(from, to);
      };
      const result = await replaceDataDir(staging, data, REPLACED, { rename: failing }).then(
        () => "done",
        (error: Error) => error.message,
      );
      if (result === "done") {
        expect(failAt).toBeGreaterThan(5);
        break;
      }
      expect(result).toMatch(
        /Moving the restored data into .* failed \(EIO: the disk said no\): .* is as it was\./,
      );
      expect(tree(data), `failing rename ${failAt}`).toEqual(before);
      expect(readdirSync(dirname(data)), `failing rename ${failAt}`).toEqual(["data"]);
    }
  });
});
