/**
 * The weekly delivery: a week's usage statistics written to the bucket once it has ended, as
 *
 *   usage/<yyyy>-W<ww>/account_usage.csv
 *   usage/<yyyy>-W<ww>/job_activity.csv
 *   usage/<yyyy>-W<ww>/active_users.csv
 *   usage/<yyyy>-W<ww>/usage.json        (the whole report; written last)
 *
 * On AWS a schedule runs it every Monday at 02:00 UTC (infra, packages/functions/src/usage.ts);
 * locally the runtime checks every hour. Both write the week that ended at least
 * `DELIVERY_DELAY_MS` ago, once: `usage.json` is written after the CSVs, so its presence says the
 * week is delivered (a HEAD on it), and a pass that died half-way is redone whole by the next.
 * The delay lets jobs running at midnight on Sunday finish first; a job still running then is
 * in the API's answer for the week later, not in the files.
 */
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { isMissing } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { USAGE_REPORTS, usageCsv, usageJson } from "./format.ts";
import { usageReport } from "./report.ts";
import { lastFullWeek, type Week } from "./week.ts";

/** How long after a week's end it is written. */
export const DELIVERY_DELAY_MS = 2 * 3_600_000;

export const usageKeys = (week: string) => ({
  account_usage: `usage/${week}/account_usage.csv`,
  job_activity: `usage/${week}/job_activity.csv`,
  active_users: `usage/${week}/active_users.csv`,
  json: `usage/${week}/usage.json`,
});

/** The week the delivery writes at `now`: the last one that ended DELIVERY_DELAY_MS ago or more. */
export const dueWeek = (now: number): Week => lastFullWeek(now - DELIVERY_DELAY_MS);

async function exists(gyre: Gyre, key: string): Promise<boolean> {
  try {
    await gyre.aws.s3.send(new HeadObjectCommand({ Bucket: gyre.resources.bucketName, Key: key }));
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

const put = (gyre: Gyre, key: string, body: string, contentType: string) =>
  gyre.aws.s3.send(
    new PutObjectCommand({
      Bucket: gyre.resources.bucketName,
      Key: key,
      Body: body,
      ContentType: contentType,
    }),
  );

export interface Delivery {
  week: string;
  /** False when the week was delivered already (nothing written). */
  written: boolean;
  keys: string[];
}

/** Writes `week`'s files unless they are there (`replace`: write them again). */
export async function deliverUsage(
  gyre: Gyre,
  week: Week,
  options: { replace?: boolean } = {},
): Promise<Delivery> {
  const keys = usageKeys(week.id);
  const all = [...USAGE_REPORTS.map((name) => keys[name]), keys.json];
  if (!options.replace && (await exists(gyre, keys.json)))
    return { week: week.id, written: false, keys: all };
  const report = await usageReport(gyre, week);
  for (const name of USAGE_REPORTS)
    await put(gyre, keys[name], usageCsv(report, name), "text/csv; charset=utf-8");
  await put(gyre, keys.json, JSON.stringify(usageJson(report)), "application/json");
  return { week: week.id, written: true, keys: all };
}

/** The scheduled pass: the due week, once. */
export const deliverDueUsage = (gyre: Gyre): Promise<Delivery> => deliverUsage(gyre, dueWeek(gyre.now()));
