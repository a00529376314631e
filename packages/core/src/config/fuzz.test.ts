/**
 * Garbage in, diagnostics out: random mutations of the corpus configs (deleted keys and
 * lines, swapped types, truncation, shuffled indentation) never make the engine throw; each
 * either compiles or fails with errors that carry a line number. Seeded, so failures repeat.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CORPUS } from "../../../../test/corpus.ts";
import { fixtureOrbs } from "./fixtures/orbs.ts";
import { compileConfig, processConfig } from "./index.ts";
import { pipeline } from "./testing.ts";

const DIR = `${CORPUS}/configs/`;
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const orbs = fixtureOrbs();

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REPLACEMENTS = [
  "[]",
  "{}",
  "42",
  "-1",
  "true",
  "null",
  '"<< parameters.nope >>"',
  "[1, [2, {a: b}]]",
  "~",
  "*nope",
];

function textMutation(src: string, r: () => number): string {
  const lines = src.split("\n");
  const i = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 6)) {
    case 0:
      return src.slice(0, Math.floor(r() * src.length));
    case 1:
      lines.splice(i, 1 + Math.floor(r() * 3));
      return lines.join("\n");
    case 2: {
      const line = lines[i] ?? "";
      const colon = line.indexOf(":");
      const rep = REPLACEMENTS[Math.floor(r() * REPLACEMENTS.length)]!;
      lines[i] = colon >= 0 ? `${line.slice(0, colon + 1)} ${rep}` : `${line.replace(/\S.*$/, "")}- ${rep}`;
      return lines.join("\n");
    }
    case 3:
      lines[i] = `  ${lines[i] ?? ""}`;
      return lines.join("\n");
    case 4:
      lines.splice(i, 0, lines[Math.floor(r() * lines.length)] ?? "");
      return lines.join("\n");
    default:
      return src
        .replace(/<< ?parameters\.[\w-]+ ?>>/, "<< parameters.missing >>")
        .replace("requires:", "requires: [ghost]\n#");
  }
}

/** Structural mutation: parse, change one random node (delete, swap type), print again. */
function treeMutation(parsed: unknown, r: () => number): string {
  const doc = structuredClone(parsed);
  const containers: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v))
      for (const [i, x] of v.entries()) {
        containers.push([v, i]);
        walk(x);
      }
    else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        containers.push([v as Record<string, unknown>, k]);
        walk(x);
      }
  };
  walk(doc);
  if (containers.length === 0) return "";
  const [c, k] = containers[Math.floor(r() * containers.length)]!;
  const swaps: unknown[] = [[], {}, 0, 3.5, true, null, "x", ["checkout"], { run: 1 }];
  if (r() < 0.4) {
    if (Array.isArray(c)) c.splice(k as number, 1);
    else delete c[k as string];
  } else if (Array.isArray(c)) c[k as number] = swaps[Math.floor(r() * swaps.length)];
  else c[k as string] = swaps[Math.floor(r() * swaps.length)];
  return stringify(doc, { aliasDuplicateObjects: false });
}

describe("fuzzing the config engine with mutated corpus configs", () => {
  const PER_FILE = 4;
  it(`survives ${PER_FILE * 2} mutations of each of the ${files.length} corpus files`, async () => {
    let compiledOk = 0;
    let rejected = 0;
    for (const [n, file] of files.entries()) {
      const src = readFileSync(DIR + file, "utf8");
      const parsed: unknown = parse(src, { merge: true });
      const r = rng(1000 + n);
      for (let i = 0; i < PER_FILE * 2; i++) {
        const mutated = i % 2 === 0 ? textMutation(src, r) : treeMutation(parsed, r);
        const over = r() < 0.3 ? { tag: "v1.0.0" } : { branch: r() < 0.5 ? "main" : "dev" };
        const result = await compileConfig(mutated, { pipeline: pipeline(over), orbs });
        if (result.ok) {
          compiledOk++;
          continue;
        }
        rejected++;
        expect(result.errors.length, `${file} #${i}`).toBeGreaterThan(0);
        for (const e of result.errors) {
          expect(e.message, `${file} #${i}`).not.toMatch(/internal error/);
          expect(e.line, `${file} #${i}: ${JSON.stringify(e)}`).toBeGreaterThan(0);
        }
      }
    }
    // Both outcomes occur: the mutations are neither all harmless nor all fatal.
    expect(compiledOk).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  it("never throws on arbitrary text", async () => {
    const r = rng(7);
    const alphabet = "version: 2.1\njobs:workflows- []{}&*<<>>!|'\"#\t  requires";
    for (let i = 0; i < 200; i++) {
      let s = "";
      const len = Math.floor(r() * 200);
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(r() * alphabet.length)];
      const result = await compileConfig(s, { pipeline: pipeline() });
      if (!result.ok) for (const e of result.errors) expect(e.message).not.toMatch(/internal error/);
      const p = await processConfig(s, { pipeline: pipeline() });
      expect(typeof p.ok).toBe("boolean");
    }
  });

  it("stops runaway expansion (a command that invokes itself, alias bombs)", async () => {
    const self = await compileConfig(
      "version: 2.1\ncommands:\n  loop: { steps: [loop] }\njobs:\n  a: { docker: [{image: a}], steps: [loop] }\nworkflows: { w: { jobs: [a] } }\n",
      { pipeline: pipeline() },
    );
    expect(!self.ok && self.errors[0]!.message).toMatch(/nest deeper than/);
    const bomb = [
      "version: 2.1",
      "commands:",
      "  c0: { steps: [{ run: x }, { run: y }] }",
      ...Array.from({ length: 30 }, (_, i) => `  c${i + 1}: { steps: [c${i}, c${i}] }`),
      "jobs:",
      "  a: { docker: [{image: a}], steps: [c30] }",
      "workflows: { w: { jobs: [a] } }",
    ].join("\n");
    const started = Date.now();
    const r = await compileConfig(bomb, { pipeline: pipeline() });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(!r.ok && r.errors.some((e) => /too many steps/.test(e.message))).toBe(true);
  });
});
