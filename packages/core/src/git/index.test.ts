import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readAtRevision, resolveRevision, sharedFreshRun } from "./index.ts";

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

describe("sharedFreshRun", () => {
  it("starts one run for callers that arrive while one runs, and never answers a caller from a run that started before it", async () => {
    const started: number[] = [];
    let clock = 0;
    const release: (() => void)[] = [];
    const fn = () => {
      const at = ++clock;
      started.push(at);
      return new Promise<number>((ok) => release.push(() => ok(at)));
    };
    const first = sharedFreshRun("k", fn);
    const calledAt = ++clock;
    const later = Array.from({ length: 10 }, () => sharedFreshRun("k", fn));
    expect(started).toEqual([1]);
    release.shift()!();
    expect(await first).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 3]);
    release.shift()!();
    const answers = await Promise.all(later);
    expect(new Set(answers)).toEqual(new Set([3]));
    expect(answers.every((a) => a > calledAt)).toBe(true);
    // Idle again: the next caller starts a run of its own at once.
    const alone = sharedFreshRun("k", fn);
    expect(started).toEqual([1, 3, 4]);
    release.shift()!();
    expect(await alone).toBe(4);
  });

  it("gives the callers of a failed run its error, and the next caller a new run", async () => {
    await expect(sharedFreshRun("e", () => Promise.reject(new Error("remote hung up")))).rejects.toThrow(
      "remote hung up",
    );
    await expect(sharedFreshRun("e", async () => "ok")).resolves.toBe("ok");
  });
});

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
