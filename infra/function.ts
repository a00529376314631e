/**
 * What every Gyre Lambda function shares: Node 22 on Graviton (arm64, cheaper per GB-second),
 * small memory, and the stage's network (its proxy and private CAs: infra/network-plan.ts).
 * Handlers are thin and keep AWS SDK clients lazy, so 256 MB cold-starts fast.
 */
import { lambdaNetwork, stageNetwork } from "./network-plan.ts";

/** This deploy's stage network (infra/fleet.ts gives the builders the same). */
export const STAGE_NETWORK = stageNetwork(process.env);

export const lambdaDefaults = {
  runtime: "nodejs22.x",
  architecture: "arm64",
  memory: "256 MB",
  ...lambdaNetwork(STAGE_NETWORK),
} as const satisfies Partial<sst.aws.FunctionArgs>;
