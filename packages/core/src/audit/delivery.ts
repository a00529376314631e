/**
 * The hourly files, as the reference delivers its audit log: for each hour that has ended and
 * has records, one object in the bucket,
 *
 *   audit-logs/audit_log/v1/<yyyy>/<mm>/<dd>/<hh>/<yyyy-mm-ddThh>.json
 *
 * holding the hour's records one JSON object per line (JSON Lines), oldest first, each with the
 * reference's fields in its order. A file is written once: the marker `audit-logs/delivered.json`
 * names the last hour delivered, and a pass writes the hours after it. Rewriting an hour writes
 * the same bytes (the records are read back in key order and serialized canonically), so a pass
 * that crashed half-way and runs again does no harm.
 *
 * A pass first re-delivers the parked records (index.ts) into the table, then rewrites the
 * hours they belong to that were delivered already, then removes them from the parking place;
 * a crash in between re-delivers them again next time, to the same key.
 *
 * An hour is delivered once it ended `GRACE_MS` ago (a write in flight at the hour's end, retried
 * and then parked, lands within it). The first pass (no marker) looks back `BACKFILL_HOURS`.
 */

import { PutObjectCommand } from "@aws-sdk/client-s3";
import { deleteKeys, listKeys, putJson, readJson, readText } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { z } from "../protocol/schema.ts";
import { putItem, queryRaw } from "../store/index.ts";
import {
  AuditObjects,
  type AuditRecord,
  AuditRecordSchema,
  auditItem,
  auditPartition,
  canonicalRecord,
} from "./index.ts";

const HOUR_MS = 3600_000;
/** How long after an hour's end its file is written. */
export const GRACE_MS = 5 * 60_000;
/** How far back the first pass looks, and the most hours one pass writes (31 days). */
export const BACKFILL_HOURS = 31 * 24;
/** Hours read at once. */
const CONCURRENCY = 8;

const Marker = z.object({ version: z.literal(1), through: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d$/) });

/** `<yyyy-mm-ddThh>` of an instant (ms). */
export const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const startOf = (hour: string) => Date.parse(`${hour}:00:00.000Z`);

export interface AuditDelivery {
  /** Parked records put back into the table. */
  redelivered: number;
  /** Parked objects left in place because they could not be read as records. */
  unreadable: string[];
  /** The files written, by hour. */
  files: { hour: string; key: string; records: number }[];
  /** The last hour delivered after this pass (null: none yet). */
  through: string | null;
}

/** Every record of one hour, oldest first, in canonical shape. */
export async function recordsOfHour(gyre: Gyre, hour: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const item of queryRaw(gyre, { partition: auditPartition(hour), consistent: true })) {
    const parsed = AuditRecordSchema.safeParse(item.record);
    if (parsed.success) out.push(canonicalRecord(parsed.data));
    else console.error(`gyre audit: skipped an unreadable record ${String(item.sk)} of hour ${hour}`);
  }
  return out;
}

/** The hourly file's body: one record per line, each line ending with a newline. */
export const jsonLines = (records: readonly AuditRecord[]) =>
  records.map((r) => `${JSON.stringify(r)}\n`).join("");

/** Puts the parked records back into the table; which objects were re-delivered and their hours. */
async function redeliverParked(gyre: Gyre) {
  const keys: string[] = [];
  const hours = new Set<string>();
  const unreadable: string[] = [];
  for (const key of await listKeys(gyre, AuditObjects.parkedPrefix)) {
    const text = await readText(gyre, key);
    if (text === undefined) continue; // removed by a pass running at the same time
    let parsed: ReturnType<typeof AuditRecordSchema.safeParse> | undefined;
    try {
      parsed = AuditRecordSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      unreadable.push(key);
      continue;
    }
    // The record's own key: a record re-delivered twice, or written after all, is one item. One
    // the table refuses (too large, say) stays parked and is reported; it stops no other.
    try {
      await putItem(gyre, auditItem(parsed.data as AuditRecord));
    } catch (error) {
      unreadable.push(`${key} (${(error as Error).name}: ${(error as Error).message.slice(0, 200)})`);
      continue;
    }
    keys.push(key);
    hours.add(hourOf(Date.parse(parsed.data.occurred_at)));
  }
  return { keys, hours, unreadable };
}

async function inBatches<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += CONCURRENCY)
    out.push(...(await Promise.all(items.slice(i, i + CONCURRENCY).map(f))));
  return out;
}

/**
 * One delivery pass (hourly on AWS, every few minutes locally): parked records back into the
 * table, then a file for each ended hour with records after the marker (and each delivered hour
 * a parked record belonged to). `now` is the time of the pass (default the Gyre's clock).
 */
export async function deliverAuditFiles(gyre: Gyre, options: { now?: number } = {}): Promise<AuditDelivery> {
  const now = options.now ?? gyre.now();
  const lastEnded = hourOf(now - GRACE_MS - HOUR_MS);
  const marker = await readJson(gyre, AuditObjects.marker, Marker, "audit delivery marker");
  const parked = await redeliverParked(gyre);

  const first = marker
    ? startOf(marker.through) + HOUR_MS
    : startOf(lastEnded) - (BACKFILL_HOURS - 1) * HOUR_MS;
  const fresh: string[] = [];
  for (let at = first; at <= startOf(lastEnded) && fresh.length < BACKFILL_HOURS; at += HOUR_MS)
    fresh.push(hourOf(at));
  // Hours delivered already that a parked record belongs to: written again, with it.
  const again = [...parked.hours].filter((h) => marker && h <= marker.through).sort();
  const hours = [...new Set([...again, ...fresh])];

  const written = await inBatches(hours, async (hour) => {
    const records = await recordsOfHour(gyre, hour);
    if (records.length === 0) return undefined;
    const key = AuditObjects.hourFile(hour);
    await gyre.aws.s3.send(
      new PutObjectCommand({
        Bucket: gyre.resources.bucketName,
        Key: key,
        Body: jsonLines(records),
        ContentType: "application/x-ndjson",
      }),
    );
    return { hour, key, records: records.length };
  });
  const through = fresh.at(-1) ?? marker?.through ?? null;
  if (fresh.length > 0) await putJson(gyre, AuditObjects.marker, { version: 1, through });
  // Only now that their hours' files hold them: a crash before this re-delivers them next time.
  await deleteKeys(gyre, parked.keys);
  return {
    redelivered: parked.keys.length,
    unreadable: parked.unreadable,
    files: written.filter((f) => f !== undefined),
    through,
  };
}
