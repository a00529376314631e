/**
 * GitHub webhooks: signature check over the exact bytes received, push payload parsing, and
 * delivery records so that a redelivered or replayed delivery creates nothing new.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { putNew, queryAll } from "../aws/dynamo.ts";
import type { Gyre } from "../context.ts";
import { badRequest, unauthorized } from "../error.ts";
import type { Ref } from "../git/index.ts";
import { enqueueIntake, findPipeline, type IntakeMessage } from "../pipeline/index.ts";
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
  commit?: { subject: string; body: string };
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw badRequest(`${what} must be an object.`);
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw badRequest(`${what} must be a non-empty string.`);
  return value;
}

/** The repository a payload is about (every event GitHub sends to a repository hook has one). */
export function repositoryFullName(payload: unknown): string {
  const repository = object(object(payload, "The payload").repository, "repository");
  return string(repository.full_name, "repository.full_name");
}

export function parsePush(payload: unknown): PushEvent {
  const body = object(payload, "The payload");
  const refName = string(body.ref, "ref");
  const after = string(body.after, "after");
  const ref: Ref = { revision: after };
  if (refName.startsWith("refs/heads/")) ref.branch = refName.slice("refs/heads/".length);
  else if (refName.startsWith("refs/tags/")) ref.tag = refName.slice("refs/tags/".length);
  else throw badRequest(`Unsupported ref "${refName}": expected refs/heads/* or refs/tags/*.`);
  const head = body.head_commit as { message?: unknown } | null | undefined;
  const message = typeof head?.message === "string" ? head.message : undefined;
  const [subject = "", ...rest] = (message ?? "").split("\n");
  const pusher = (body.pusher as { name?: unknown } | undefined)?.name;
  return {
    fullName: repositoryFullName(body),
    ref,
    deleted: body.deleted === true || /^0{40}$/.test(after),
    pusher: typeof pusher === "string" ? pusher : "github",
    commit: message !== undefined ? { subject, body: rest.join("\n").trim() } : undefined,
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
    for await (const item of queryAll<{ message?: IntakeMessage }>(gyre, {
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :p AND gsi1sk >= :since",
      ExpressionAttributeValues: { ":p": Index.deliveriesOn(day), ":since": since },
    })) {
      if (!item.message || (await findPipeline(gyre, item.message.pipelineId))) continue;
      await enqueueIntake(gyre, item.message);
      redriven++;
    }
  }
  return redriven;
}
