/**
 * Scheduled: re-drive jobs left queued or running without a live execution. A failure is
 * logged (name and message) and rethrown, so the scheduler records a failed invocation.
 */
import { type ReconcileReport, reconcile } from "@gyre/core/dispatch/index";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";

export function reconcileHandler(
  run: () => Promise<ReconcileReport> = () => reconcile(lambdaGyre()),
  log?: (line: string) => void,
) {
  return middy<unknown, ReconcileReport>()
    .use(logErrors("reconcile", log))
    .handler(async () => {
      const report = await run();
      console.log(JSON.stringify({ reconcile: report }));
      return report;
    });
}

export const handler = reconcileHandler();
