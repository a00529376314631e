import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { decodePageToken, encodePageToken, MAX_PAGE_TOKEN_LENGTH } from "./page-token.ts";

const SEED = 20_240_501;
const LIST_A = "PROJECT#gh/acme/api#PIPELINES";
const LIST_B = "PROJECT#gh/acme/web#PIPELINES";

/** Keys as DynamoDB hands them back for Gyre's table: string attributes with key-like names. */
const key = fc.dictionary(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,15}$/),
  fc.string({ minLength: 1, maxLength: 30, unit: "grapheme" }),
  { minKeys: 1, maxKeys: 4 },
);

function refusal(f: () => unknown): GyreError | undefined {
  try {
    f();
    return undefined;
  } catch (error) {
    return error as GyreError;
  }
}

describe("page tokens", () => {
  it("round-trips any key of its list", () => {
    const value = fc.string({ minLength: 1, maxLength: 30, unit: "grapheme" });
    fc.assert(
      fc.property(value, value, value, value, fc.boolean(), (list, pk, sk, gsi1sk, indexed) => {
        const k = indexed ? { pk, sk, gsi1pk: list, gsi1sk } : { pk: list, sk };
        expect(decodePageToken(list, encodePageToken(list, k))).toEqual(k);
      }),
      { seed: SEED, numRuns: 500 },
    );
    // With an explicit shape, any key of that shape.
    fc.assert(
      fc.property(fc.string(), key, (list, k) => {
        expect(decodePageToken(list, encodePageToken(list, k), { attributes: Object.keys(k) })).toEqual(k);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("by default takes only keys of the list's own partition (DynamoDB refuses any other: a 500)", () => {
    const token = (k: Record<string, string>) => encodePageToken(LIST_A, k);
    for (const k of <Record<string, string>[]>[
      { pk: "P", sk: "S", gsi1pk: LIST_B, gsi1sk: "1" },
      { pk: "P", sk: "S" },
      { gsi1pk: LIST_A, gsi1sk: "1" },
      { pk: "P", sk: "S", gsi1pk: LIST_A },
      { pk: "P", sk: "S", gsi1pk: LIST_A, gsi2sk: "1" },
      { pk: LIST_A, sk: "S", extra: "x" },
    ]) {
      expect(() => decodePageToken(LIST_A, token(k)), JSON.stringify(k)).toThrow("Invalid page-token.");
    }
    expect(decodePageToken(LIST_A, token({ pk: "P", sk: "S", gsi2pk: LIST_A, gsi2sk: "1" }))).toEqual({
      pk: "P",
      sk: "S",
      gsi2pk: LIST_A,
      gsi2sk: "1",
    });
  });

  it("never decodes a token of list X for list Y", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), key, (x, y, k) => {
        fc.pre(x !== y);
        const error = refusal(() => decodePageToken(y, encodePageToken(x, k)));
        expect(error).toBeInstanceOf(GyreError);
        expect(error?.code).toBe("bad_request");
      }),
      { seed: SEED, numRuns: 500 },
    );
    // The case that answered 500: project A's token on project B's list.
    const token = encodePageToken(LIST_A, { pk: "PIPELINE#1", sk: "PIPELINE", gsi1pk: LIST_A, gsi1sk: "1" });
    expect(() => decodePageToken(LIST_B, token)).toThrow("Invalid page-token.");
  });

  it("refuses any other string with a 400, never anything else", () => {
    const arbitraryToken = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,200}$/),
      // Well-formed base64url of arbitrary JSON, the crafted tokens that used to reach DynamoDB.
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString("base64url")),
      fc
        .record({ v: fc.jsonValue(), l: fc.jsonValue(), k: fc.jsonValue() }, { requiredKeys: [] })
        .map((v) => Buffer.from(JSON.stringify(v)).toString("base64url")),
    );
    fc.assert(
      fc.property(arbitraryToken, (token) => {
        const error = refusal(() => decodePageToken(LIST_A, token));
        if (error === undefined) return; // by chance a valid token of LIST_A: fine
        expect(error).toBeInstanceOf(GyreError);
        expect(error.code).toBe("bad_request");
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("refuses keys DynamoDB would refuse: wrong types, prototype names, oversized values, too long tokens", () => {
    const digest = JSON.parse(Buffer.from(encodePageToken(LIST_A, {}), "base64url").toString("utf8")).l;
    const craft = (k: unknown) => Buffer.from(JSON.stringify({ v: 1, l: digest, k })).toString("base64url");
    for (const k of [
      { pk: 5 },
      { pk: "" },
      { pk: { S: "x" } },
      { pk: ["x"] },
      JSON.parse('{"__proto__": "x"}'),
      { pk: "a", sk: "b", gsi1pk: "c", gsi1sk: "d", extra: "e" },
      { pk: "é".repeat(600) },
      {},
      null,
    ]) {
      expect(() => decodePageToken(LIST_A, craft(k)), JSON.stringify(k)).toThrow("Invalid page-token.");
    }
    expect(decodePageToken(LIST_A, craft({ pk: LIST_A, sk: "a" }))).toEqual({ pk: LIST_A, sk: "a" });
    expect(() => decodePageToken(LIST_A, "A".repeat(MAX_PAGE_TOKEN_LENGTH + 1))).toThrow(
      "Invalid page-token.",
    );
  });

  it("checks the shape a list's keys have", () => {
    const k = { pk: "PIPELINE#1", sk: "PIPELINE", gsi1pk: LIST_A, gsi1sk: "000000000001" };
    const shape = { attributes: ["pk", "sk", "gsi1pk", "gsi1sk"], fixed: { gsi1pk: LIST_A } };
    expect(decodePageToken(LIST_A, encodePageToken(LIST_A, k), shape)).toEqual(k);
    const { gsi1sk: _, ...short } = k;
    expect(() => decodePageToken(LIST_A, encodePageToken(LIST_A, short), shape)).toThrow(
      "Invalid page-token.",
    );
    expect(() => decodePageToken(LIST_A, encodePageToken(LIST_A, { ...k, gsi1pk: LIST_B }), shape)).toThrow(
      "Invalid page-token.",
    );
  });
});
