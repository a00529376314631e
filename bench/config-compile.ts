/**
 * Config engine throughput: compile every corpus config N times (registry orbs from the
 * test fixtures, in memory) and, in the same run, the floor: parsing the same files with
 * the `yaml` package alone. Prints configs/s, p50/p95 per config, and the ratio.
 *
 *   node --import tsx bench/config-compile.ts [rounds]
 */
import { readdirSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { fixtureOrbs } from "../packages/core/src/config/fixtures/orbs.ts";
import { compileConfig } from "../packages/core/src/config/index.ts";
import type { PipelineValues } from "../packages/core/src/config/plan.ts";
import { CORPUS } from "../test/corpus.ts";

const DIR = `${CORPUS}/configs/`;
const rounds = Number(process.argv[2] ?? 30);
const sources = readdirSync(DIR)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => ({ file: f, text: readFileSync(DIR + f, "utf8") }));
const orbs = fixtureOrbs();
const pipeline: PipelineValues = {
  id: "5034460f-c7c4-4c43-9457-de07e2029e7b",
  number: 1,
  branch: "main",
  revision: "f3ac6b1b0b2f4a3c9e1f8d2a7c5b4e6d9f0a1b2c",
  gitUrl: "https://github.com/acme/widgets",
  projectType: "github",
  triggerSource: "webhook",
};

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(label: string, fn: (text: string) => unknown | Promise<unknown>) {
  // Warm up (JIT) before timing.
  for (let i = 0; i < 3; i++) for (const s of sources) await fn(s.text);
  const times: number[] = [];
  const start = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const s of sources) {
      const t = performance.now();
      await fn(s.text);
      times.push(performance.now() - t);
    }
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  const perSec = (times.length / total) * 1000;
  console.log(
    `${label.padEnd(28)} ${perSec.toFixed(0).padStart(6)} configs/s   p50 ${pct(times, 50).toFixed(3)} ms   p95 ${pct(times, 95).toFixed(3)} ms`,
  );
  return { perSec, p95: pct(times, 95), total };
}

let failures = 0;
for (const s of sources) {
  const r = await compileConfig(s.text, { pipeline, orbs });
  if (!r.ok) {
    failures++;
    console.error(`${s.file}: ${r.errors[0]?.message}`);
  }
}
console.log(`${sources.length} corpus configs (${failures} failing), ${rounds} rounds each`);
const floor = await measure("yaml parse (floor)", (text) => parse(text, { merge: true }));
const full = await measure("compileConfig", (text) => compileConfig(text, { pipeline, orbs }));
console.log(`ratio compile / parse floor: ${(full.total / floor.total).toFixed(2)}x (goal: within 3x)`);
