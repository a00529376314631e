/**
 * The single DynamoDB table: every item's keys, in one place. Access patterns:
 *
 * | item        | pk                   | sk           | gsi1pk                      | gsi1sk            |
 * |-------------|----------------------|--------------|-----------------------------|-------------------|
 * | project     | PROJECT#<slug>       | PROJECT      | PROJECTS                    | <slug>            |
 * | delivery    | DELIVERY#<id>        | DELIVERY     | DELIVERIES#<yyyy-mm-dd>     | <received>#<id>   |
 * | pipeline    | PIPELINE#<id>        | PIPELINE     | PROJECT#<slug>#PIPELINES    | <number, padded>  |
 * | workflow    | WORKFLOW#<id>        | WORKFLOW     | PIPELINE#<id>#WORKFLOWS     | <created>#<name>  |
 * | job         | WORKFLOW#<id>        | JOB#<name>   | PROJECT#<slug>#JOBS         | <number, padded>  |
 * | user        | USER#<id>            | USER         | USERS                       | <login>           |
 * | api token   | TOKEN#<sha256>       | TOKEN        | USER#<id>#TOKENS            | <created>         |
 *
 * A workflow and its jobs share a partition: one query reads a whole workflow for finalize.
 * Jobs that are queued or running carry `gsi2pk = ACTIVE#<shard>` (sparse index `gsi2`,
 * spread over shards so no single partition takes every job's writes) for the reconciler.
 */
export const Keys = {
  project: (slug: string) => ({ pk: `PROJECT#${slug}`, sk: "PROJECT" }),
  delivery: (id: string) => ({ pk: `DELIVERY#${id}`, sk: "DELIVERY" }),
  pipeline: (id: string) => ({ pk: `PIPELINE#${id}`, sk: "PIPELINE" }),
  workflow: (id: string) => ({ pk: `WORKFLOW#${id}`, sk: "WORKFLOW" }),
  job: (workflowId: string, name: string) => ({ pk: `WORKFLOW#${workflowId}`, sk: `JOB#${name}` }),
  user: (id: string) => ({ pk: `USER#${id}`, sk: "USER" }),
  token: (hash: string) => ({ pk: `TOKEN#${hash}`, sk: "TOKEN" }),
} as const;

export const Index = {
  projects: () => "PROJECTS",
  pipelinesOf: (slug: string) => `PROJECT#${slug}#PIPELINES`,
  workflowsOf: (pipelineId: string) => `PIPELINE#${pipelineId}#WORKFLOWS`,
  jobsOf: (slug: string) => `PROJECT#${slug}#JOBS`,
  users: () => "USERS",
  deliveriesOn: (day: string) => `DELIVERIES#${day}`,
} as const;

export const ACTIVE_SHARDS = 8;

/** Sort key for per-project numbers: zero-padded so string order is number order. */
export const padNumber = (n: number) => String(n).padStart(12, "0");
