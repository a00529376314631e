/**
 * ISO 8601 weeks, the unit of usage statistics: `2026-W48` runs from Monday 00:00 UTC to the
 * next Monday 00:00 UTC (the end left out). Week 1 of a year is the week holding its first
 * Thursday (the week of 4 January), so a year has 52 weeks, or 53 when it starts on a Thursday
 * (or on a Wednesday in a leap year), and the first days of January may belong to the last
 * week of the year before. A query names a week that has begun (requestedWeek), or `this`.
 */
import { badRequest } from "../error.ts";

export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

export interface Week {
  /** `2026-W48`. */
  id: string;
  year: number;
  week: number;
  /** Epoch ms of its Monday 00:00 UTC. */
  from: number;
  /** Epoch ms of the next Monday 00:00 UTC: the end, left out. */
  to: number;
}

const WEEK = /^(\d{4})-W(\d{2})$/;
/** Weeks before 1970 hold nothing Gyre recorded; years past 9999 have no ISO week id. */
const FIRST_YEAR = 1970;

/** Monday 00:00 UTC of week 1 of `year`: the Monday of the week holding 4 January. */
function firstMonday(year: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return jan4 - weekday * DAY_MS;
}

/** 52 or 53: the weeks of an ISO year (28 December is always in its last week). */
export const weeksIn = (year: number): number => weekOf(Date.UTC(year, 11, 28)).week;

const make = (year: number, week: number): Week => {
  const from = firstMonday(year) + (week - 1) * WEEK_MS;
  return { id: `${year}-W${String(week).padStart(2, "0")}`, year, week, from, to: from + WEEK_MS };
};

/** The ISO week holding instant `ms`. */
export function weekOf(ms: number): Week {
  const day = Math.floor(ms / DAY_MS) * DAY_MS;
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  // The week's Thursday decides its year.
  const thursday = day - weekday * DAY_MS + 3 * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  return make(year, Math.floor((thursday - firstMonday(year)) / WEEK_MS) + 1);
}

/** The last week that has ended at `now` (the one before the week holding `now`). */
export const lastFullWeek = (now: number): Week => weekOf(weekOf(now).from - 1);

/**
 * `2026-W48` as a week, strictly: four-digit year from 1970, a capital `W`, a two-digit week
 * from 01 to the year's last (52 or 53). Anything else is a 400 that says what is wrong.
 */
export function parseWeek(text: string): Week {
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  const m = WEEK.exec(text);
  if (!m) throw badRequest(`Invalid week ${shown}: give an ISO week as YYYY-Www, such as 2026-W48.`);
  const year = Number(m[1]);
  const week = Number(m[2]);
  if (year < FIRST_YEAR) throw badRequest(`Invalid week ${shown}: the year must be ${FIRST_YEAR} or later.`);
  if (week === 0) throw badRequest(`Invalid week ${shown}: ISO weeks are numbered from 01.`);
  const last = weeksIn(year);
  if (week > last) throw badRequest(`Invalid week ${shown}: ${year} has ${last} ISO weeks.`);
  return make(year, week);
}

/** What `week=` takes besides an ISO week: the week under way, so far. */
export const THIS_WEEK = "this";
/** The last full week, named (what no week gives too). */
export const LAST_WEEK = "last";

/**
 * The week a query asks for (`GET /api/gyre/usage?week=`, `gyre usage --week`): the last full
 * week when none is given, the week under way for `this`, else an ISO week (parseWeek) that has
 * begun by `now`: a later one is a 400 saying which week is under way.
 */
export function requestedWeek(text: string | undefined, now: number): Week {
  if (text === undefined || text === LAST_WEEK) return lastFullWeek(now);
  if (text === THIS_WEEK) return weekOf(now);
  const week = parseWeek(text);
  if (week.from > now)
    throw badRequest(
      `Invalid week "${week.id}": it has not begun (the week under way is ${weekOf(now).id}: give week=${THIS_WEEK} for it so far).`,
    );
  return week;
}
