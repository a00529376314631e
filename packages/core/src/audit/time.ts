/**
 * The times the audit log's queries take (API and CLI alike): ISO 8601, a date alone meaning its
 * midnight and a time with no zone meaning UTC (`2026-01-31`, `2026-01-31T13:00`,
 * `2026-01-31T13:00:00.000Z`, `...+02:00`). Checked field by field: `2026-02-30` is no date
 * (Date.parse would read it as March 2nd).
 */
const ISO_TIME = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?(Z|[+-](\d\d):(\d\d))?)?$/;

/** Epoch ms, or undefined when `value` is not such a time. */
export function parseIsoTime(value: string): number | undefined {
  const m = ISO_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", zone, zh = "0", zm = "0"] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (
    day.getUTCFullYear() !== Number(y) ||
    day.getUTCMonth() !== Number(mo) - 1 ||
    day.getUTCDate() !== Number(d)
  )
    return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59 || Number(zh) > 23 || Number(zm) > 59)
    return undefined;
  const zoned = !value.includes("T") || zone ? value : `${value}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) || ms < 0 ? undefined : ms;
}
