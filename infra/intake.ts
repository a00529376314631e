/**
 * Where work comes in: the HTTP app on the API's `$default` route, and the intake consumer that
 * turns an acknowledged webhook into a pipeline. Both start allocations, so this file comes after
 * infra/dispatch.ts.
 */
import { api, settings } from "./api.ts";
import { jobStateMachine } from "./dispatch.ts";
import { lambdaDefaults } from "./function.ts";
import { intakeQueue, jobQueuesLink } from "./queues.ts";
import { bucket, dataKeyLink, table } from "./storage.ts";

/** API Gateway HTTP integrations time out at 30 s; long-polls answer within ~25 s. */
export const http = api.route("$default", {
  ...lambdaDefaults,
  handler: "packages/functions/src/http.handler",
  timeout: "29 seconds",
  link: [table, bucket, intakeQueue, jobQueuesLink, jobStateMachine, dataKeyLink, settings],
  // A builder's registration: is the instance in service in a builder group (Describe calls
  // take no resource-level permission).
  permissions: [{ actions: ["autoscaling:DescribeAutoScalingInstances"], resources: ["*"] }],
});

/** Fetches and compiles `.circleci/config.yml`; a failed record is retried alone (partial batch response). */
export const intake = intakeQueue.subscribe(
  {
    ...lambdaDefaults,
    handler: "packages/functions/src/intake.handler",
    timeout: "60 seconds",
    link: [table, bucket, intakeQueue, jobQueuesLink, jobStateMachine, dataKeyLink, settings],
  },
  { batch: { size: 10, partialResponses: true } },
);

/**
 * Every minute: fires the due ticks of every schedule (scheduled pipelines and configs'
 * `triggers.schedule.cron`), each once, catching up on those a failed pass left
 * (packages/core/src/schedule). It triggers pipelines as the API does, so it links the same.
 */
export const schedules = new sst.aws.CronV2("Schedules", {
  schedule: "rate(1 minute)",
  function: {
    ...lambdaDefaults,
    handler: "packages/functions/src/schedules.handler",
    timeout: "55 seconds",
    link: [table, intakeQueue, settings],
  },
});

/**
 * Every Monday at 02:00 UTC: the week that ended, as usage statistics into the bucket
 * (`usage/<yyyy>-W<ww>/...`, packages/core/src/usage/delivery.ts), once. It reads the table and
 * writes the bucket, nothing else.
 */
export const usageStatistics = new sst.aws.CronV2("UsageStatistics", {
  schedule: "cron(0 2 ? * MON *)",
  function: {
    ...lambdaDefaults,
    handler: "packages/functions/src/usage.handler",
    timeout: "10 minutes",
    link: [table, bucket],
  },
});
