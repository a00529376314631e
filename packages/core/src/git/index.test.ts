import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readAtRevision, resolveRevision } from "./index.ts";

function repository() {
  const dir = mkdtempSync(join(tmpdir(), "gyre-git-"));
  const repo = join(dir, "repo");
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=T", "-c", "user.email=t@localhost", ...args], {
      cwd: repo,
      encoding: "utf8",
    }).trim();
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  const commit = (content: string) => {
    writeFileSync(join(repo, "file.txt"), content);
    git("add", "-A");
    git("commit", "-q", "-m", `set ${content}`);
    return git("rev-parse", "HEAD");
  };
  return { scratch: join(dir, "scratch"), repo: { url: repo }, commit };
}

describe("resolveRevision", () => {
  it("answers a burst of triggers for one branch with its head, and a caller after a push with the new head", async () => {
    const { scratch, repo, commit } = repository();
    const first = commit("one");
    const burst = await Promise.all(
      Array.from({ length: 12 }, () => resolveRevision(scratch, repo, { branch: "main" })),
    );
    expect(new Set(burst)).toEqual(new Set([first]));
    const before = resolveRevision(scratch, repo, { branch: "main" });
    const second = commit("two");
    const after = resolveRevision(scratch, repo, { branch: "main" });
    expect([first, second]).toContain(await before);
    expect(await after).toBe(second);
  });
});

describe("readAtRevision", () => {
  it("reads a file as it was at each commit, the older one after the branch moved on", async () => {
    const { scratch, repo, commit } = repository();
    const one = commit("one");
    const two = commit("two");
    expect((await readAtRevision(scratch, repo, two, "file.txt")).file).toBe("two");
    expect(await readAtRevision(scratch, repo, one, "file.txt")).toEqual({
      file: "one",
      subject: "set one",
      body: "",
    });
    expect((await readAtRevision(scratch, repo, one, "file.txt")).file).toBe("one");
    expect((await readAtRevision(scratch, repo, one, "missing.txt")).file).toBeUndefined();
  });
});
