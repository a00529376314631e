import { describe, expect, it } from "vitest";
import { resourcesFromEnv } from "./resources.ts";

const env = {
  AWS_REGION: "eu-west-1",
  SST_RESOURCE_Table: JSON.stringify({ name: "gyre-table" }),
  SST_RESOURCE_JobQueues: JSON.stringify({ urls: { medium: "https://sqs/medium" } }),
  SST_RESOURCE_JobStateMachine: JSON.stringify({ arn: "arn:aws:states:eu-west-1:1:stateMachine:gyre" }),
  SST_RESOURCE_Settings: JSON.stringify({ heartbeatSeconds: 45 }),
};

describe("resourcesFromEnv", () => {
  it("reads the links a function has (finalize's four) without needing the others", () => {
    const r = resourcesFromEnv(env);
    expect(r.region).toBe("eu-west-1");
    expect(r.tableName).toBe("gyre-table");
    expect(r.jobQueueUrls).toEqual({ medium: "https://sqs/medium" });
    expect(r.stateMachineArn).toBe("arn:aws:states:eu-west-1:1:stateMachine:gyre");
    expect(r.heartbeatSeconds).toBe(45);
  });

  it("names the missing link when a function uses one it was not given", () => {
    const r = resourcesFromEnv(env);
    expect(() => r.bucketName).toThrow(
      'SST_RESOURCE_Bucket is not set: is "Bucket" linked to this function?',
    );
  });
});
