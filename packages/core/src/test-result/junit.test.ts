import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { parseJUnit, type TestCaseResult } from "./junit.ts";

const parse = (xml: string) => parseJUnit(xml, { source: "jest" });

function parseError(xml: string): GyreError {
  try {
    parse(xml);
  } catch (error) {
    expect(error).toBeInstanceOf(GyreError);
    return error as GyreError;
  }
  throw new Error("expected a GyreError");
}

describe("parseJUnit", () => {
  it("reads a <testsuites> report into the /tests item shape", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" time="1.2">
  <testsuite name="math" file="src/math.test.js" tests="3" time="1.2">
    <testcase classname="math adds" name="adds 1 + 2" time="0.004"/>
    <testcase classname="math divides" name="divides by zero" time="0.5">
      <failure message="expected Infinity">Error: expected Infinity
    at Object.&lt;anonymous&gt; (src/math.test.js:10:5)</failure>
    </testcase>
    <testcase classname="math skips" name="todo" time="0">
      <skipped message="not implemented"/>
    </testcase>
  </testsuite>
</testsuites>`;
    expect(parse(xml)).toEqual<TestCaseResult[]>([
      {
        name: "adds 1 + 2",
        classname: "math adds",
        file: "src/math.test.js",
        result: "success",
        run_time: 0.004,
        message: null,
        source: "jest",
      },
      {
        name: "divides by zero",
        classname: "math divides",
        file: "src/math.test.js",
        result: "failure",
        run_time: 0.5,
        message:
          "expected Infinity\nError: expected Infinity\n    at Object.<anonymous> (src/math.test.js:10:5)",
        source: "jest",
      },
      {
        name: "todo",
        classname: "math skips",
        file: "src/math.test.js",
        result: "skipped",
        run_time: 0,
        message: "not implemented",
        source: "jest",
      },
    ]);
  });

  it("reads a single <testsuite> root with a single testcase (not an array)", () => {
    expect(parse(`<testsuite name="s"><testcase name="only" classname="C" time="2"/></testsuite>`)).toEqual([
      {
        name: "only",
        classname: "C",
        file: "",
        result: "success",
        run_time: 2,
        message: null,
        source: "jest",
      },
    ]);
  });

  it("walks nested suites and several <testsuite> siblings", () => {
    const xml = `<testsuites>
      <testsuite name="outer" file="outer.rb">
        <testcase name="a"/>
        <testsuite name="inner"><testcase name="b"/><testcase name="c" file="own.rb"/></testsuite>
      </testsuite>
      <testsuite name="second"><testcase name="d"/></testsuite>
    </testsuites>`;
    expect(parse(xml).map((t) => [t.name, t.file])).toEqual([
      ["a", "outer.rb"],
      ["b", "outer.rb"],
      ["c", "own.rb"],
      ["d", ""],
    ]);
  });

  it("treats <error> as a failure and reads its message attribute or text", () => {
    const xml = `<testsuite>
      <testcase name="attr"><error message="NullPointerException" type="java.lang.NPE"/></testcase>
      <testcase name="text"><error>boom</error></testcase>
    </testsuite>`;
    expect(parse(xml).map((t) => [t.result, t.message])).toEqual([
      ["failure", "NullPointerException"],
      ["failure", "boom"],
    ]);
  });

  it("joins several failures of one test and prefers failure over skipped", () => {
    const xml = `<testsuite><testcase name="t">
      <skipped/><failure message="first"/><failure>second</failure><error message="third"/>
    </testcase></testsuite>`;
    expect(parse(xml)[0]).toMatchObject({ result: "failure", message: "first\nsecond\nthird" });
  });

  it("gives null as the message of a failure or skip that says nothing", () => {
    const xml = `<testsuite><testcase name="f"><failure/></testcase><testcase name="s"><skipped/></testcase></testsuite>`;
    expect(parse(xml).map((t) => [t.result, t.message])).toEqual([
      ["failure", null],
      ["skipped", null],
    ]);
  });

  it("keeps CDATA text verbatim, in place, without decoding entities inside it", () => {
    const xml = `<testsuite><testcase name="t"><failure>before &amp; <![CDATA[<tag> &amp; raw]]> after<![CDATA[ end]]></failure></testcase></testsuite>`;
    expect(parse(xml)[0]!.message).toBe("before & <tag> &amp; raw after end");
  });

  it("decodes entities in attributes and text", () => {
    const xml = `<testsuite><testcase name="a &lt;b&gt; &quot;c&quot; &apos;d&apos; &#233; &#x1F600;" classname="x&amp;y"/></testsuite>`;
    expect(parse(xml)[0]).toMatchObject({ name: `a <b> "c" 'd' é 😀`, classname: "x&y" });
  });

  it("reads run_time in seconds, 0 when missing or unreadable, tolerating thousands separators", () => {
    const xml = `<testsuite>
      <testcase name="a" time="1.25"/><testcase name="b"/><testcase name="c" time="abc"/>
      <testcase name="d" time="1,234.5"/><testcase name="e" time=""/><testcase name="f" time="-3"/>
    </testsuite>`;
    expect(parse(xml).map((t) => t.run_time)).toEqual([1.25, 0, 0, 1234.5, 0, 0]);
  });

  it("keeps names and messages as text, never numbers", () => {
    const [test] = parse(
      `<testsuite><testcase name="123" classname="007"><failure message="42"/></testcase></testsuite>`,
    );
    expect(test).toMatchObject({ name: "123", classname: "007", message: "42" });
  });

  it("returns no results for an empty suite", () => {
    expect(parse(`<testsuites/>`)).toEqual([]);
    expect(parse(`<testsuite name="empty" tests="0"></testsuite>`)).toEqual([]);
  });

  it("accepts an XML declaration, comments and a doctype", () => {
    const xml = `<?xml version="1.0"?><!-- generated --><!DOCTYPE testsuite><testsuite><testcase name="t"/></testsuite>`;
    expect(parse(xml)).toHaveLength(1);
  });

  it("rejects malformed XML with bad_request naming the line", () => {
    const error = parseError(`<testsuite>\n<testcase name="t">\n</testsuite>`);
    expect(error.code).toBe("bad_request");
    expect(error.message).toMatch(/^The JUnit report is not valid XML \(line 3, column \d+\): /);
  });

  it("rejects XML that is not a JUnit report", () => {
    expect(parseError(`<coverage line-rate="0.5"/>`).message).toBe(
      "The file is not a JUnit report: expected a <testsuites> or <testsuite> root element, found <coverage>.",
    );
    expect(parseError("").code).toBe("bad_request");
  });

  it("rejects a NUL character", () => {
    expect(parseError("<testsuite>\u0000</testsuite>").message).toMatch(/NUL/);
  });

  it("never throws anything but GyreError on garbage (fuzz)", () => {
    let seed = 1234;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const fragments = [
      "<testsuites>",
      "</testsuites>",
      "<testsuite",
      "<testsuite>",
      "</testsuite>",
      "<testcase",
      ' name="x"',
      " time='1'",
      "/>",
      ">",
      "<failure>",
      "</failure>",
      "<![CDATA[",
      "]]>",
      "&amp;",
      "&#x0;",
      "&#99999999;",
      "<!--",
      "-->",
      '<?xml version="1.0"?>',
      '<!DOCTYPE a [<!ENTITY e "x">]>',
      "&e;",
      '"',
      "'",
      "=",
      "<",
      "</",
      "<skipped/>",
      "<error message=",
      "\n",
      " ",
      "x",
      "é",
      "\uFFFF",
      "\uD800",
      "<a:b xmlns:a='u'>",
      '<testcase name="t"><failure message="m">',
      "</testcase>",
      "<testsuite><testcase/>",
    ];
    let parsed = 0;
    for (let round = 0; round < 3000; round++) {
      const pieces = Array.from(
        { length: Math.floor(next() * 14) },
        () => fragments[Math.floor(next() * fragments.length)],
      );
      const xml = pieces.join("");
      try {
        const results = parse(xml);
        parsed++;
        for (const test of results) {
          expect(typeof test.name).toBe("string");
          expect(["success", "failure", "skipped"]).toContain(test.result);
          expect(Number.isFinite(test.run_time)).toBe(true);
        }
      } catch (error) {
        expect(error, JSON.stringify(xml)).toBeInstanceOf(GyreError);
        expect((error as GyreError).code).toBe("bad_request");
      }
    }
    expect(parsed).toBeGreaterThan(0);
  });

  it("never throws anything but GyreError on random characters (fuzz)", () => {
    let seed = 99;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let round = 0; round < 2000; round++) {
      const xml = Array.from({ length: Math.floor(next() * 60) }, () =>
        String.fromCharCode(next() < 0.5 ? 32 + Math.floor(next() * 95) : Math.floor(next() * 0xffff)),
      ).join("");
      try {
        parse(`<testsuite>${xml}</testsuite>`);
      } catch (error) {
        expect(error, JSON.stringify(xml)).toBeInstanceOf(GyreError);
      }
      try {
        parse(xml);
      } catch (error) {
        expect(error, JSON.stringify(xml)).toBeInstanceOf(GyreError);
      }
    }
  });
});
