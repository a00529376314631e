import { describe, expect, it } from "vitest";
import { createMasker, isMaskable, MASK, type MaskerOptions, maskedForms } from "./masker.ts";

/** Deterministic PRNG so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function maskAll(secrets: string[], chunks: string[], options?: MaskerOptions): string {
  const masker = createMasker(secrets, options);
  return chunks.map((c) => masker.push(c)).join("") + masker.flush();
}

/** Reference: mark every occurrence of every form, merge overlapping runs, replace each run. */
function naiveMask(secrets: string[], text: string): string {
  const forms = secrets.flatMap(maskedForms);
  const covered: [number, number][] = [];
  for (const form of forms) {
    for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
      covered.push([at, at + form.length - 1]);
    }
  }
  covered.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const [s, e] of covered) {
    const last = merged[merged.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else merged.push([s, e]);
  }
  let out = "";
  let cursor = 0;
  for (const [s, e] of merged) {
    out += text.slice(cursor, s) + MASK;
    cursor = e + 1;
  }
  return out + text.slice(cursor);
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

describe.each([
  ["dense transition table", {}],
  ["compact automaton (fail links)", { maxTableEntries: 0 }],
] as const)("createMasker — %s", (_mode, options) => {
  const mask = (secrets: string[], ...chunks: string[]) => maskAll(secrets, chunks, options);

  it("passes output through unchanged when there are no secrets", () => {
    const masker = createMasker([], options);
    const chunk = "hello\nworld";
    expect(masker.push(chunk)).toBe(chunk);
    expect(masker.flush()).toBe("");
  });

  it("replaces a secret with ******** wherever it appears", () => {
    expect(mask(["hunter22"], "password=hunter22 again hunter22\n")).toBe(`password=${MASK} again ${MASK}\n`);
  });

  it("masks a secret at the very start and at the very end of the output", () => {
    expect(mask(["s3cr3t!"], "s3cr3t! middle s3cr3t!")).toBe(`${MASK} middle ${MASK}`);
  });

  it("leaves values shorter than 4 characters and true/false unmasked, as CircleCI does", () => {
    const text = "abc true True false False 12";
    expect(mask(["abc", "true", "True", "false", "False", "12"], text)).toBe(text);
    expect(isMaskable("abcd")).toBe(true);
    expect(isMaskable("😀😀😀")).toBe(false); // 3 characters, 6 UTF-16 units
  });

  it("masks a secret of exactly 4 characters", () => {
    expect(mask(["abcd"], "xabcdx")).toBe(`x${MASK}x`);
  });

  it("masks several different secrets", () => {
    expect(mask(["alpha-key", "beta-token"], "a=alpha-key b=beta-token")).toBe(`a=${MASK} b=${MASK}`);
  });

  it("masks overlapping secrets as one run", () => {
    expect(mask(["abcdef", "defghi"], "xxabcdefghixx")).toBe(`xx${MASK}xx`);
  });

  it("masks a secret that contains another secret as one run", () => {
    expect(mask(["word", "password123"], "my password123 and word")).toBe(`my ${MASK} and ${MASK}`);
  });

  it("covers a long match that starts before shorter, earlier matches", () => {
    // "bcde" and "fghi" are found first; "abcdefghij" ends later but starts earlier.
    const secrets = ["bcde", "fghi", "abcdefghij"];
    const text = "zabcdefghijz";
    for (let p = 0; p <= text.length; p++) {
      expect(mask(secrets, text.slice(0, p), text.slice(p))).toBe(`z${MASK}z`);
    }
  });

  it("masks adjacent secrets separately", () => {
    expect(mask(["AAAA1", "BBBB2"], "AAAA1BBBB2")).toBe(`${MASK}${MASK}`);
  });

  it("masks a secret split across every possible chunk boundary", () => {
    const secret = "correct-horse-battery";
    const text = `before ${secret} after`;
    for (let p = 0; p <= text.length; p++) {
      expect(mask([secret], text.slice(0, p), text.slice(p)), `split at ${p}`).toBe(`before ${MASK} after`);
    }
  });

  it("masks a secret split across every pair of chunk boundaries", () => {
    const secrets = ["abcdefgh", "efghijkl"];
    const text = "..abcdefghijkl..abcdefgh.";
    const expected = `..${MASK}..${MASK}.`;
    for (let p = 0; p <= text.length; p++) {
      for (let q = p; q <= text.length; q++) {
        expect(mask(secrets, text.slice(0, p), text.slice(p, q), text.slice(q)), `${p},${q}`).toBe(expected);
      }
    }
  });

  it("masks when the output arrives one character at a time", () => {
    const text = "token: sup3rsecret\n";
    expect(mask(["sup3rsecret"], ...text)).toBe(`token: ${MASK}\n`);
  });

  it("emits text at once and holds back only a possible start of a secret", () => {
    const masker = createMasker(["secret-value"], options);
    expect(masker.push("hello ")).toBe("hello ");
    expect(masker.push("world secr")).toBe("world ");
    expect(masker.push("et-value done")).toBe(`${MASK} done`);
    expect(masker.push(" secret-val")).toBe(" ");
    expect(masker.flush()).toBe("secret-val");
  });

  it("can be reused after flush", () => {
    const masker = createMasker(["abcdefg"], options);
    masker.push("xx abc");
    expect(masker.flush()).toBe("abc");
    expect(masker.push("abcdefg ") + masker.flush()).toBe(`${MASK} `);
  });

  it("masks the base64 printed by `echo -n $SECRET | base64`, padded and unpadded, both alphabets", () => {
    const secret = "p>?s~~w0rd"; // its base64 contains + and /
    const standard = b64(secret);
    expect(standard).toMatch(/[+/]/);
    const url = standard.replace(/\+/g, "-").replace(/\//g, "_");
    for (const form of [standard, standard.replace(/=+$/, ""), url, url.replace(/=+$/, "")]) {
      expect(mask([secret], `X ${form} Y`), form).toBe(`X ${MASK} Y`);
    }
  });

  it("masks the base64 printed by `echo $SECRET | base64` (trailing newline)", () => {
    const secret = "abcdefg";
    expect(mask([secret], `${b64(`${secret}\n`)}\n`)).toBe(`${MASK}\n`);
  });

  it("masks a secret's base64 inside a longer base64 stream at each of the 3 alignments", () => {
    const secret = "0123456789abcdefghij";
    for (const prefix of ["", "u", "us", "usr", "user:"]) {
      const encoded = b64(`${prefix}${secret}:tail`);
      const out = mask([secret], encoded);
      expect(out, prefix).toContain(MASK);
      // At most 3 characters of the encoding survive on each side of the secret's bytes.
      const prefixChars = Math.ceil((prefix.length * 4) / 3);
      expect(out.indexOf(MASK), prefix).toBeLessThanOrEqual(prefixChars + 2);
      expect(out.length - out.indexOf(MASK) - MASK.length, prefix).toBeLessThanOrEqual(
        encoded.length - Math.floor(((prefix.length + secret.length) * 4) / 3) + 3,
      );
    }
  });

  it("masks URL-encoded, form-encoded, hex and JSON-escaped forms", () => {
    const secret = 'a b&c/d"é';
    const forms = [
      encodeURIComponent(secret),
      encodeURIComponent(secret).replace(/%20/g, "+"),
      Buffer.from(secret).toString("hex"),
      Buffer.from(secret).toString("hex").toUpperCase(),
      JSON.stringify(secret).slice(1, -1),
    ];
    for (const form of forms) expect(mask([secret], `<${form}>`), form).toBe(`<${MASK}>`);
  });

  it("matches the reference masker on random output, random secrets and random chunking", () => {
    const next = random(42);
    const pick = (alphabet: string, length: number) =>
      Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
    // No "*" in secrets: a secret containing "*" could reappear next to a mask.
    const secretAlphabet = "abcdefghijklmnopqrstuvwxyzABC0123456789-_+/= :é😀";
    const textAlphabet = "abcxyzABC012+/=_- \n%é";
    for (let round = 0; round < 400; round++) {
      const secrets = Array.from({ length: 1 + Math.floor(next() * 4) }, () =>
        pick(secretAlphabet, 1 + Math.floor(next() * 14)),
      );
      let text = "";
      for (let piece = 0; piece < 8; piece++) {
        text += pick(textAlphabet, Math.floor(next() * 12));
        const secret = secrets[Math.floor(next() * secrets.length)]!;
        const forms = maskedForms(secret);
        if (forms.length > 0 && next() < 0.6) text += forms[Math.floor(next() * forms.length)];
        if (next() < 0.2) text += b64(`${pick(textAlphabet, Math.floor(next() * 3))}${secret}`);
      }
      const chunks: string[] = [];
      for (let at = 0; at < text.length; ) {
        const size = Math.floor(next() * 9);
        chunks.push(text.slice(at, at + size));
        at += size;
      }
      const out = maskAll(secrets, chunks, options);
      const context = JSON.stringify({ secrets, text, chunks });
      expect(out, context).toBe(naiveMask(secrets, text));
      for (const form of secrets.flatMap(maskedForms)) expect(out.includes(form), context).toBe(false);
      if (secrets.flatMap(maskedForms).every((form) => !text.includes(form))) expect(out, context).toBe(text);
    }
  });

  it("returns random output without secret occurrences unchanged", () => {
    const next = random(7);
    for (let round = 0; round < 200; round++) {
      const text = Array.from({ length: 200 }, () => String.fromCharCode(32 + Math.floor(next() * 90))).join(
        "",
      );
      const secrets = ["\u0100\u0101secret-one", "\u0102two-secret-two"];
      const chunks = [text.slice(0, 50), text.slice(50, 51), text.slice(51)];
      expect(maskAll(secrets, chunks, options)).toBe(text);
    }
  });
});

describe("maskedForms", () => {
  it("lists nothing for a value CircleCI would not mask", () => {
    expect(maskedForms("abc")).toEqual([]);
    expect(maskedForms("false")).toEqual([]);
  });

  it("includes the value, its exact base64, hex and URL encodings", () => {
    const forms = maskedForms("hello world");
    expect(forms).toEqual(
      expect.arrayContaining([
        "hello world",
        "aGVsbG8gd29ybGQ=",
        "aGVsbG8gd29ybGQ",
        "68656c6c6f20776f726c64",
        "hello%20world",
        "hello+world",
      ]),
    );
  });

  it("skips embedded-base64 alignments shorter than 8 characters", () => {
    // 5 bytes: alignment 0 has one whole group (4 chars), too short to mask on its own.
    expect(maskedForms("abcde")).not.toContain("YWJj");
  });
});
