/**
 * The single DynamoDB table: every item's keys, in one place (no other module builds one).
 * Access patterns:
 *
 * | item             | pk                   | sk                          | gsi1pk                      | gsi1sk            |
 * |------------------|----------------------|-----------------------------|-----------------------------|-------------------|
 * | project          | PROJECT#<slug>       | PROJECT                     | PROJECTS                    | <slug>            |
 * | env var          | PROJECT#<slug>       | ENVVAR#<name>               |                             |                   |
 * | checkout key     | PROJECT#<slug>       | CHECKOUTKEY#<md5>           |                             |                   |
 * | ssh key          | PROJECT#<slug>       | SSHKEY#<md5>#<host>         |                             |                   |
 * | trigger record   | PROJECT#<slug>       | TRIGGER#<sha256 of key>     |                             |                   |
 * | delivery         | DELIVERY#<id>        | DELIVERY                    | DELIVERIES#<yyyy-mm-dd>     | <received>#<id>   |
 * | pipeline         | PIPELINE#<id>        | PIPELINE                    | PROJECT#<slug>#PIPELINES    | <number, padded>  |
 * | workflow         | WORKFLOW#<id>        | WORKFLOW                    | PIPELINE#<id>#WORKFLOWS     | <created>#<name>  |
 * | job              | WORKFLOW#<id>        | JOB#<name>                  | PROJECT#<slug>#JOBS         | <number, padded>  |
 * | context          | CONTEXT#<id>         | CONTEXT                     | OWNER#<owner>#CONTEXTS      | <name>            |
 * | context variable | CONTEXT#<id>         | ENVVAR#<name>               |                             |                   |
 * | node             | NODE#<id>            | NODE                        | NODES                       | <id>              |
 * | user             | USER#<id>            | USER                        | USERS                       | <login>           |
 * | api token        | TOKEN#<sha256>       | TOKEN                       | USER#<id>#TOKENS            | <created>         |
 * | iam signature    | IAMSIG#<sha256>      | IAMSIG                      |                             |                   |
 *
 * A workflow and its jobs share a partition: one query reads a whole workflow for finalize.
 * Jobs that can still move (blocked, queued, running) carry `gsi2pk = ACTIVE#<shard>` (sparse
 * index `gsi2`, spread over shards so no single partition takes every job's writes) for the
 * reconciler; so do pipelines waiting for their intake.
 */
export const Keys = {
  project: (slug: string) => ({ pk: `PROJECT#${slug}`, sk: "PROJECT" }),
  envVar: (slug: string, name: string) => ({ pk: `PROJECT#${slug}`, sk: `ENVVAR#${name}` }),
  checkoutKey: (slug: string, md5: string) => ({ pk: `PROJECT#${slug}`, sk: `CHECKOUTKEY#${md5}` }),
  sshKey: (slug: string, md5: string, host: string) => ({
    pk: `PROJECT#${slug}`,
    sk: `SSHKEY#${md5}#${host}`,
  }),
  trigger: (slug: string, keyHash: string) => ({ pk: `PROJECT#${slug}`, sk: `TRIGGER#${keyHash}` }),
  delivery: (id: string) => ({ pk: `DELIVERY#${id}`, sk: "DELIVERY" }),
  pipeline: (id: string) => ({ pk: `PIPELINE#${id}`, sk: "PIPELINE" }),
  workflow: (id: string) => ({ pk: `WORKFLOW#${id}`, sk: "WORKFLOW" }),
  job: (workflowId: string, name: string) => ({ pk: `WORKFLOW#${workflowId}`, sk: `JOB#${name}` }),
  context: (id: string) => ({ pk: `CONTEXT#${id}`, sk: "CONTEXT" }),
  contextVariable: (id: string, name: string) => ({ pk: `CONTEXT#${id}`, sk: `ENVVAR#${name}` }),
  node: (id: string) => ({ pk: `NODE#${id}`, sk: "NODE" }),
  user: (id: string) => ({ pk: `USER#${id}`, sk: "USER" }),
  token: (hash: string) => ({ pk: `TOKEN#${hash}`, sk: "TOKEN" }),
  /** A used IAM registration signature (node/iam.ts): each registers one node; expires with it. */
  iamSignature: (hash: string) => ({ pk: `IAMSIG#${hash}`, sk: "IAMSIG" }),
} as const;

/** Partitions and sort-key prefixes that queries read. */
export const Partitions = {
  project: (slug: string) => `PROJECT#${slug}`,
  workflow: (id: string) => `WORKFLOW#${id}`,
  context: (id: string) => `CONTEXT#${id}`,
} as const;

export const Prefixes = {
  envVar: "ENVVAR#",
  checkoutKey: "CHECKOUTKEY#",
  sshKey: "SSHKEY#",
  job: "JOB#",
} as const;

export const Index = {
  projects: () => "PROJECTS",
  pipelinesOf: (slug: string) => `PROJECT#${slug}#PIPELINES`,
  workflowsOf: (pipelineId: string) => `PIPELINE#${pipelineId}#WORKFLOWS`,
  jobsOf: (slug: string) => `PROJECT#${slug}#JOBS`,
  contextsOf: (owner: string) => `OWNER#${owner}#CONTEXTS`,
  nodes: () => "NODES",
  users: () => "USERS",
  tokensOf: (userId: string) => `USER#${userId}#TOKENS`,
  deliveriesOn: (day: string) => `DELIVERIES#${day}`,
} as const;

export const ACTIVE_SHARDS = 8;

/** The shard of the sparse `gsi2` index an item that can still move is listed under. */
export function activeShard(id: string): string {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) | 0;
  return `ACTIVE#${Math.abs(h) % ACTIVE_SHARDS}`;
}

/** The attributes that put an item in the active index, or take it out (undefined). */
export const activeIndex = (id: string, active: boolean) =>
  active ? { gsi2pk: activeShard(id), gsi2sk: id } : { gsi2pk: undefined, gsi2sk: undefined };

/** Sort key for per-project numbers: zero-padded so string order is number order. */
export const padNumber = (n: number) => String(n).padStart(12, "0");
