/**
 * What the benchmarks that drive the local runtime share: statistics and formatting, a local
 * git repository holding one config, and a small JSON client for the runtime's API.
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/** Epoch milliseconds with sub-millisecond resolution (server timestamps are ISO, whole ms). */
export const wall = () => performance.timeOrigin + performance.now();
export const at = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / (values.length || 1);
export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/** A git repository at `repo` with `.circleci/config.yml` = `config` committed on `main`. */
export async function configRepo(repo: string, config: string, message = "bench"): Promise<string> {
  await mkdir(join(repo, ".circleci"), { recursive: true });
  await writeFile(join(repo, ".circleci/config.yml"), config);
  const git = (...a: string[]) =>
    execFileSync("git", ["-c", "user.name=Bench", "-c", "user.email=bench@localhost", ...a], { cwd: repo });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-q", "-m", message);
  return repo;
}

/** A JSON client for the runtime's API with its admin token; a non-2xx answer throws. */
export function apiClient(url: string, token: string) {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "Circle-Token": token, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}
