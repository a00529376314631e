/**
 * GitHub webhooks: signature check over the exact bytes received, push payload parsing, and
 * delivery records so that a redelivered or replayed delivery creates nothing new.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Gyre } from "../context.ts";
import { unauthorized } from "../error.ts";
import type { Ref } from "../git/index.ts";
import { enqueueIntake, findPipeline, type IntakeMessage, IntakeMessageSchema } from "../pipeline/index.ts";
import {
  commitMessage,
  DeliveryId,
  Limits,
  RefName,
  RepositoryFullName,
  Revision,
  truncate,
} from "../protocol/api.ts";
import { parseInput, z } from "../protocol/schema.ts";
import { putNew, queryAll } from "../store/index.ts";
import { Index, Keys } from "../table.ts";

/** True when `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`. */
export function verifySignature(secret: string, body: Uint8Array, signature: string | undefined): boolean {
  if (!signature?.startsWith("sha256=")) return false;
  const given = Buffer.from(signature.slice(7), "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function assertSignature(secret: string, body: Uint8Array, signature: string | undefined): void {
  if (!signature) throw unauthorized("Missing X-Hub-Signature-256 header.");
  if (!verifySignature(secret, body, signature))
    throw unauthorized("X-Hub-Signature-256 does not match the payload.");
}

export interface PushEvent {
  /** `org/repo` as `repository.full_name`. */
  fullName: string;
  ref: Ref;
  deleted: boolean;
  pusher: string;
  /** The head commit's message, bounded (see `commitMessage`): a delivery record must fit an item. */
  commit?: { subject: string; body: string };
}

const Payload = z.object({ repository: z.object({ full_name: RepositoryFullName }) });

const REFS = /^refs\/(heads|tags)\/(.+)$/s;

const Push = z.object({
  ref: z
    .string()
    .max(Limits.refNameBytes + 45, "a ref name of at most 255 bytes")
    .regex(REFS, "expected refs/heads/* or refs/tags/*"),
  after: Revision,
  deleted: z.unknown().optional(),
  // Optional parts are read leniently: a push GitHub sends is never refused over them.
  head_commit: z.object({ message: z.string() }).nullish().catch(undefined),
  pusher: z
    .object({ name: z.string().min(1) })
    .nullish()
    .catch(undefined),
});

/** The repository a payload is about (every event GitHub sends to a repository hook has one). */
export function repositoryFullName(payload: unknown): string {
  return parseInput(Payload, payload, "payload").repository.full_name;
}

const Login = z.string().min(1).max(255);
const OrgPayload = z.object({
  organization: z.object({ login: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/) }),
});

/**
 * Where a delivery comes from: a repository's hook names its repository; an organization's hook
 * (its `ping` has no repository) names only the organization.
 */
export function deliverySource(payload: unknown): { repository: string } | { organization: string } {
  if (
    typeof payload === "object" &&
    payload !== null &&
    !("repository" in payload) &&
    "organization" in payload
  )
    return { organization: parseInput(OrgPayload, payload, "payload").organization.login };
  return { repository: repositoryFullName(payload) };
}

export interface PullRequestEvent {
  fullName: string;
  /** `opened`, `synchronize`, `reopened`, `closed`, `labeled`, ... */
  action: string;
  number: number;
  /** Its page on GitHub (`html_url`). */
  url: string;
  head: { sha: string; ref: string; repoFullName?: string; repoName?: string };
  base: { ref: string };
  /** Who opened it (`pull_request.user.login`). */
  author: string;
  /** Who caused this delivery (`sender.login`): who opened, pushed to or reopened it. */
  sender: string;
  /** Its head is in another repository (a fork), or in one deleted since. */
  fork: boolean;
}

const Repo = z.object({ full_name: RepositoryFullName, name: z.string().min(1).max(100) });

const PullRequest = z.object({
  action: z.string().regex(/^[a-z_]{1,64}$/, "a pull request action such as opened"),
  number: z
    .number()
    .int()
    .positive()
    .max(2 ** 31),
  pull_request: z.object({
    html_url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\//, "an http(s) URL"),
    user: z.object({ login: Login }).nullish().catch(undefined),
    head: z.object({ sha: Revision, ref: RefName, repo: Repo.nullish().catch(null) }),
    base: z.object({ ref: RefName, repo: Repo }),
  }),
  sender: z.object({ login: Login }).nullish().catch(undefined),
});

