/**
 * Scheduled every minute: fires the due ticks of every schedule (core/src/schedule). A pass
 * that fails is logged and rethrown, so the scheduler records a failed invocation; a tick it
 * did not fire is fired by the next pass, once.
 */
import { type FireReport, fireDueSchedules } from "@gyre/core/schedule/index";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";
import { withEventMetrics } from "./metrics.ts";

type Report = FireReport & { failed: number };

export function schedulesHandler(
  run: () => Promise<Report> = () => fireDueSchedules(lambdaGyre()),
  log?: (line: string) => void,
) {
  return middy<unknown, Report>()
    .use(logErrors("schedules", log))
    .handler(async () => {
      const report = await run();
      console.log(JSON.stringify({ schedules: report }));
      return report;
    });
}

export const handler = withEventMetrics(schedulesHandler());
