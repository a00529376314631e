/**
 * Gyre's queues. The intake queue decouples webhook acknowledgement from config compilation;
 * one job queue per resource class carries allocations (with their task tokens) to builders.
 * Every queue has a dead-letter queue, so a poison message stops retrying and stays visible.
 */
import { DEFAULT_RESOURCE_CLASSES, LinkNames, queueKey } from "../packages/core/src/resources.ts";
import { jobQueueGrants } from "./policies.ts";

/** Dead letters are kept for the SQS maximum, 14 days, for inspection and redrive. */
const deadLetterRetention = { messageRetentionSeconds: 14 * 24 * 60 * 60 };

function deadLetterQueue(name: string, physicalName?: string) {
  return new sst.aws.Queue(name, {
    transform: { queue: { ...deadLetterRetention, ...(physicalName ? { name: physicalName } : {}) } },
  });
}

export const intakeDeadLetterQueue = deadLetterQueue("IntakeDeadLetterQueue");

/** Visibility is 6x the intake consumer's timeout (AWS guidance for Lambda event sources). */
export const intakeQueue = new sst.aws.Queue(LinkNames.intakeQueue, {
  visibilityTimeout: "6 minutes",
  dlq: { queue: intakeDeadLetterQueue.arn, retry: 5 },
});

function pascal(key: string): string {
  return key
    .split(/[-_]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
}

/**
 * Resource class name → its job queue. Physical names read `<app>-<stage>-jobs-<queueKey>`, so
 * an operator finds the `medium+` queue as `gyre-prod-jobs-medium-plus`. A message a builder
 * received fifty times without being claimed goes to the dead-letter queue; the allocation then
 * waits until the reconciler ends it at the queue timeout. A builder puts back (receives without
 * claiming) a message that arrives as it drains, when another class took its room or when the
 * claim got no answer: fifty leaves room for those on a busy fleet, and still parks a message
 * that no claim ever settles within hours.
 */
/** Each job queue's dead-letter queue: `gyre doctor` reads their depth. */
export const jobDeadLetterQueues: sst.aws.Queue[] = [];

export const jobQueues: Record<string, sst.aws.Queue> = Object.fromEntries(
  DEFAULT_RESOURCE_CLASSES.map((resourceClass) => {
    const key = queueKey(resourceClass);
    const prefix = `${$app.name}-${$app.stage}-jobs-${key}`;
    const deadLetter = deadLetterQueue(`JobQueue${pascal(key)}DeadLetter`, `${prefix}-dlq`);
    jobDeadLetterQueues.push(deadLetter);
    const queue = new sst.aws.Queue(`JobQueue${pascal(key)}`, {
      visibilityTimeout: "2 minutes",
      dlq: { queue: deadLetter.arn, retry: 50 },
      transform: { queue: { name: prefix } },
    });
    return [resourceClass, queue];
  }),
);

export const jobQueuesLink = new sst.Linkable(LinkNames.jobQueues, {
  properties: {
    // Keyed as queueUrlFor looks them up (queueKey: `medium+` → `medium-plus`).
    urls: $resolve(
      Object.fromEntries(Object.entries(jobQueues).map(([name, queue]) => [queueKey(name), queue.url])),
    ),
  },
  include: [
    ...jobQueueGrants(Object.values(jobQueues).map((queue) => queue.arn)),
    // Depth only (gyre doctor): nothing reads or moves dead letters but an operator.
    { actions: ["sqs:GetQueueAttributes"], resources: jobDeadLetterQueues.map((queue) => queue.arn) },
  ].map((grant) => sst.aws.permission(grant)),
});
