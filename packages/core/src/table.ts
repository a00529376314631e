/**
 * The single DynamoDB table: every item's keys, in one place (no other module builds one).
 * Access patterns:
 *
 * | item             | pk                   | sk                          | gsi1pk                      | gsi1sk            |
 * |------------------|----------------------|-----------------------------|-----------------------------|-------------------|
 * | project          | PROJECT#<slug>       | PROJECT                     | PROJECTS                    | <slug>            |
 * | organization     | ORG#<vcs>/<org>      | ORG                         |                             |                   |
 * | env var          | PROJECT#<slug>       | ENVVAR#<name>               |                             |                   |
 * | checkout key     | PROJECT#<slug>       | CHECKOUTKEY#<md5>           |                             |                   |
 * | ssh key          | PROJECT#<slug>       | SSHKEY#<md5>#<host>         |                             |                   |
 * | trigger record   | PROJECT#<slug>       | TRIGGER#<sha256 of key>     |                             |                   |
 * | open pull request| PROJECT#<slug>       | PULL#<number, padded>       |                             |                   |
 * | delivery         | DELIVERY#<id>        | DELIVERY                    | DELIVERIES#<yyyy-mm-dd>     | <received>#<id>   |
 * | pipeline         | PIPELINE#<id>        | PIPELINE                    | PROJECT#<slug>#PIPELINES    | <number, padded>  |
 * | workflow         | WORKFLOW#<id>        | WORKFLOW                    | PIPELINE#<id>#WORKFLOWS     | <created>#<name>  |
 * | job              | WORKFLOW#<id>        | JOB#<name>                  | PROJECT#<slug>#JOBS         | <number, padded>  |
 * | context          | CONTEXT#<id>         | CONTEXT                     | OWNER#<owner>#CONTEXTS      | <name>            |
 * | context variable | CONTEXT#<id>         | ENVVAR#<name>               |                             |                   |
 * | node             | NODE#<id>            | NODE                        | NODES                       | <id>              |
 * | user             | USER#<id>            | USER                        | USERS                       | <login>           |
 * | follow           | USER#<id>            | FOLLOW#<slug>               |                             |                   |
 * | api token        | TOKEN#<sha256>       | TOKEN                       | USER#<id>#TOKENS or PROJECT#<slug>#TOKENS | <created> |
 * | session          | SESSION#<sha256>     | SESSION                     | USER#<id>#SESSIONS          | <created>         |
 * | sign-in identity | IDENTITY#<provider>#<id> | IDENTITY                |                             |                   |
 * | repo permission  | USER#<id>            | PERMISSION#<slug>           |                             |                   |
 * | oauth state      | OAUTHSTATE#<sha256>  | OAUTHSTATE                  |                             |                   |
 * | settings         | SETTINGS             | SETTINGS                    |                             |                   |
 * | first admin      | SETTINGS             | FIRSTADMIN                  |                             |                   |
 * | iam signature    | IAMSIG#<sha256>      | IAMSIG                      |                             |                   |
 * | signing key      | SIGNINGKEY#<purpose> | SIGNINGKEY                  |                             |                   |
 * | user ssh key     | USER#<id>            | SSHKEY#<SHA256:...>         |                             |                   |
 * | audit record     | AUDIT#<yyyy-mm-ddThh>| <occurred_at>#<id>          |                             |                   |
 * | schedule         | SCHEDULE#<id>        | SCHEDULE                    | PROJECT#<slug>#SCHEDULES    | <kind>#<id>       |
 * | workflow run     | INSIGHTS#<slug>      | WORKFLOW#<created>#<id>     | INSIGHTS#<slug>#WORKFLOW#<name> | <created>#<id> |
 * | job run          | INSIGHTS#<slug>#JOBS#<workflow> | JOB#<started>#<id> | INSIGHTS#<slug>#WORKFLOW#<workflow>#JOB#<name> | <started>#<id> |
 * | test run         | INSIGHTS#<slug>#COMMIT#<sha> | TESTS#<job name>#<job id> |                     |                   |
 * | flaky test run   | INSIGHTS#<slug>#FLAKY | <started>#<test digest>#<job id> |                      |                   |
 *
 * A workflow and its jobs share a partition: one query reads a whole workflow for finalize.
 * Jobs that can still move (blocked, queued, running) carry `gsi2pk = ACTIVE#<shard>` (sparse
 * index `gsi2`, spread over shards so no single partition takes every job's writes) for the
 * reconciler; so do pipelines waiting for their intake. Schedules are all listed under
 * `gsi2pk = SCHEDULES` for the scheduler (a partition the reconciler never reads).
 *
 * Insights (insights/): a small run record per finished workflow and per job it ran, written
 * once when the workflow ends, sorted by time in a partition per project (workflow runs) and
 * per project + workflow name (job runs), so a reporting window is one query; `gsi1` lists one
 * workflow's or one job's runs. A job's parsed test results leave a test run per commit (its
 * failures and the digests of its passes), and a test that passed and failed on one commit a
 * flaky test run per failure. Names in these keys are URI-encoded; all carry `expiresAt`.
 */
