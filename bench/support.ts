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

export interface BurstAnswer {
  /** Wall-clock ms (performance.timeOrigin based, comparable across threads). */
  sent: number;
  answered: number;
  /** HTTP status; 0 when the request failed without an answer. */
  status: number;
  body: string;
}

/**
 * Sends `n` identical JSON POSTs to `url`, `concurrency` in flight, from a worker thread with
 * its own event loop and keep-alive connections: the client's work does not run on the event
 * loop of the server it measures (a real client is another process). Plain JavaScript (eval'd)
 * so that the worker needs no loader.
 */
export async function burst(
  url: string,
  headers: Record<string, string>,
  body: unknown,
  n: number,
  concurrency: number,
): Promise<BurstAnswer[]> {
  const { Worker } = await import("node:worker_threads");
  const code = `
const http = require("node:http");
const { parentPort, workerData: w } = require("node:worker_threads");
const { performance } = require("node:perf_hooks");
const wall = () => performance.timeOrigin + performance.now();
const agent = new http.Agent({ keepAlive: true, maxSockets: w.concurrency });
const payload = JSON.stringify(w.body);
const one = () => new Promise((done) => {
  const a = { sent: wall(), answered: 0, status: 0, body: "" };
  const req = http.request(w.url, { method: "POST", agent, headers: { ...w.headers, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } }, (res) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c) => (text += c));
    res.on("end", () => { a.answered = wall(); a.status = res.statusCode; a.body = text; done(a); });
  });
  req.on("error", (e) => { a.answered = wall(); a.body = e.message; done(a); });
  req.end(payload);
});
(async () => {
  const answers = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(w.concurrency, w.n) }, async () => {
    while (next < w.n) { next++; answers.push(await one()); }
  }));
  agent.destroy();
  parentPort.postMessage(answers);
})();
`;
  const worker = new Worker(code, { eval: true, workerData: { url, headers, body, n, concurrency } });
  try {
    return await new Promise<BurstAnswer[]>((ok, fail) => {
      worker.once("message", ok);
      worker.once("error", fail);
      worker.once("exit", (code) => fail(new Error(`The burst client exited with code ${code}.`)));
    });
  } finally {
    await worker.terminate();
  }
}
