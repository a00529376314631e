import { describe, expect, it } from "vitest";
import { ticksBetween, timetableCron } from "./model.ts";

describe("timetableCron", () => {
  it("spreads per-hour ticks evenly over the hour, at the hours and days given, sorted", () => {
    expect(
      timetableCron({ "per-hour": 4, "hours-of-day": [13, 1, 13], "days-of-week": ["FRI", "MON"] }),
    ).toBe("0,15,30,45 1,13 * * MON,FRI");
    expect(timetableCron({ "per-hour": 7, "hours-of-day": [0], "days-of-week": ["SUN"] })).toBe(
      "0,8,17,25,34,42,51 0 * * SUN",
    );
  });
});

describe("ticksBetween", () => {
  it("lists the ticks after the start and up to the end, in UTC, at most the limit", () => {
    const after = new Date("2026-12-04T23:10:00Z"); // a Friday
    const until = new Date("2026-12-07T01:00:00Z");
    expect(ticksBetween("0 0,1 * * MON,SAT", after, until, 10).map((d) => d.toISOString())).toEqual([
      "2026-12-05T00:00:00.000Z",
      "2026-12-05T01:00:00.000Z",
      "2026-12-07T00:00:00.000Z",
      "2026-12-07T01:00:00.000Z",
    ]);
    expect(ticksBetween("*/20 * * * *", after, until, 2)).toHaveLength(2);
    expect(ticksBetween("0 0 * * *", until, after, 10)).toEqual([]);
  });
});

describe("timetableCron with days of the month and months", () => {
  it("puts days of the month and months in their cron fields, the day of the week left open", () => {
    expect(
      timetableCron({
        "per-hour": 1,
        "hours-of-day": [6],
        "days-of-month": [15, 1, 15],
        months: ["MAR", "JAN"],
      }),
    ).toBe("0 6 1,15 JAN,MAR *");
  });
});
