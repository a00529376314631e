import { describe, expect, it } from "vitest";
import type { Schedule } from "../../types.ts";
import {
  createBody,
  describeTimetable,
  draftOf,
  newDraft,
  parameterLines,
  parseParameterLines,
  refOf,
  updateBody,
} from "./schedule-form.ts";

const ALL_WEEK = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"] as const;

describe("a timetable in words", () => {
  it("says the times of day, the days and the months, in UTC", () => {
    expect(describeTimetable({ "per-hour": 1, "hours-of-day": [14, 2], "days-of-week": [...ALL_WEEK] })).toBe(
      "At 02:00 and 14:00, every day (UTC).",
    );
    expect(
      describeTimetable({
        "per-hour": 1,
        "hours-of-day": [9, 10, 11, 12, 22],
        "days-of-week": ["FRI", "MON", "TUE", "WED", "THU"],
      }),
    ).toBe("Hourly from 09:00 to 12:00 and at 22:00, on weekdays (UTC).");
    expect(
      describeTimetable({
        "per-hour": 4,
        "hours-of-day": [9, 10, 11, 13],
        "days-of-week": ["SUN", "SAT"],
      }),
    ).toBe("Every 15 minutes from 09:00 to 11:59 and 13:00 to 13:59, at weekends (UTC).");
    expect(
      describeTimetable({
        "per-hour": 7,
        "hours-of-day": [0],
        "days-of-week": ["FRI", "MON"],
        months: ["JUL", "JAN"],
      }),
    ).toBe(
      "7 times an hour (at :00, :08, :17, :25, :34, :42 and :51) from 00:00 to 00:59, on Mondays and Fridays, in January and July (UTC).",
    );
    const allDay = Array.from({ length: 24 }, (_, h) => h);
    expect(describeTimetable({ "per-hour": 1, "hours-of-day": allDay, "days-of-month": [15, 1] })).toBe(
      "Every hour on the hour, on the 1st and 15th of the month (UTC).",
    );
    expect(
      describeTimetable({ "per-hour": 60, "hours-of-day": allDay, "days-of-month": [2, 3, 11, 22, 23] }),
    ).toBe("Every minute, all day, on the 2nd, 3rd, 11th, 22nd and 23rd of the month (UTC).");
    // Every month named is every month.
    expect(
      describeTimetable({
        "per-hour": 13,
        "hours-of-day": [5],
        "days-of-week": ["WED"],
        months: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
      }),
    ).toBe("13 times an hour from 05:00 to 05:59, on Wednesdays (UTC).");
  });
});

describe("pipeline parameters as key=value lines", () => {
  it("reads booleans and whole numbers as such, quoted values as text, and skips blank lines and comments", () => {
    expect(
      parseParameterLines('deploy=true\n\n# a comment\n count = 3 \nversion="2"\nname=hello world\nempty='),
    ).toEqual({ parameters: { deploy: true, count: 3, version: "2", name: "hello world", empty: "" } });
    expect(parseParameterLines("  \n")).toEqual({ parameters: {} });
  });

  it("refuses a line that is not key=value, a key given twice, and the branch or tag", () => {
    expect(parseParameterLines("a=1\nnonsense")).toEqual({
      error: "Pipeline parameters, line 2: “nonsense” is not key=value.",
    });
    expect(parseParameterLines("=1")).toEqual({
      error: "Pipeline parameters, line 1: the parameter has no name before “=”.",
    });
    expect(parseParameterLines("a=1\na=2")).toEqual({
      error: "Pipeline parameters, line 2: a is given twice.",
    });
    expect(parseParameterLines("branch=dev")).toEqual({
      error: "Pipeline parameters, line 1: give the branch in its own field, not as a parameter.",
    });
  });

  it("writes parameters back as lines that read back the same, without the branch or tag", () => {
    const parameters = {
      branch: "main",
      deploy: false,
      count: 12,
      version: "2",
      flag: "true",
      quoted: '"x"',
      spaced: " a ",
      plain: "a=b",
      lines: "one\ntwo",
    };
    const lines = parameterLines(parameters);
    expect(lines).toBe(
      'deploy=false\ncount=12\nversion="2"\nflag="true"\nquoted="\\"x\\""\nspaced=" a "\nplain=a=b\nlines="one\\ntwo"',
    );
    const { branch: _, ...rest } = parameters;
    expect(parseParameterLines(lines)).toEqual({ parameters: rest });
  });
});