export function parsePullRequest(payload: unknown): PullRequestEvent {
  const fullName = repositoryFullName(payload);
  const body = parseInput(PullRequest, payload, "pull_request payload");
  const pr = body.pull_request;
  const headRepo = pr.head.repo ?? undefined;
  const author = pr.user?.login ?? body.sender?.login ?? "github";
  return {
    fullName,
    action: body.action,
    number: body.number,
    url: pr.html_url,
    head: {
      sha: pr.head.sha,
      ref: pr.head.ref,
      ...(headRepo ? { repoFullName: headRepo.full_name, repoName: headRepo.name } : {}),
    },
    base: { ref: pr.base.ref },
    author: truncate(author, 255),
    sender: truncate(body.sender?.login ?? author, 255),
    fork: headRepo?.full_name !== pr.base.repo.full_name,
  };
}

export interface RefEvent {
  fullName: string;
  refType: "branch" | "tag";
  ref: string;
}

const RefPayload = z.object({
  ref: RefName,
  ref_type: z.enum(["branch", "tag"], { error: "expected branch or tag" }),
});

/** A `create` or `delete` delivery: the branch or tag created or deleted. */
export function parseRefEvent(payload: unknown): RefEvent {
  const fullName = repositoryFullName(payload);
  const body = parseInput(RefPayload, payload, "create/delete payload");
  return { fullName, refType: body.ref_type, ref: body.ref };
}

/** A `ping`'s hook id, when it has one. */
export function pingHookId(payload: unknown): number | undefined {
  const parsed = z.object({ hook_id: z.number().int() }).safeParse(payload);
  return parsed.success ? parsed.data.hook_id : undefined;
}

export function parsePush(payload: unknown): PushEvent {
  const fullName = repositoryFullName(payload);
  const body = parseInput(Push, payload, "push payload");
  const [, kind, name] = REFS.exec(body.ref)!;
  const ref: Ref = { revision: body.after };
  if (kind === "heads") ref.branch = parseInput(RefName, name, "branch name (ref)");
  else ref.tag = parseInput(RefName, name, "tag name (ref)");
  const message = body.head_commit?.message;
  return {
    fullName,
    ref,
    deleted: body.deleted === true || /^0+$/.test(body.after),
    pusher: body.pusher ? truncate(body.pusher.name, 255) : "github",
    commit: message !== undefined ? commitMessage(message) : undefined,
  };
}

/**
 * Records a delivery with the intake message it became; false when it was seen before (a
 * replay is a no-op). Kept 30 days (`expiresAt`; GitHub's redelivery window is shorter) and
 * listed by day, so that a pipeline whose intake message was lost (the local queue lives in
 * memory) can be re-driven from here.
 */
export async function recordDelivery(
  gyre: Gyre,
  deliveryId: string,
  message: IntakeMessage,
): Promise<boolean> {
  // The message is what a redrive needs, bounded by parsePush: the item always fits DynamoDB's 400 KB.
  parseInput(DeliveryId, deliveryId, "X-GitHub-Delivery header");
  const receivedAt = new Date(gyre.now()).toISOString();
  return putNew(gyre, {
    ...Keys.delivery(deliveryId),
    gsi1pk: Index.deliveriesOn(receivedAt.slice(0, 10)),
    gsi1sk: `${receivedAt}#${deliveryId}`,
    pipelineId: message.pipelineId,
    message,
    receivedAt,
    expiresAt: Math.floor(gyre.now() / 1000) + 30 * 86400,
  });
}

/** A delivery record; an unreadable intake message (an older version's) is not re-driven. */
const DeliverySchema = z.object({
  message: z.unknown().transform((m) => {
    const parsed = IntakeMessageSchema.safeParse(m);
    return parsed.success ? parsed.data : undefined;
  }),
});

/**
 * Re-enqueues every delivery of the last `hours` whose pipeline does not exist: its intake
 * message was lost (a restart of the local runtime loses the in-memory queue). Replaying is
 * safe: the intake is idempotent by pipeline id.
 */
export async function redriveDeliveries(gyre: Gyre, hours = 24): Promise<number> {
  const since = new Date(gyre.now() - hours * 3600_000).toISOString();
  const days = new Set([since.slice(0, 10), new Date(gyre.now()).toISOString().slice(0, 10)]);
  let redriven = 0;
  for (const day of days) {
    for await (const item of queryAll(
      gyre,
      { index: "gsi1", partition: Index.deliveriesOn(day), sort: { gte: since } },
      DeliverySchema,
      "delivery",
    )) {
      if (!item.message || (await findPipeline(gyre, item.message.pipelineId))) continue;
      await enqueueIntake(gyre, item.message);
      redriven++;
    }
  }
  return redriven;
}
