/**
 * The deployed context built from a function's links: functions without the DataKey link
 * (finalize, reconcile, the scaler, the lifecycle handler) still get one, and read the stage.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import { lambdaGyre } from "./lambda.ts";
import { envOf } from "./metrics.ts";

afterAll(() => {
  vi.unstubAllEnvs();
});

describe("lambdaGyre", () => {
  it("builds the context of a function with no DataKey link, reading the key id only if a secret needs it", () => {
    vi.stubEnv("SST_RESOURCE_Table", JSON.stringify({ name: "gyre-prod-table" }));
    vi.stubEnv("SST_RESOURCE_Settings", JSON.stringify({ stage: "prod" }));
    const gyre = lambdaGyre();
    expect(gyre.resources.tableName).toBe("gyre-prod-table");
    expect(envOf(gyre)).toBe("prod");
    expect(() => gyre.resources.kmsKeyId).toThrow('SST_RESOURCE_DataKey is not set: is "DataKey" linked');
  });
});
