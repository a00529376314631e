/**
 * Retention: step output, artifacts and caches expire after the periods the installation's
 * settings give (`retention_output_days`, `retention_artifact_days`, `retention_cache_days`;
 * 0 keeps them for ever).
 *
 * - Reads treat an expired thing as gone at once, whoever deletes it and whenever: a job's
 *   output and artifacts expire with the job (counted from when it stopped), a cache from its
 *   commit. The artifact lists are then empty, an artifact or a step's output answers 404
 *   saying it expired (never a 500 for a missing object), and an expired cache is one
 *   `restore_cache` does not find and `save_cache` may save anew.
 * - Deletion: locally `sweepExpired` on a timer (the runtime's `retentionSweepIntervalMs`); on
 *   AWS the bucket's lifecycle rules per prefix (infra/storage.ts), from RETENTION_DEFAULTS
 *   unless the stage is deployed with other periods (GYRE_RETENTION_*_DAYS).
 *
 * The prefixes are those of output/index.ts, storage/artifacts.ts and storage/caches.ts.
 * Test results, workspaces and orbs are not expired.
 */
import { deleteKeys } from "../aws/s3.ts";
import { listBucket } from "../backup/local.ts";
import type { Gyre } from "../context.ts";
import type { Job } from "../job/index.ts";
import { readSettings, type Settings } from "../settings/index.ts";
import { RETENTION_PREFIXES, type RetainedKind } from "./periods.ts";

export * from "./periods.ts";

/** The setting that says how long each kind is kept. */
export const RETENTION_SETTINGS = {
  output: "retention_output_days",
  artifacts: "retention_artifact_days",
  caches: "retention_cache_days",
} as const satisfies Record<RetainedKind, keyof Settings>;

const DAY_MS = 86_400_000;

/** Days each kind is kept, per the settings (0: for ever). */
export function retentionOf(settings: Settings): Record<RetainedKind, number> {
  return {
    output: settings[RETENTION_SETTINGS.output],
    artifacts: settings[RETENTION_SETTINGS.artifacts],
    caches: settings[RETENTION_SETTINGS.caches],
  };
}

/** True when something made (or stopped) at `at` is past `days` at `now`. */
export function isExpired(at: string | number | undefined, days: number, now: number): boolean {
  if (at === undefined || days <= 0) return false;
  const ms = typeof at === "number" ? at : Date.parse(at);
  return !Number.isNaN(ms) && ms < now - days * DAY_MS;
}

/**
 * Whether a job's output or artifacts have expired (they expire with the job: counted from
 * when it stopped; a job not yet stopped keeps them), and the period that applies.
 */
export async function jobExpiry(
  gyre: Gyre,
  job: Partial<Pick<Job, "stoppedAt">>,
  kind: "output" | "artifacts",
): Promise<{ expired: boolean; days: number }> {
  if (!job.stoppedAt) return { expired: false, days: 0 };
  const days = retentionOf(await readSettings(gyre))[kind];
  return { expired: isExpired(job.stoppedAt, days, gyre.now()), days };
}

/** What a read of expired things answers. */
export function expiredMessage(
  what: string,
  job: Pick<Job, "number">,
  kind: RetainedKind,
  days: number,
): string {
  return `The ${what} of job ${job.number} expired: ${kind} is kept ${days} day${days === 1 ? "" : "s"} after the job ends (setting ${RETENTION_SETTINGS[kind]}).`;
}

/** Whether a cache committed at `createdAt` has expired. */
export async function cacheExpired(gyre: Gyre, createdAt: string): Promise<boolean> {
  return isExpired(createdAt, retentionOf(await readSettings(gyre)).caches, gyre.now());
}

export interface SweepReport {
  /** Objects deleted, by kind. */
  deleted: Record<RetainedKind, number>;
  /** Jobs whose output or artifacts went, caches that went. */
  jobs: number;
  caches: number;
}

/**
 * Deletes what has expired from the bucket (the local runtime's timer; on AWS lifecycle rules
 * do it). A job's output and artifacts go whole, once the newest of its objects is past the
 * period (the newest is written as the job ends), so a job never keeps half its output. A
 * cache goes with its metadata first, then its archive, as `deleteCaches` does.
 */
export async function sweepExpired(gyre: Gyre): Promise<SweepReport> {
  const days = retentionOf(await readSettings(gyre));
  const now = gyre.now();
  const report: SweepReport = { deleted: { output: 0, artifacts: 0, caches: 0 }, jobs: 0, caches: 0 };

  for (const kind of ["output", "artifacts"] as const) {
    if (days[kind] <= 0) continue;
    const prefix = RETENTION_PREFIXES[kind];
    // Keys are listed in order, so a job's objects come together: one job at a time.
    let group: { id: string; keys: string[]; newest: number } | undefined;
    const settle = async () => {
      if (!group || !isExpired(group.newest, days[kind], now)) return;
      await deleteKeys(gyre, group.keys);
      report.deleted[kind] += group.keys.length;
      report.jobs++;
    };
    for await (const object of listBucket(gyre, prefix)) {
      const id = object.key.slice(prefix.length).split("/")[0]!;
      if (group?.id !== id) {
        await settle();
        group = { id, keys: [], newest: 0 };
      }
      group.keys.push(object.key);
      group.newest = Math.max(group.newest, object.lastModified);
    }
    await settle();
  }

  if (days.caches > 0) {
    // caches/<vcs>/<org>/<repo>/<key>.tar.gz and its .json: by archive, aged by the commit.
    const entries = new Map<string, { archive?: number; meta?: number }>();
    for await (const object of listBucket(gyre, RETENTION_PREFIXES.caches)) {
      const meta = object.key.endsWith(".tar.gz.json");
      const archive = meta ? object.key.slice(0, -".json".length) : object.key;
      const entry = entries.get(archive) ?? {};
      if (meta) entry.meta = object.lastModified;
      else entry.archive = object.lastModified;
      entries.set(archive, entry);
    }
    const expired = [...entries].filter(([, e]) => isExpired(e.meta ?? e.archive, days.caches, now));
    const metas = expired.filter(([, e]) => e.meta !== undefined).map(([archive]) => `${archive}.json`);
    const archives = expired.filter(([, e]) => e.archive !== undefined).map(([archive]) => archive);
    await deleteKeys(gyre, metas);
    await deleteKeys(gyre, archives);
    report.deleted.caches += metas.length + archives.length;
    report.caches += expired.length;
  }
  return report;
}
