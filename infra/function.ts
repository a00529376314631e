/**
 * What every Gyre Lambda function shares: Node 22 on Graviton (arm64, cheaper per GB-second),
 * small memory. Handlers are thin and keep AWS SDK clients lazy, so 256 MB cold-starts fast.
 */
export const lambdaDefaults = {
  runtime: "nodejs22.x",
  architecture: "arm64",
  memory: "256 MB",
} as const satisfies Partial<sst.aws.FunctionArgs>;
