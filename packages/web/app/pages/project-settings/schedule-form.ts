/**
 * The Triggers section's pure parts: a timetable in words, pipeline parameters as `key=value`
 * lines (and back), and the form's draft turned into the API's bodies: a create's whole body,
 * an update's changed fields only (API v2 `POST /project/{slug}/schedule`, `PATCH /schedule/{id}`).
 */
import type {
  PipelineParameterValue,
  Schedule,
  ScheduleDay,
  ScheduleMonth,
  ScheduleTimetable,
} from "../../types.ts";

/** The days of the week in the order the form shows them, Monday first. */
export const DAYS: readonly { key: ScheduleDay; name: string }[] = [
  { key: "MON", name: "Monday" },
  { key: "TUE", name: "Tuesday" },
  { key: "WED", name: "Wednesday" },
  { key: "THU", name: "Thursday" },
  { key: "FRI", name: "Friday" },
  { key: "SAT", name: "Saturday" },
  { key: "SUN", name: "Sunday" },
];

export const MONTHS: readonly { key: ScheduleMonth; name: string }[] = [
  { key: "JAN", name: "January" },
  { key: "FEB", name: "February" },
  { key: "MAR", name: "March" },
  { key: "APR", name: "April" },
  { key: "MAY", name: "May" },
  { key: "JUN", name: "June" },
  { key: "JUL", name: "July" },
  { key: "AUG", name: "August" },
  { key: "SEP", name: "September" },
  { key: "OCT", name: "October" },
  { key: "NOV", name: "November" },
  { key: "DEC", name: "December" },
];

const pad = (n: number) => String(n).padStart(2, "0");
/** An hour of the day as the page shows it: `07:00`. */
export const hourLabel = (h: number) => `${pad(h)}:00`;

/** "a", "a and b", "a, b and c". */
export function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const ordinal = (n: number) => {
  const tens = n % 100;
  const suffix =
    tens >= 11 && tens <= 13 ? "th" : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
  return `${n}${suffix}`;
};

/** Runs of consecutive numbers of a sorted list: [[1, 1], [9, 17]]. */
function runsOf(sorted: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const n of sorted) {
    const last = runs[runs.length - 1];
    if (last && n === last[1] + 1) last[1] = n;
    else runs.push([n, n]);
  }
  return runs;
}

const uniqueSorted = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);
const inOrder = <T extends string>(values: readonly T[], order: readonly { key: T }[]) =>
  order.map((o) => o.key).filter((k) => values.includes(k));

/** When during the day: the minutes of each hour (`per-hour` spread evenly) and the hours. */
function timesOfDay(perHour: number, hours: readonly number[]): string {
  const allDay = hours.length === 24;
  const runs = runsOf(hours);
  if (perHour === 1) {
    if (allDay) return "Every hour on the hour";
    if (runs.every(([a, b]) => b - a < 2)) return `At ${listOf(hours.map(hourLabel))}`;
    const pieces = runs.map(([a, b]) =>
      b - a >= 2
        ? `hourly from ${hourLabel(a)} to ${hourLabel(b)}`
        : `at ${listOf(Array.from({ length: b - a + 1 }, (_, k) => hourLabel(a + k)))}`,
    );
    const text = listOf(pieces);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }
  const minutes = Array.from({ length: perHour }, (_, k) => Math.floor((k * 60) / perHour));
  const often =
    perHour === 60
      ? "Every minute"
      : 60 % perHour === 0
        ? `Every ${60 / perHour} minutes`
        : `${perHour} times an hour${perHour <= 12 ? ` (at ${listOf(minutes.map((m) => `:${pad(m)}`))})` : ""}`;
  if (allDay) return `${often}, all day`;
  return `${often} from ${listOf(runs.map(([a, b]) => `${hourLabel(a)} to ${pad(b)}:59`))}`;
}

function daysOf(t: ScheduleTimetable): string {
  const week = t["days-of-week"];
  if (week) {
    const days = inOrder(week, DAYS);
    const set = days.join(",");
    if (days.length === 7) return "every day";
    if (set === "MON,TUE,WED,THU,FRI") return "on weekdays";
    if (set === "SAT,SUN") return "at weekends";
    return `on ${listOf(days.map((d) => `${DAYS.find((x) => x.key === d)!.name}s`))}`;
  }
  const month = t["days-of-month"];
  if (month) {
    const days = uniqueSorted(month);
    if (days.length === 31) return "every day";
    return `on the ${listOf(days.map(ordinal))} of the month`;
  }
  return "on no day";
}