export const Keys = {
  project: (slug: string) => ({ pk: `PROJECT#${slug}`, sk: "PROJECT" }),
  /** An organization's UUID, recorded once (project/organization.ts); `<vcs>/<org>` as in `gh/acme`. */
  organization: (orgSlug: string) => ({ pk: `ORG#${orgSlug}`, sk: "ORG" }),
  envVar: (slug: string, name: string) => ({ pk: `PROJECT#${slug}`, sk: `ENVVAR#${name}` }),
  checkoutKey: (slug: string, md5: string) => ({ pk: `PROJECT#${slug}`, sk: `CHECKOUTKEY#${md5}` }),
  sshKey: (slug: string, md5: string, host: string) => ({
    pk: `PROJECT#${slug}`,
    sk: `SSHKEY#${md5}#${host}`,
  }),
  trigger: (slug: string, keyHash: string) => ({ pk: `PROJECT#${slug}`, sk: `TRIGGER#${keyHash}` }),
  /** A GitHub pull request open against the project (project/pull-requests.ts), gone when closed. */
  pullRequest: (slug: string, number: number) => ({
    pk: `PROJECT#${slug}`,
    sk: `PULL#${String(number).padStart(10, "0")}`,
  }),
  delivery: (id: string) => ({ pk: `DELIVERY#${id}`, sk: "DELIVERY" }),
  pipeline: (id: string) => ({ pk: `PIPELINE#${id}`, sk: "PIPELINE" }),
  workflow: (id: string) => ({ pk: `WORKFLOW#${id}`, sk: "WORKFLOW" }),
  job: (workflowId: string, name: string) => ({ pk: `WORKFLOW#${workflowId}`, sk: `JOB#${name}` }),
  context: (id: string) => ({ pk: `CONTEXT#${id}`, sk: "CONTEXT" }),
  contextVariable: (id: string, name: string) => ({ pk: `CONTEXT#${id}`, sk: `ENVVAR#${name}` }),
  node: (id: string) => ({ pk: `NODE#${id}`, sk: "NODE" }),
  user: (id: string) => ({ pk: `USER#${id}`, sk: "USER" }),
  /** A project a user follows (project/follow.ts): in the user's partition, listed by prefix. */
  follow: (userId: string, slug: string) => ({ pk: `USER#${userId}`, sk: `FOLLOW#${slug}` }),
  token: (hash: string) => ({ pk: `TOKEN#${hash}`, sk: "TOKEN" }),
  /** A browser session (auth/sessions.ts), by the SHA-256 of the cookie's value. */
  session: (hash: string) => ({ pk: `SESSION#${hash}`, sk: "SESSION" }),
  /** Who a GitHub account or an LDAP user is in Gyre (auth/users.ts): one user per identity. */
  identity: (provider: "github" | "ldap", id: string) => ({
    pk: `IDENTITY#${provider}#${id}`,
    sk: "IDENTITY",
  }),
  /** A user's permission on a project's repository as GitHub last said it (auth/permission.ts). */
  repoPermission: (userId: string, slug: string) => ({ pk: `USER#${userId}`, sk: `PERMISSION#${slug}` }),
  /** An OAuth sign-in under way (auth/oauth-state.ts), by the SHA-256 of its `state`. */
  oauthState: (hash: string) => ({ pk: `OAUTHSTATE#${hash}`, sk: "OAUTHSTATE" }),
  /** The installation's settings (settings/index.ts). */
  settings: () => ({ pk: "SETTINGS", sk: "SETTINGS" }),
  /** Taken once, by the first person to sign in: they become an administrator (auth/users.ts). */
  firstAdmin: () => ({ pk: "SETTINGS", sk: "FIRSTADMIN" }),
  /** A used IAM registration signature (node/iam.ts): each registers one node; expires with it. */
  iamSignature: (hash: string) => ({ pk: `IAMSIG#${hash}`, sk: "IAMSIG" }),
  /** An HMAC key, sealed, generated on first use (secret/signed-link.ts): `output-url`. */
  signingKey: (purpose: string) => ({ pk: `SIGNINGKEY#${purpose}`, sk: "SIGNINGKEY" }),
  schedule: (id: string) => ({ pk: `SCHEDULE#${id}`, sk: "SCHEDULE" }),
  /** An audit record (audit/index.ts), in the partition of the hour it occurred in. */
  audit: (occurredAt: string, id: string) => ({
    pk: `AUDIT#${occurredAt.slice(0, 13)}`,
    sk: `${occurredAt}#${id}`,
  }),
  /** A user's SSH public key (ssh/user-keys.ts), by its SHA-256 fingerprint. */
  userSshKey: (userId: string, fingerprint: string) => ({
    pk: `USER#${userId}`,
    sk: `SSHKEY#${fingerprint}`,
  }),
  /** A finished workflow's run record (insights/record.ts), by its creation time. */
  workflowRun: (slug: string, createdAt: string, id: string) => ({
    pk: `INSIGHTS#${slug}`,
    sk: `WORKFLOW#${createdAt}#${id}`,
  }),
  /** A job's run record, in its workflow name's partition, by the time it started. */
  jobRun: (slug: string, workflowName: string, startedAt: string, id: string) => ({
    pk: `INSIGHTS#${slug}#JOBS#${encodeURIComponent(workflowName)}`,
    sk: `JOB#${startedAt}#${id}`,
  }),
  /** What one job run's tests did on a commit (insights/tests.ts): the commit's reruns meet here. */
  testRun: (slug: string, revision: string, jobName: string, jobId: string) => ({
    pk: `INSIGHTS#${slug}#COMMIT#${revision}`,
    sk: `TESTS#${encodeURIComponent(jobName)}#${jobId}`,
  }),
  /** One failure of a test that passed on the same commit, by the failing job's start. */
  flakyTest: (slug: string, startedAt: string, digest: string, jobId: string) => ({
    pk: `INSIGHTS#${slug}#FLAKY`,
    sk: `${startedAt}#${digest}#${jobId}`,
  }),
} as const;

