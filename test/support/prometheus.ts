/**
 * A strict reader of Prometheus' text exposition format (0.0.4), for tests: it throws on any
 * line a Prometheus server would refuse or that breaks the format's rules we rely on: a sample
 * before its metric's `# TYPE`, a second HELP or TYPE for one metric, a metric's samples split
 * by another's, a bad name, label or value, a duplicate series, a histogram without its
 * `+Inf` bucket, `_sum` and `_count` or with buckets that decrease.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`line ${line}: bad value "${text}"`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name) || name.startsWith("__")) throw new Error(`line ${line}: bad label name "${name}"`);
    if (Object.hasOwn(labels, name)) throw new Error(`line ${line}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label ${name}'s value is not quoted`);
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const next = text[j + 1];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape \\${next}`);
        j += 2;
        continue;
      }
      if (c === "\n") throw new Error(`line ${line}: raw newline in a label value`);
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ",") throw new Error(`line ${line}: expected "," between labels`);
      i++;
    }
  }
  return labels;
}

/** The family a sample name belongs to (a histogram's `_bucket`, `_sum` and `_count`). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m ? families.get(m[1]!) : undefined;
  return base && (base.type === "histogram" || base.type === "summary") ? base : undefined;
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the text must end with a newline");
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: Family | undefined;
  const seen = new Set<string>();
  text
    .slice(0, -1)
    .split("\n")
    .forEach((raw, index) => {
      const line = index + 1;
      if (raw.trim() === "") throw new Error(`line ${line}: empty line`);
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (meta) {
        const [, kind, name, rest] = meta as unknown as [string, string, string, string];
        if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
        let family = families.get(name);
        if (family && family !== current) throw new Error(`line ${line}: ${name} declared again later`);
        if (!family) {
          if (current) closed.add(current.name);
          family = { name, help: "", type: "untyped", samples: [] };
          families.set(name, family);
          current = family;
        }
        if (family.samples.length > 0) throw new Error(`line ${line}: ${kind} for ${name} after its samples`);
        if (kind === "HELP") {
          if (family.help) throw new Error(`line ${line}: second HELP for ${name}`);
          family.help = rest;
        } else {
          if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type "${rest}"`);
          if (family.type !== "untyped") throw new Error(`line ${line}: second TYPE for ${name}`);
          family.type = rest as Family["type"];
        }
        return;
      }
      if (raw.startsWith("#")) return; // a comment
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
      if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
      const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
      const family = familyOf(name, families);
      if (!family || family.type === "untyped")
        throw new Error(`line ${line}: ${name} has no TYPE before it`);
      if (family !== current || closed.has(family.name))
        throw new Error(`line ${line}: ${name}'s samples are not together`);
      if (family.type === "counter" && name !== family.name && !name.endsWith("_total"))
        throw new Error(`line ${line}: counter sample ${name}`);
      const labels = parseLabels(labelText ?? "", line);
      const value = parseValue(valueText, line);
      const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (seen.has(id)) throw new Error(`line ${line}: duplicate series ${id}`);
      seen.add(id);
      if ((family.type === "counter" || name.endsWith("_count") || name.endsWith("_bucket")) && !(value >= 0))
        throw new Error(`line ${line}: ${name} must not be negative`);
      family.samples.push({ name, labels, value });
    });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const [key, samples] of series) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    const sum = samples.find((s) => s.name === `${family.name}_sum`);
    const inf = buckets.find((b) => b.labels.le === "+Inf");
    if (!inf || !count || !sum) throw new Error(`${family.name}${key}: needs a +Inf bucket, _sum and _count`);
    if (inf.value !== count.value) throw new Error(`${family.name}${key}: +Inf bucket differs from _count`);
    const ordered = buckets.map((b) => ({ le: parseValue(b.labels.le ?? "", 0), value: b.value }));
    for (let i = 1; i < ordered.length; i++) {
      if (!(ordered[i]!.le > ordered[i - 1]!.le))
        throw new Error(`${family.name}${key}: buckets out of order`);
      if (ordered[i]!.value < ordered[i - 1]!.value)
        throw new Error(`${family.name}${key}: buckets decrease`);
    }
  }
}

/** The value of the one sample of `name` whose labels include `labels` (throws unless exactly one). */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
) {
  const family = familyOf(name, families);
  const found = (family?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1)
    throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]!.value;
}
