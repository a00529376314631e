/**
 * Watching Gyre on AWS: a CloudWatch dashboard and the alarms of infra/metrics-plan.ts (queue
 * time p95, dead letters in the job and intake queues, builders' poll failures, jobs pending
 * with no ready node, the oldest message of each job queue), over the EMF the functions write
 * (namespace `Gyre`, `Env` = the stage) and the queues' own SQS metrics. Alarms notify the
 * `Alarms` SNS topic: subscribe to it (email, chat, a pager).
 */
import { DEFAULT_RESOURCE_CLASSES } from "../packages/core/src/resources.ts";
import { alarmPlan, dashboardBody } from "./metrics-plan.ts";
import { intakeDeadLetterQueue, jobDeadLetterQueues, jobQueues } from "./queues.ts";

export const alarmTopic = new sst.aws.SnsTopic("Alarms");

const queueNames = DEFAULT_RESOURCE_CLASSES.map((resourceClass, i) => ({
  resourceClass,
  queue: jobQueues[resourceClass]!.nodes.queue.name,
  deadLetter: jobDeadLetterQueues[i]!.nodes.queue.name,
}));

const plan = alarmPlan({
  env: $app.stage,
  jobQueues: queueNames,
  intakeDeadLetter: intakeDeadLetterQueue.nodes.queue.name,
});

export const alarms = plan.map(
  (alarm) =>
    new aws.cloudwatch.MetricAlarm(alarm.name, {
      name: `${$app.name}-${$app.stage}-${alarm.name.replace(/^Alarm/, "")}`,
      alarmDescription: alarm.description,
      comparisonOperator: alarm.comparisonOperator,
      threshold: alarm.threshold,
      evaluationPeriods: alarm.evaluationPeriods,
      datapointsToAlarm: alarm.datapointsToAlarm,
      treatMissingData: alarm.treatMissingData,
      ...(alarm.metric
        ? {
            namespace: alarm.metric.namespace,
            metricName: alarm.metric.metricName,
            dimensions: alarm.metric.dimensions,
            period: alarm.metric.period,
            statistic: alarm.metric.statistic,
            extendedStatistic: alarm.metric.extendedStatistic,
          }
        : {}),
      metricQueries: alarm.queries,
      alarmActions: [alarmTopic.arn],
      okActions: [alarmTopic.arn],
    }),
);

const region = aws.getRegionOutput().name;

export const dashboard = new aws.cloudwatch.Dashboard("Dashboard", {
  dashboardName: `${$app.name}-${$app.stage}`,
  dashboardBody: $resolve({
    region,
    queues: $resolve(queueNames.map((q) => $resolve(q))),
    intakeDeadLetter: intakeDeadLetterQueue.nodes.queue.name,
  }).apply(({ region, queues, intakeDeadLetter }) =>
    JSON.stringify(dashboardBody({ env: $app.stage, region, jobQueues: queues, intakeDeadLetter })),
  ),
});
