/**
 * Secrets masking in step output: every occurrence of a secret, and of the encodings a careless
 * script prints, becomes `********` (what CircleCI prints) before the output is stored or shown.
 *
 * ```ts
 * const masker = createMasker(secretValues);
 * for await (const chunk of output) send(masker.push(chunk));
 * send(masker.flush());
 * ```
 *
 * What is masked, for each secret value:
 * - the value itself;
 * - its base64 (standard and url-safe alphabets, with and without `=` padding), exactly as
 *   `echo -n "$SECRET" | base64` and `echo "$SECRET" | base64` (a trailing newline) print it;
 * - the part of it that is fixed when the value sits inside a longer base64 stream (for
 *   instance `echo -n "user:$SECRET" | base64`): a value can start at any of 3 byte offsets
 *   within base64's 3-byte groups, so there are 3 alignments; for each one the characters that
 *   depend on the secret's bytes alone are masked (at least 8 characters, else that alignment
 *   is skipped). Limit: the 1–2 characters at either edge of such an embedded run mix secret
 *   bits with neighbouring bytes and stay visible, so up to ~2 bytes at each end of the secret
 *   can be partly inferred there. The exact `echo -n $SECRET | base64` case has no such edge;
 * - URL-encoding (`encodeURIComponent`, and the form encoding with `+` for spaces; uppercase
 *   `%XX` only);
 * - hex of the UTF-8 bytes, lowercase and uppercase (`xxd -p`, `od`, `hexdump` without spaces);
 * - the JSON string escape of the value, when it differs (quotes, backslashes, controls).
 *
 * Not masked (as in CircleCI): values shorter than 4 characters, and `true`, `True`, `false`,
 * `False`. Other transformations (gzip, split lines, other encodings, xtrace quoting) are
 * not detected; masking is a safety net, not a guarantee.
 *
 * Matching is one Aho–Corasick automaton over all patterns, built once: linear in the output,
 * independent of the number of secrets. Overlapping or nested occurrences become one mask.
 * Streaming: `push` returns everything that can no longer be part of a match and holds back
 * only the text that is still a prefix of some pattern (usually nothing), so output is not
 * delayed; a secret split across any chunk boundary is still masked. Chunks are JS strings:
 * decode bytes with a streaming `TextDecoder` before pushing.
 */

export const MASK = "********";
/** CircleCI does not mask values shorter than this many characters. */
export const MIN_SECRET_LENGTH = 4;
const UNMASKED_VALUES = new Set(["true", "True", "false", "False"]);
/** A base64 run taken from the middle of a stream must be at least this long to be masked. */
const MIN_EMBEDDED_BASE64_LENGTH = 8;
/** Above this many transition-table entries, use the compact (fail-link) automaton. */
const DEFAULT_MAX_TABLE_ENTRIES = 8_000_000;

export interface Masker {
  /** Masks a chunk; returns the text that is now safe to emit (possibly ""). */
  push(chunk: string): string;
  /** Returns everything held back, masked. Call once at the end of the stream; the masker is then reset. */
  flush(): string;
}

export interface MaskerOptions {
  /** Tuning and tests only: above this size the dense transition table is not built. */
  maxTableEntries?: number;
}

/** Whether CircleCI would mask this value in output. */
export function isMaskable(value: string): boolean {
  return [...value].length >= MIN_SECRET_LENGTH && !UNMASKED_VALUES.has(value);
}

/** Every string that is masked for one secret value (the value and its encodings). */
export function maskedForms(secret: string): string[] {
  if (!isMaskable(secret)) return [];
  const bytes = Buffer.from(secret, "utf8");
  const forms = new Set<string>([secret]);
  for (const encoded of [bytes, Buffer.concat([bytes, Buffer.from("\n")])]) {
    const standard = encoded.toString("base64");
    forms.add(standard);
    forms.add(standard.replace(/=+$/, ""));
    forms.add(toUrlSafe(standard));
    forms.add(toUrlSafe(standard).replace(/=+$/, ""));
  }
  for (const core of embeddedBase64Cores(bytes)) {
    forms.add(core);
    forms.add(toUrlSafe(core));
  }
  const uri = uriEncoded(secret);
  if (uri !== undefined) {
    forms.add(uri);
    forms.add(uri.replace(/%20/g, "+"));
  }
  forms.add(bytes.toString("hex"));
  forms.add(bytes.toString("hex").toUpperCase());
  forms.add(JSON.stringify(secret).slice(1, -1));
  return [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH);
}

