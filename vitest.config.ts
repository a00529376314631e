import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/web/app/**/*.test.{ts,tsx}", "test/**/*.test.ts"],
    // At least two files at a time, even on two cores (vitest's default there is one): most of an
    // end-to-end file's time is spent waiting on builders, git, browsers and timers, not a CPU.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", AWS_EC2_METADATA_DISABLED: "true" },
  },
});