/** Partitions and sort-key prefixes that queries read. */
export const Partitions = {
  project: (slug: string) => `PROJECT#${slug}`,
  workflow: (id: string) => `WORKFLOW#${id}`,
  context: (id: string) => `CONTEXT#${id}`,
  user: (id: string) => `USER#${id}`,
  /** A project's workflow runs (sort keys `WORKFLOW#<created>#<id>`). */
  workflowRuns: (slug: string) => `INSIGHTS#${slug}`,
  /** The job runs of a project's workflows of one name (sort keys `JOB#<started>#<id>`). */
  jobRuns: (slug: string, workflowName: string) =>
    `INSIGHTS#${slug}#JOBS#${encodeURIComponent(workflowName)}`,
  commitTests: (slug: string, revision: string) => `INSIGHTS#${slug}#COMMIT#${revision}`,
  flakyTests: (slug: string) => `INSIGHTS#${slug}#FLAKY`,
} as const;

export const Prefixes = {
  envVar: "ENVVAR#",
  checkoutKey: "CHECKOUTKEY#",
  sshKey: "SSHKEY#",
  pullRequest: "PULL#",
  job: "JOB#",
  follow: "FOLLOW#",
  repoPermission: "PERMISSION#",
  workflowRun: "WORKFLOW#",
  jobRun: "JOB#",
  testRun: (jobName: string) => `TESTS#${encodeURIComponent(jobName)}#`,
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
  /** A project's API tokens (v1.1's project tokens). */
  projectTokensOf: (slug: string) => `PROJECT#${slug}#TOKENS`,
  sessionsOf: (userId: string) => `USER#${userId}#SESSIONS`,
  deliveriesOn: (day: string) => `DELIVERIES#${day}`,
  schedulesOf: (slug: string) => `PROJECT#${slug}#SCHEDULES`,
  /** On gsi2: every schedule, for the scheduler. */
  schedules: () => "SCHEDULES",
  /** The runs of a project's workflow of one name. */
  workflowRunsOf: (slug: string, name: string) => `INSIGHTS#${slug}#WORKFLOW#${encodeURIComponent(name)}`,
  /** The runs of one job of a project's workflow. */
  jobRunsOf: (slug: string, workflowName: string, jobName: string) =>
    `INSIGHTS#${slug}#WORKFLOW#${encodeURIComponent(workflowName)}#JOB#${encodeURIComponent(jobName)}`,
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