const saved: Schedule = {
  id: "0b9c3f0e-2c54-4a4a-9b5e-3f8f2f8c1d11",
  name: "nightly",
  description: null,
  "project-slug": "gh/acme/api",
  timetable: { "per-hour": 2, "hours-of-day": [3, 1], "days-of-week": ["MON", "FRI"] },
  parameters: { branch: "main", deploy: true },
  "attribution-actor": "current",
  actor: { id: "u1", login: "ada", name: "Ada" },
  "created-at": "2026-01-01T00:00:00Z",
  "updated-at": "2026-01-01T00:00:00Z",
};

describe("a new schedule's body", () => {
  it("is the whole form, days in order, every month left out, the branch with the parameters", () => {
    const draft = {
      ...newDraft("main"),
      name: " nightly ",
      perHour: "2",
      hours: [13, 1],
      daysOfWeek: ["SUN" as const, "MON" as const],
      parameters: "deploy=true",
    };
    expect(createBody(draft)).toEqual({
      body: {
        name: "nightly",
        timetable: { "per-hour": 2, "hours-of-day": [1, 13], "days-of-week": ["MON", "SUN"] },
        "attribution-actor": "current",
        parameters: { branch: "main", deploy: true },
      },
    });
    expect(
      createBody({
        ...draft,
        description: "d",
        dayKind: "month",
        daysOfMonth: [15, 1],
        months: ["JUL"],
        refKind: "tag",
        ref: "v1",
        attribution: "system",
      }),
    ).toEqual({
      body: {
        name: "nightly",
        description: "d",
        timetable: { "per-hour": 2, "hours-of-day": [1, 13], "days-of-month": [1, 15], months: ["JUL"] },
        "attribution-actor": "system",
        parameters: { tag: "v1", deploy: true },
      },
    });
  });

  it("leaves out days when none are chosen (the API says it needs them), and stops at bad parameter lines", () => {
    const body = createBody({ ...newDraft("main"), name: "x", hours: [1], daysOfWeek: [] });
    expect("body" in body && body.body.timetable).toEqual({ "per-hour": 1, "hours-of-day": [1] });
    expect(createBody({ ...newDraft("main"), parameters: "oops" })).toEqual({
      error: "Pipeline parameters, line 1: “oops” is not key=value.",
    });
  });
});

describe("an edit's body", () => {
  it("is empty when nothing changed, the schedule's own form read back", () => {
    expect(draftOf(saved)).toMatchObject({
      hours: [1, 3],
      daysOfWeek: ["MON", "FRI"],
      parameters: "deploy=true",
    });
    expect(updateBody(saved, draftOf(saved))).toEqual({ body: {} });
  });

  it("has only what changed: the timetable's changed fields, the parameters whole", () => {
    const draft = draftOf(saved);
    expect(
      updateBody(saved, {
        ...draft,
        description: "now described",
        hours: [1, 3, 5],
        parameters: "deploy=false",
        attribution: "system",
      }),
    ).toEqual({
      body: {
        description: "now described",
        timetable: { "hours-of-day": [1, 3, 5] },
        parameters: { branch: "main", deploy: false },
        "attribution-actor": "system",
      },
    });
    // Days of the month in place of the week's; a description emptied is null; some months only.
    expect(
      updateBody(
        { ...saved, description: "old" },
        { ...draft, description: "", dayKind: "month", daysOfMonth: [1], months: ["JAN"] },
      ),
    ).toEqual({ body: { description: null, timetable: { "days-of-month": [1], months: ["JAN"] } } });
  });

  it("sends emptied days for the API to refuse, rather than keep the old ones", () => {
    expect(updateBody(saved, { ...draftOf(saved), daysOfWeek: [] })).toEqual({
      body: { timetable: { "days-of-week": [] } },
    });
  });
});

describe("a schedule's branch or tag", () => {
  it("is named with its kind", () => {
    expect(refOf({ branch: "main", x: 1 })).toBe("branch main");
    expect(refOf({ tag: "v1" })).toBe("tag v1");
  });
});
