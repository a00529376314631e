/** Property tests: intake messages and trigger bodies from outside never get past their schema malformed. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { parseInput } from "../protocol/schema.ts";
import { parseIntakeMessage } from "./intake.ts";
import { IntakeMessageSchema, TriggerBodySchema } from "./model.ts";

const refused = (run: () => unknown) => {
  try {
    run();
    return "accepted";
  } catch (error) {
    if (error instanceof GyreError && error.code === "bad_request") return "refused";
    throw error;
  }
};

const valid = {
  pipelineId: "8f0c6c2e-4a7e-4b52-9d35-0d5c2b1f9a11",
  projectSlug: "gh/acme/api",
  trigger: { type: "webhook", receivedAt: "2026-01-01T00:00:00.000Z", actor: "octocat" },
  ref: { branch: "main", revision: "a".repeat(40) },
};

describe("intake messages", () => {
  it("parses a valid message and refuses any string with a 400, never another error", () => {
    expect(parseIntakeMessage(JSON.stringify(valid))).toMatchObject(valid);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (body) => {
        expect(["accepted", "refused"]).toContain(refused(() => parseIntakeMessage(body)));
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it("accepts only messages that round-trip through their schema unchanged", () => {
    fc.assert(
      fc.property(
        fc.record({
          pipelineId: fc.oneof(fc.constant(valid.pipelineId), fc.string()),
          projectSlug: fc.oneof(fc.constant(valid.projectSlug), fc.string({ maxLength: 400 })),
          trigger: fc.oneof(fc.constant(valid.trigger), fc.anything()),
          ref: fc.oneof(
            fc.constant(valid.ref),
            fc.record(
              { branch: fc.string({ maxLength: 300 }), tag: fc.string({ maxLength: 10 }) },
              { requiredKeys: [] },
            ),
            fc.anything(),
          ),
          parameters: fc.oneof(
            fc.constant(undefined),
            fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.anything())),
          ),
        }),
        (message) => {
          if (refused(() => parseIntakeMessage(JSON.stringify(message))) === "accepted") {
            const parsed = parseIntakeMessage(JSON.stringify(message));
            expect(IntakeMessageSchema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
          }
        },
      ),
      { seed: 11, numRuns: 400 },
    );
  });
});

describe("trigger bodies", () => {
  it("refuse anything malformed with a 400 naming the field, and never both a branch and a tag", () => {
    expect(refused(() => parseInput(TriggerBodySchema, { branch: "main", tag: "v1" }, "trigger"))).toBe(
      "refused",
    );
    expect(refused(() => parseInput(TriggerBodySchema, { branch: "x".repeat(256) }, "trigger"))).toBe(
      "refused",
    );
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(["accepted", "refused"]).toContain(
          refused(() => parseInput(TriggerBodySchema, body, "trigger")),
        );
      }),
      { seed: 5, numRuns: 500 },
    );
  });
});