/**
 * For a secret preceded by k = 0, 1, 2 unknown bytes inside a base64 stream, the base64
 * characters that depend on the secret's bytes only (its whole 3-byte groups).
 */
function embeddedBase64Cores(bytes: Buffer): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const skip = (3 - offset) % 3;
    const groups = Math.floor((bytes.length - skip) / 3);
    if (groups <= 0) continue;
    const core = bytes.subarray(skip, skip + groups * 3).toString("base64");
    if (core.length >= MIN_EMBEDDED_BASE64_LENGTH) cores.push(core);
  }
  return cores;
}

/** `encodeURIComponent`, or undefined for a value with a lone surrogate (which it cannot encode). */
function uriEncoded(value: string): string | undefined {
  try {
    return encodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function toUrlSafe(base64: string): string {
  return base64.replace(/\+/g, "-").replace(/\//g, "_");
}

/** A masker for these secret values; with no maskable value it returns its input unchanged. */
export function createMasker(secrets: readonly string[], options: MaskerOptions = {}): Masker {
  const patterns = new Set<string>();
  for (const secret of secrets) for (const form of maskedForms(secret)) patterns.add(form);
  if (patterns.size === 0) return { push: (chunk) => chunk, flush: () => "" };
  return new StreamingMasker(
    buildAutomaton([...patterns], options.maxTableEntries ?? DEFAULT_MAX_TABLE_ENTRIES),
  );
}

/**
 * Aho–Corasick automaton. Characters (UTF-16 code units) map to classes; class 0 is "no
 * pattern uses this character". `depth[s]` is the length of the text that state s stands
 * for; `longest[s]` is the length of the longest pattern ending at s (0 if none).
 * Dense mode: `next` is a full table `s * stride + class`. Compact mode: sparse edges plus
 * fail links, still amortised linear.
 */
interface Automaton {
  classOf: Uint16Array;
  stride: number;
  depth: Int32Array;
  longest: Int32Array;
  next: Int32Array | undefined;
  fail: Int32Array;
  edgeStart: Int32Array;
  edgeClass: Uint16Array;
  edgeTarget: Int32Array;
}

function buildAutomaton(patterns: string[], maxTableEntries: number): Automaton {
  const classOf = new Uint16Array(65536);
  let classes = 1;
  for (const pattern of patterns) {
    for (let i = 0; i < pattern.length; i++) {
      const code = pattern.charCodeAt(i);
      if (classOf[code] === 0) classOf[code] = classes++;
    }
  }
  // Trie.
  const children: Map<number, number>[] = [new Map()];
  const depthList = [0];
  const terminal = [0];
  for (const pattern of patterns) {
    let state = 0;
    for (let i = 0; i < pattern.length; i++) {
      const cls = classOf[pattern.charCodeAt(i)]!;
      let target = children[state]!.get(cls);
      if (target === undefined) {
        target = children.length;
        children.push(new Map());
        depthList.push(i + 1);
        terminal.push(0);
        children[state]!.set(cls, target);
      }
      state = target;
    }
    terminal[state] = pattern.length;
  }
  const count = children.length;
  const depth = Int32Array.from(depthList);
  const fail = new Int32Array(count);
  const longest = new Int32Array(count);
  // Breadth-first order for fail links and outputs.
  const order: number[] = [0];
  for (let head = 0; head < order.length; head++) {
    const state = order[head]!;
    for (const [cls, target] of children[state]!) {
      order.push(target);
      if (state === 0) {
        fail[target] = 0;
      } else {
        let f = fail[state]!;
        while (f !== 0 && !children[f]!.has(cls)) f = fail[f]!;
        const candidate = children[f]!.get(cls);
        fail[target] = candidate !== undefined && candidate !== target ? candidate : 0;
      }
      longest[target] = terminal[target]! > 0 ? terminal[target]! : longest[fail[target]!]!;
    }
  }
  // Sparse edges (CSR), used by compact mode.
  const edgeStart = new Int32Array(count + 1);
  let edges = 0;
  for (let s = 0; s < count; s++) {
    edgeStart[s] = edges;
    edges += children[s]!.size;
  }
  edgeStart[count] = edges;
  const edgeClass = new Uint16Array(edges);
  const edgeTarget = new Int32Array(edges);
  for (let s = 0; s < count; s++) {
    let e = edgeStart[s]!;
    for (const [cls, target] of children[s]!) {
      edgeClass[e] = cls;
      edgeTarget[e] = target;
      e++;
    }
  }
  const stride = classes;
  let next: Int32Array | undefined;
  if (count * stride <= maxTableEntries) {
    next = new Int32Array(count * stride);
    for (const state of order) {
      for (let cls = 0; cls < stride; cls++) {
        const direct = children[state]!.get(cls);
        if (direct !== undefined) next[state * stride + cls] = direct;
        else next[state * stride + cls] = state === 0 ? 0 : next[fail[state]! * stride + cls]!;
      }
    }
  }
  return { classOf, stride, depth, longest, next, fail, edgeStart, edgeClass, edgeTarget };
}

class StreamingMasker implements Masker {
  /** Text scanned but not yet emitted. */
  private held = "";
  private state = 0;
  /**
   * Masked regions not yet emitted, in `held` coordinates: sorted, disjoint, inclusive
   * [starts[k], ends[k]]. Usually empty or one region.
   */
  private starts: number[] = [];
  private ends: number[] = [];

  constructor(private readonly automaton: Automaton) {}

  push(chunk: string): string {
    if (chunk.length === 0) return "";
    const { classOf, stride, depth, longest, next } = this.automaton;
    const text = this.held.length === 0 ? chunk : this.held + chunk;
    let state = this.state;
    const end = text.length;
    if (next !== undefined) {
      for (let i = this.held.length; i < end; i++) {
        state = next[state * stride + classOf[text.charCodeAt(i)]!]!;
        const length = longest[state]!;
        if (length !== 0) this.addRegion(i - length + 1, i);
      }
    } else {
      for (let i = this.held.length; i < end; i++) {
        state = this.step(state, classOf[text.charCodeAt(i)]!);
        const length = longest[state]!;
        if (length !== 0) this.addRegion(i - length + 1, i);
      }
    }
    this.state = state;
    // No future match can start before `safe`: the text from there on is still a prefix of some pattern.
    return this.emitBefore(text, text.length - depth[state]!);
  }

  flush(): string {
    const out = this.emitBefore(this.held, this.held.length);
    this.state = 0;
    return out;
  }

  /** Records a match [start, end]; merges it with the regions it overlaps (they all end before `end`). */
  private addRegion(start: number, end: number): void {
    const { starts, ends } = this;
    let from = start;
    while (ends.length > 0 && ends[ends.length - 1]! >= start) {
      from = Math.min(from, starts.pop()!);
      ends.pop();
    }
    starts.push(from);
    ends.push(end);
  }

  /** Emits `text` before `safe` with finished regions masked; keeps the rest held. */
  private emitBefore(text: string, safe: number): string {
    const { starts, ends } = this;
    const out: string[] = [];
    let cursor = 0;
    let finished = 0;
    while (finished < starts.length && ends[finished]! < safe) {
      out.push(text.slice(cursor, starts[finished]!), MASK);
      cursor = ends[finished]! + 1;
      finished++;
    }
    const stop = finished < starts.length ? Math.min(starts[finished]!, safe) : safe;
    if (stop > cursor) {
      out.push(text.slice(cursor, stop));
      cursor = stop;
    }
    this.held = cursor === 0 ? text : text.slice(cursor);
    if (starts.length > 0) {
      this.starts = starts.slice(finished).map((s) => s - cursor);
      this.ends = ends.slice(finished).map((e) => e - cursor);
    }
    return out.length === 1 ? out[0]! : out.join("");
  }

  /** Compact mode: follow fail links until an edge on `cls` exists (or the root). */
  private step(state: number, cls: number): number {
    const { fail, edgeStart, edgeClass, edgeTarget } = this.automaton;
    let s = state;
    for (;;) {
      for (let e = edgeStart[s]!; e < edgeStart[s + 1]!; e++) if (edgeClass[e] === cls) return edgeTarget[e]!;
      if (s === 0) return 0;
      s = fail[s]!;
    }
  }
}
