/** Scheduled: re-drive jobs left queued or running without a live execution. */
import { reconcile } from "@gyre/core/dispatch/index";
import { lambdaGyre } from "./lambda.ts";

export const handler = async () => {
  const report = await reconcile(lambdaGyre());
  console.log(JSON.stringify({ reconcile: report }));
  return report;
};
