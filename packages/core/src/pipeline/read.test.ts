/** The page tokens of an organization's pipeline list: a parser of outside input. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { decodeOrgPageToken, encodeOrgPageToken } from "./read.ts";

const SEED = 20_260_301;
const cursor = fc.record({
  before: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  below: fc
    .array(fc.tuple(fc.stringMatching(/^[0-9a-f]{12}$/), fc.integer({ min: 1, max: 999_999_999_999 })), {
      maxLength: 300,
    })
    .map((entries) => new Map(entries)),
});

function refusal(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("organization page tokens", () => {
  it("round-trip any cursor of their list, and fit a query parameter for 300 projects", () => {
    fc.assert(
      fc.property(fc.string(), cursor, (list, c) => {
        const token = encodeOrgPageToken(list, c);
        expect(decodeOrgPageToken(list, token)).toEqual(c);
        expect(token.length).toBeLessThanOrEqual(4820);
        expect(token).toMatch(/^[A-Za-z0-9_-]*$/);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("refuse a token of another list", () => {
    const token = encodeOrgPageToken("gh/acme\u0000", { before: 1, below: new Map([["00112233aabb", 3]]) });
    const error = refusal(() => decodeOrgPageToken("gh/globex\u0000", token));
    expect(error).toEqual(new GyreError("bad_request", "Invalid page-token."));
  });

  it("refuse anything else with a 400, never another error", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.uint8Array().map((b) => Buffer.from(b).toString("base64url")),
        ),
        (token) => {
          const error = refusal(() => decodeOrgPageToken("gh/acme\u0000", token));
          if (error !== undefined) expect(error).toEqual(new GyreError("bad_request", "Invalid page-token."));
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
