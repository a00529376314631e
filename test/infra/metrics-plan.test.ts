/**
 * Offline checks of the alarms and the dashboard (infra/metrics-plan.ts): each alarm watches a
 * metric the functions really emit (names from the catalog, the `Env` dimension) or the queues'
 * SQS metrics, with metric math that CloudWatch accepts in an alarm (one returned series, ids
 * referenced exist). infra/metrics.ts itself is type-checked by check:infra.
 */
import { describe, expect, it } from "vitest";
import { ALARM_THRESHOLDS, alarmPlan, dashboardBody, NAMESPACE } from "../../infra/metrics-plan.ts";
import { METRICS } from "../../packages/core/src/metrics/catalog.ts";
import { DEFAULT_RESOURCE_CLASSES, queueKey } from "../../packages/core/src/resources.ts";

const input = {
  env: "prod",
  jobQueues: DEFAULT_RESOURCE_CLASSES.map((resourceClass) => ({
    resourceClass,
    queue: `gyre-prod-jobs-${queueKey(resourceClass)}`,
    deadLetter: `gyre-prod-jobs-${queueKey(resourceClass)}-dlq`,
  })),
  intakeDeadLetter: "gyre-prod-IntakeDeadLetterQueue-abc",
};
const alarms = alarmPlan(input);
const byName = Object.fromEntries(alarms.map((a) => [a.name, a]));
const emitted = new Set<string>(Object.values(METRICS).map((m) => m.cloudwatch));

describe("the alarms", () => {
  it("cover queue time, every dead-letter queue, poll failures, no ready node and each job queue's oldest message", () => {
    expect(alarms.map((a) => a.name)).toEqual([
      "AlarmQueueTimeP95",
      "AlarmDeadLettersSmall",
      "AlarmDeadLettersMedium",
      "AlarmDeadLettersMediumPlus",
      "AlarmDeadLettersLarge",
      "AlarmDeadLettersXlarge",
      "AlarmDeadLetters2xlarge",
      "AlarmDeadLettersIntake",
      "AlarmPollFailures",
      "AlarmNoReadyNodes",
      "AlarmOldestMessageSmall",
      "AlarmOldestMessageMedium",
      "AlarmOldestMessageMediumPlus",
      "AlarmOldestMessageLarge",
      "AlarmOldestMessageXlarge",
      "AlarmOldestMessage2xlarge",
    ]);
    expect(new Set(alarms.map((a) => a.name)).size).toBe(alarms.length);
  });

  it("watch metrics that are emitted, by Env, or the queues' own SQS metrics by queue name", () => {
    for (const alarm of alarms) {
      const metrics = [alarm.metric, ...(alarm.queries ?? []).map((q) => q.metric)].filter(
        (m) => m !== undefined,
      );
      expect(metrics.length, alarm.name).toBeGreaterThan(0);
      for (const m of metrics) {
        if (m.namespace === NAMESPACE) {
          expect(emitted.has(m.metricName), `${alarm.name}: ${m.metricName}`).toBe(true);
          expect(m.dimensions.Env).toBe("prod");
        } else {
          expect(m.namespace).toBe("AWS/SQS");
          expect(Object.keys(m.dimensions)).toEqual(["QueueName"]);
        }
      }
    }
    expect(byName.AlarmQueueTimeP95!.metric).toMatchObject({
      metricName: "QueueTime",
      extendedStatistic: "p95",
      dimensions: { Env: "prod" },
    });
    expect(byName.AlarmQueueTimeP95!.threshold).toBe(ALARM_THRESHOLDS.queueTimeP95Seconds);
    expect(byName.AlarmDeadLettersMediumPlus!.metric).toMatchObject({
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: "gyre-prod-jobs-medium-plus-dlq" },
    });
    expect(byName.AlarmDeadLettersIntake!.metric!.dimensions.QueueName).toBe(input.intakeDeadLetter);
    expect(byName.AlarmOldestMessageLarge!.metric).toMatchObject({
      metricName: "ApproximateAgeOfOldestMessage",
      dimensions: { QueueName: "gyre-prod-jobs-large" },
      statistic: "Maximum",
    });
    expect(byName.AlarmNoReadyNodes!.queries![1]!.metric!.dimensions).toEqual({
      Env: "prod",
      Status: "ready",
    });
  });

  it("give each its statistic one way, and metric math one returned series over ids that exist", () => {
    for (const alarm of alarms) {
      expect(Boolean(alarm.metric) !== Boolean(alarm.queries), alarm.name).toBe(true);
      if (alarm.metric)
        expect(Boolean(alarm.metric.statistic) !== Boolean(alarm.metric.extendedStatistic), alarm.name).toBe(
          true,
        );
      if (!alarm.queries) continue;
      expect(alarm.queries.filter((q) => q.returnData)).toHaveLength(1);
      const ids = new Set(alarm.queries.map((q) => q.id));
      for (const q of alarm.queries) {
        expect(Boolean(q.metric) !== Boolean(q.expression), `${alarm.name}/${q.id}`).toBe(true);
        expect(q.id).toMatch(/^[a-z][A-Za-z0-9_]*$/);
        for (const ref of q.expression?.match(/\b[a-z][A-Za-z0-9_]*\b/g) ?? [])
          if (!["IF", "AND", "DIFF"].includes(ref)) expect(ids.has(ref), `${alarm.name}: ${ref}`).toBe(true);
      }
    }
    expect(byName.AlarmNoReadyNodes!.queries!.find((q) => q.returnData)!.expression).toBe(
      "IF(pending > 0 AND ready < 1, 1, 0)",
    );
    // The reconciler's silence breaches too: nothing reports the fleet then.
    expect(byName.AlarmNoReadyNodes!.treatMissingData).toBe("breaching");
  });
});

describe("the dashboard", () => {
  const body = dashboardBody({ ...input, region: "eu-west-1" });

  it("is JSON CloudWatch reads: metric widgets in the region, each series a namespace, name and dimension pairs", () => {
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
    expect(body.widgets.length).toBeGreaterThanOrEqual(10);
    for (const w of body.widgets) {
      const props = w.properties as { region: string; title: string; metrics: unknown[][] };
      expect(w.type).toBe("metric");
      expect(props.region).toBe("eu-west-1");
      expect(props.metrics.length, props.title).toBeGreaterThan(0);
      for (const series of props.metrics) {
        const plain = series.filter((x) => typeof x === "string") as string[];
        const options = series.slice(plain.length);
        expect(
          options.every((o) => typeof o === "object"),
          props.title,
        ).toBe(true);
        // namespace, name, then name/value pairs
        expect(plain.length % 2, props.title).toBe(0);
        if (plain[0] === NAMESPACE) {
          expect(emitted.has(plain[1]!), plain[1]).toBe(true);
          expect(plain.slice(2, 4)).toEqual(["Env", "prod"]);
        } else expect(plain[0]).toBe("AWS/SQS");
      }
    }
  });

  it("shows jobs pending per resource class and every job queue's oldest message", () => {
    const titled = (start: string) =>
      body.widgets.find((w) => String((w.properties as { title: string }).title).startsWith(start))!
        .properties as { metrics: unknown[][] };
    expect(titled("Jobs pending").metrics.map((s) => s[5])).toEqual([...DEFAULT_RESOURCE_CLASSES]);
    expect(titled("Oldest message").metrics.map((s) => s[3])).toEqual(input.jobQueues.map((q) => q.queue));
  });
});