/**
 * A timetable in words, as the list shows it: "At 02:00 and 14:00, on weekdays (UTC).",
 * "Every 15 minutes from 09:00 to 17:59, every day, in January and July (UTC)."
 */
export function describeTimetable(t: ScheduleTimetable): string {
  const months = t.months ? inOrder(t.months, MONTHS) : [];
  const inMonths =
    months.length > 0 && months.length < 12
      ? `, in ${listOf(months.map((m) => MONTHS.find((x) => x.key === m)!.name))}`
      : "";
  const time = timesOfDay(t["per-hour"], uniqueSorted(t["hours-of-day"]));
  return `${time}, ${daysOf(t)}${inMonths} (UTC).`;
}

type Parameters = Record<string, PipelineParameterValue>;

/** Parameters the form has fields of its own for, not among the extra lines. */
const REFS = ["branch", "tag"];

/**
 * Extra pipeline parameters from `key=value` lines (blank lines and `#` comments skipped):
 * `true`, `false` and whole numbers are sent as a boolean or a number, as a config's
 * `boolean` and `integer` parameters take them; a value in double quotes is sent as the text
 * within them (`version="2"`). The branch and tag have fields of their own.
 */
export function parseParameterLines(text: string): { parameters: Parameters } | { error: string } {
  const parameters: Parameters = {};
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `Pipeline parameters, line ${i + 1}`;
    const eq = line.indexOf("=");
    if (eq < 0) return { error: `${at}: “${line}” is not key=value.` };
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === "") return { error: `${at}: the parameter has no name before “=”.` };
    if (REFS.includes(key)) return { error: `${at}: give the ${key} in its own field, not as a parameter.` };
    if (Object.hasOwn(parameters, key)) return { error: `${at}: ${key} is given twice.` };
    parameters[key] = parseValue(value);
  }
  return { parameters };
}

function parseValue(value: string): PipelineParameterValue {
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^-?\d{1,15}$/.test(value)) return Number(value);
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      const text: unknown = JSON.parse(value);
      if (typeof text === "string") return text;
    } catch {
      // Not a JSON string: the value as it is, quotes and all.
    }
  }
  return value;
}

/** The extra parameters (all but the branch or tag) as lines that parse back to them. */
export function parameterLines(parameters: Parameters): string {
  return Object.entries(parameters)
    .filter(([k]) => !REFS.includes(k))
    .map(([k, v]) => `${k}=${typeof v === "string" && needsQuotes(v) ? JSON.stringify(v) : String(v)}`)
    .join("\n");
}

/** A text that would not read back as itself unquoted: one like a number, spaced or on lines. */
const needsQuotes = (v: string) => parseValue(v) !== v || v.trim() !== v || /[\r\n]/.test(v);

/** What the form holds, as typed. */
export interface ScheduleDraft {
  name: string;
  description: string;
  perHour: string;
  hours: number[];
  dayKind: "week" | "month";
  daysOfWeek: ScheduleDay[];
  daysOfMonth: number[];
  months: ScheduleMonth[];
  refKind: "branch" | "tag";
  ref: string;
  attribution: "current" | "system";
  parameters: string;
}

/** A new schedule's form: once an hour, every day and month, on the default branch, as the user. */
export const newDraft = (defaultBranch: string): ScheduleDraft => ({
  name: "",
  description: "",
  perHour: "1",
  hours: [],
  dayKind: "week",
  daysOfWeek: DAYS.map((d) => d.key),
  daysOfMonth: [],
  months: MONTHS.map((m) => m.key),
  refKind: "branch",
  ref: defaultBranch,
  attribution: "current",
  parameters: "",
});

/** A schedule's form, filled with what the API answered. */
export function draftOf(s: Schedule): ScheduleDraft {
  const t = s.timetable;
  const refKind = s.parameters.tag !== undefined ? "tag" : "branch";
  return {
    name: s.name,
    description: s.description ?? "",
    perHour: String(t["per-hour"]),
    hours: uniqueSorted(t["hours-of-day"]),
    dayKind: t["days-of-month"] ? "month" : "week",
    daysOfWeek: inOrder(t["days-of-week"] ?? [], DAYS),
    daysOfMonth: uniqueSorted(t["days-of-month"] ?? []),
    months: t.months ? inOrder(t.months, MONTHS) : MONTHS.map((m) => m.key),
    refKind,
    ref: String(s.parameters[refKind] ?? ""),
    attribution: s["attribution-actor"],
    parameters: parameterLines(s.parameters),
  };
}

