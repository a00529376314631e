/**
 * What `gyre backup` and `gyre restore` refuse before any work: an archive that cannot be read,
 * an `--out` in a directory that does not exist, a directory, or a file already there without
 * `--force`. Nothing is written, nothing is started (the backups themselves: test/backup.e2e).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { backupCommand, restoreCommand } from "./backup-command.ts";

const print = () => {};
const temp = () => mkdtempSync(join(tmpdir(), "gyre-backup-cli-"));
/** A directory a backup takes for a data directory (it has dynamodb/), with nothing in its store. */
function dataDir(): string {
  const dir = temp();
  mkdirSync(join(dir, "dynamodb"));
  return dir;
}

describe("gyre restore <archive>", () => {
  it("says the archive cannot be read, naming it, and writes nothing, when it does not exist", async () => {
    const root = temp();
    const missing = join(root, "nope.tar.gz");
    const target = join(root, "restored");
    await expect(restoreCommand(missing, { dataDir: target }, print)).rejects.toThrow(
      `Cannot read the archive ${missing}: there is no such file.`,
    );
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses a directory given as the archive", async () => {
    const root = temp();
    await expect(restoreCommand(root, { dataDir: join(root, "restored") }, print)).rejects.toThrow(
      `Cannot read the archive ${root}: it is not a file`,
    );
    expect(readdirSync(root)).toEqual([]);
  });

  it("exits 1 with the message on stderr from the command line, not with a stack trace", () => {
    const root = temp();
    const main = resolve(import.meta.dirname, "main.ts");
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", main, "restore", join(root, "nope.tar.gz"), "--data-dir", join(root, "x")],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe(
      `gyre: Cannot read the archive ${join(root, "nope.tar.gz")}: there is no such file.`,
    );
  });
});

describe("gyre backup --out", () => {
  it("refuses a directory that does not exist, and makes none", async () => {
    const root = temp();
    const out = join(root, "no", "such", "dir", "backup.tar.gz");
    await expect(backupCommand({ dataDir: dataDir(), out }, print)).rejects.toThrow(
      `--out ${out}: the directory ${join(root, "no", "such", "dir")} does not exist. Create it first, or give another --out.`,
    );
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses a file already there without --force, and leaves it as it was", async () => {
    const root = temp();
    const out = join(root, "backup.tar.gz");
    writeFileSync(out, "last week's backup");
    await expect(backupCommand({ dataDir: dataDir(), out }, print)).rejects.toThrow(
      `--out ${out} exists already: give another --out, or --force to replace it.`,
    );
    expect(readFileSync(out, "utf8")).toBe("last week's backup");
    expect(readdirSync(root)).toEqual(["backup.tar.gz"]);
  });

  it("refuses a directory as --out, even with --force", async () => {
    const root = temp();
    await expect(backupCommand({ dataDir: dataDir(), out: root, force: true }, print)).rejects.toThrow(
      `--out ${root} is a directory: give the archive's file name.`,
    );
    expect(existsSync(root)).toBe(true);
  });
});
