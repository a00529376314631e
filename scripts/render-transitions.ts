/** Writes the state diagrams the transition table draws into docs/architecture.md. */
import { readFileSync, writeFileSync } from "node:fs";
import { renderStateDiagrams } from "../packages/core/src/job/transitions.ts";

const path = new URL("../docs/architecture.md", import.meta.url);
const begin = "<!-- transitions:begin (generated from packages/core/src/job/transitions.ts) -->";
const end = "<!-- transitions:end -->";
const doc = readFileSync(path, "utf8");
const a = doc.indexOf(begin);
const b = doc.indexOf(end);
if (a < 0 || b < a) throw new Error("docs/architecture.md has no transitions markers.");
writeFileSync(
  path,
  `${doc.slice(0, a + begin.length)}\n\n${renderStateDiagrams().trim()}\n\n${doc.slice(b)}`,
);