export interface CreateScheduleBody {
  name: string;
  description?: string;
  timetable: ScheduleTimetable;
  "attribution-actor": "current" | "system";
  parameters: Parameters;
}

export interface UpdateScheduleBody {
  name?: string;
  description?: string | null;
  timetable?: Partial<ScheduleTimetable>;
  "attribution-actor"?: "current" | "system";
  parameters?: Parameters;
}

type Built<T> = { body: T } | { error: string };

function parametersOf(d: ScheduleDraft): { parameters: Parameters } | { error: string } {
  const extra = parseParameterLines(d.parameters);
  if ("error" in extra) return extra;
  return { parameters: { [d.refKind]: d.ref.trim(), ...extra.parameters } };
}

/**
 * A create's body. Nothing is checked that the API checks: no days chosen leaves the days out,
 * and the API says which it needs; every month chosen leaves `months` out (every month).
 */
export function createBody(d: ScheduleDraft): Built<CreateScheduleBody> {
  const parameters = parametersOf(d);
  if ("error" in parameters) return parameters;
  const days =
    d.dayKind === "week"
      ? d.daysOfWeek.length > 0
        ? { "days-of-week": inOrder(d.daysOfWeek, DAYS) }
        : {}
      : d.daysOfMonth.length > 0
        ? { "days-of-month": uniqueSorted(d.daysOfMonth) }
        : {};
  const description = d.description.trim();
  return {
    body: {
      name: d.name.trim(),
      ...(description ? { description } : {}),
      timetable: {
        "per-hour": Number(d.perHour),
        "hours-of-day": uniqueSorted(d.hours),
        ...days,
        ...(d.months.length === 12 ? {} : { months: inOrder(d.months, MONTHS) }),
      },
      "attribution-actor": d.attribution,
      parameters: parameters.parameters,
    },
  };
}

const sameNumbers = (a: readonly number[], b: readonly number[]) =>
  uniqueSorted(a).join(",") === uniqueSorted(b).join(",");
const sameKeys = <T extends string>(a: readonly T[], b: readonly T[]) =>
  new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));
const sameParameters = (a: Parameters, b: Parameters) =>
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(a).every(([k, v]) => Object.hasOwn(b, k) && b[k] === v);

/**
 * An update's body: only what differs from the schedule as the API answered it. The API merges
 * a timetable's fields into the one it has, and takes `parameters` whole (the branch or tag
 * with the rest). Emptied days and months are sent empty, for the API to refuse, rather than
 * left out (which would keep the old ones).
 */
export function updateBody(s: Schedule, d: ScheduleDraft): Built<UpdateScheduleBody> {
  const parameters = parametersOf(d);
  if ("error" in parameters) return parameters;
  const t = s.timetable;
  const body: UpdateScheduleBody = {};
  const name = d.name.trim();
  if (name !== s.name) body.name = name;
  const description = d.description.trim();
  if (description !== (s.description ?? "")) body.description = description || null;

  const timetable: Partial<ScheduleTimetable> = {};
  const perHour = Number(d.perHour);
  if (perHour !== t["per-hour"]) timetable["per-hour"] = perHour;
  if (!sameNumbers(d.hours, t["hours-of-day"])) timetable["hours-of-day"] = uniqueSorted(d.hours);
  if (d.dayKind === "week") {
    const was = t["days-of-week"];
    if (!was || !sameKeys(d.daysOfWeek, was)) timetable["days-of-week"] = inOrder(d.daysOfWeek, DAYS);
  } else {
    const was = t["days-of-month"];
    if (!was || !sameNumbers(d.daysOfMonth, was)) timetable["days-of-month"] = uniqueSorted(d.daysOfMonth);
  }
  const allMonths = MONTHS.map((m) => m.key);
  if (!sameKeys(d.months, t.months ?? allMonths)) timetable.months = inOrder(d.months, MONTHS);
  if (Object.keys(timetable).length > 0) body.timetable = timetable;

  if (!sameParameters(parameters.parameters, s.parameters)) body.parameters = parameters.parameters;
  if (d.attribution !== s["attribution-actor"]) body["attribution-actor"] = d.attribution;
  return { body };
}

/** The branch or tag a schedule's pipelines run on, in words: "branch main", "tag v1.2". */
export function refOf(parameters: Parameters): string {
  if (parameters.tag !== undefined) return `tag ${parameters.tag}`;
  if (parameters.branch !== undefined) return `branch ${parameters.branch}`;
  return "";
}
