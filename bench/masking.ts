/**
 * Output masking throughput: 100 MB of step output in 64 KiB chunks with 10 secrets, against
 * the baseline of passing the same chunks through unmasked (concatenated into one string, as
 * a log writer would). Run: `node --import tsx bench/masking.ts`.
 */
import { createMasker } from "../packages/core/src/secret/masker.ts";

const TOTAL_BYTES = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;
const ROUNDS = 3;

const secrets = Array.from({ length: 10 }, (_, i) => `s3cr3t-${i}-${"x".repeat(8 + i * 3)}-${i * 7919}`);

function makeChunks(): string[] {
  const line =
    "npm WARN deprecated some-package@1.2.3: use something else instead, see https://example.com\n";
  const base = line.repeat(Math.ceil(CHUNK / line.length)).slice(0, CHUNK);
  const chunks: string[] = [];
  for (let i = 0; i < TOTAL_BYTES / CHUNK; i++) {
    // One secret (or its base64) in every 16th chunk, some split across chunk boundaries.
    let chunk = base;
    if (i % 16 === 0) {
      const secret = secrets[i % secrets.length]!;
      const shown = i % 32 === 0 ? secret : Buffer.from(secret).toString("base64");
      const at = i % 64 === 0 ? CHUNK - 5 : 1000;
      chunk = chunk.slice(0, at) + shown + chunk.slice(at + shown.length);
      chunk = chunk.slice(0, CHUNK);
    }
    // Fresh strings so neither run benefits from an already flattened input.
    chunks.push(chunk.split("").join(""));
  }
  return chunks;
}

function time(run: () => number): { seconds: number; length: number } {
  const start = process.hrtime.bigint();
  const length = run();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, length };
}

const chunks = makeChunks();
const mb = TOTAL_BYTES / (1024 * 1024);

function baseline(): number {
  let out = "";
  for (const chunk of chunks) out += chunk;
  return out.length + out.charCodeAt(out.length - 1);
}

function masked(): number {
  const masker = createMasker(secrets);
  let out = "";
  for (const chunk of chunks) out += masker.push(chunk);
  out += masker.flush();
  return out.length + out.charCodeAt(out.length - 1);
}

const buildStart = process.hrtime.bigint();
createMasker(secrets);
const buildMs = Number(process.hrtime.bigint() - buildStart) / 1e6;

let bestBase = Number.POSITIVE_INFINITY;
let bestMasked = Number.POSITIVE_INFINITY;
for (let round = 0; round < ROUNDS; round++) {
  bestBase = Math.min(bestBase, time(baseline).seconds);
  bestMasked = Math.min(bestMasked, time(masked).seconds);
}

console.log(
  `output: ${mb} MB in ${chunks.length} chunks of 64 KiB, ${secrets.length} secrets (best of ${ROUNDS})`,
);
console.log(`masker build:           ${buildMs.toFixed(1)} ms`);
console.log(`baseline (passthrough): ${(mb / bestBase).toFixed(0)} MB/s`);
console.log(`masked:                 ${(mb / bestMasked).toFixed(0)} MB/s`);
console.log(`ratio masked/baseline:  ${(bestMasked / bestBase).toFixed(2)}x the time`);
