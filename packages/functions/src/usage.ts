/**
 * Scheduled every Monday at 02:00 UTC: writes the week that ended to the bucket as
 * `usage/<yyyy>-W<ww>/{account_usage,job_activity,active_users}.csv` and `usage.json`, once
 * (core/src/usage/delivery.ts). A pass that fails is logged and rethrown, so the scheduler
 * records a failed invocation and EventBridge retries it; a week already written is left as it is.
 */
import { type Delivery, deliverDueUsage } from "@gyre/core/usage/index";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";

export function usageHandler(
  run: () => Promise<Delivery> = () => deliverDueUsage(lambdaGyre()),
  log?: (line: string) => void,
) {
  return middy<unknown, Delivery>()
    .use(logErrors("usage", log))
    .handler(async () => {
      const delivery = await run();
      console.log(JSON.stringify({ usage: { week: delivery.week, written: delivery.written } }));
      return delivery;
    });
}

export const handler = usageHandler();
