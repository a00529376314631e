/**
 * Property tests for the JUnit reader (fast-check, seeded): whatever it is given it returns
 * results or throws GyreError `bad_request` (its contract), reads generated reports exactly,
 * and no element or attribute name reaches Object.prototype.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { parseJUnit, type TestCaseResult } from "./junit.ts";

const RUNS = { seed: 42, numRuns: 300 };
const parse = (xml: string) => parseJUnit(xml, { source: "jest" });

/** Results, or the GyreError bad_request it threw; any other throw fails the property. */
function outcome(xml: string): TestCaseResult[] | GyreError {
  try {
    return parse(xml);
  } catch (error) {
    expect(error, JSON.stringify(xml)).toBeInstanceOf(GyreError);
    expect((error as GyreError).code).toBe("bad_request");
    return error as GyreError;
  }
}

function wellFormed(results: TestCaseResult[] | GyreError): void {
  if (results instanceof GyreError) return;
  for (const test of results) {
    expect(typeof test.name).toBe("string");
    expect(typeof test.classname).toBe("string");
    expect(typeof test.file).toBe("string");
    expect(["success", "failure", "skipped"]).toContain(test.result);
    expect(Number.isFinite(test.run_time) && test.run_time >= 0).toBe(true);
    expect(test.message === null || typeof test.message === "string").toBe(true);
    expect(test.source).toBe("jest");
  }
}

const xmlEscape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const NAMES = [
  "testsuites",
  "testsuite",
  "testcase",
  "failure",
  "error",
  "skipped",
  "system-out",
  "properties",
  "property",
  "a:b",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
];
const ATTRIBUTES = [
  "name",
  "classname",
  "class",
  "file",
  "time",
  "message",
  "__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "valueOf",
];

type Node = { text: string } | { name: string; attributes: [string, string][]; children: Node[] };

/** XML-ish trees: known and hostile names, entities, CDATA, comments; sometimes malformed. */
const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc
      .oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom(
          "&amp;",
          "&lt;",
          "&#233;",
          "&#x1F600;",
          "&bogus;",
          "&constructor;",
          "<![CDATA[ <raw> &amp; ]]>",
        ),
        fc.constantFrom("<!-- note -->", " \n ", "1,234.5", "<", "&", "]]>"),
      )
      .map((text) => ({ text })),
    fc.record({
      name: fc.constantFrom(...NAMES),
      attributes: fc.array(fc.tuple(fc.constantFrom(...ATTRIBUTES), fc.string({ maxLength: 8 })), {
        maxLength: 3,
      }),
      children: fc.array(tie("node"), { maxLength: 4 }),
    }),
  ),
})).node;

function render(n: Node, escaped: boolean): string {
  if ("text" in n) return n.text;
  const seen = new Set<string>();
  const attributes = n.attributes
    .filter(([k]) => !seen.has(k) && seen.add(k))
    .map(([k, v]) => ` ${k}="${escaped ? xmlEscape(v) : v}"`)
    .join("");
  const inner = n.children.map((c) => render(c, escaped)).join("");
  return inner ? `<${n.name}${attributes}>${inner}</${n.name}>` : `<${n.name}${attributes}/>`;
}

const PROLOGUES = [
  "",
  '<?xml version="1.0" encoding="UTF-8"?>\n',
  "<!DOCTYPE testsuite>",
  "<!-- report -->\n",
];

const document = fc
  .tuple(
    fc.constantFrom(...PROLOGUES),
    fc.constantFrom("testsuites", "testsuite", "coverage", "__proto__", "constructor"),
    node,
    fc.boolean(),
  )
  .map(
    ([prologue, root, n, escaped]) =>
      prologue +
      render("text" in n ? { name: root, attributes: [], children: [n] } : { ...n, name: root }, escaped),
  );

describe("parseJUnit properties", () => {
  it("throws nothing but GyreError bad_request for any string", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({ unit: "binary", maxLength: 80 }),
          fc.string({ maxLength: 60 }).map((s) => `<testsuite>${s}</testsuite>`),
        ),
        (xml) => wellFormed(outcome(xml)),
      ),
      RUNS,
    );
  });

  it("throws nothing but GyreError bad_request for XML-ish documents, and reads the valid ones", () => {
    let read = 0;
    fc.assert(
      fc.property(document, (xml) => {
        const results = outcome(xml);
        if (!(results instanceof GyreError)) read++;
        wellFormed(results);
      }),
      RUNS,
    );
    expect(read).toBeGreaterThan(RUNS.numRuns / 10);
  });

  it("never lets __proto__, constructor or prototype names reach Object.prototype", () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const hostile = fc.constantFrom("__proto__", "constructor", "prototype");
    fc.assert(
      fc.property(
        hostile,
        hostile,
        fc.constantFrom("polluted", '{"polluted":true}', "1"),
        (el, attr, value) => {
          const xml = `<testsuite ${attr}="${xmlEscape(value)}">
  <${el} ${attr}="${xmlEscape(value)}"><polluted>yes</polluted></${el}>
  <testcase name="t" ${attr}="${xmlEscape(value)}"><${el} polluted="yes"/></testcase>
  <${el}><testcase name="hidden"/></${el}>
</testsuite>`;
          const results = outcome(xml);
          expect(results).toEqual([
            {
              name: "t",
              classname: "",
              file: "",
              result: "success",
              run_time: 0,
              message: null,
              source: "jest",
            },
          ]);
          const probe: Record<string, unknown> = {};
          expect(probe.polluted).toBeUndefined();
          expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
          expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
        },
      ),
      RUNS,
    );
  });

  it("reads every testcase of a generated report: names, classnames and messages decoded", () => {
    const text = fc.string({ unit: "grapheme-ascii", maxLength: 16 });
    const testcase = fc.record({
      name: text,
      classname: text,
      failure: fc.option(text, { nil: undefined }),
      time: fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
    });
    const suites = fc.array(fc.record({ file: text, tests: fc.array(testcase, { maxLength: 5 }) }), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(suites, (spec) => {
        const xml = `<testsuites>${spec
          .map(
            (s) =>
              `<testsuite file="${xmlEscape(s.file)}">${s.tests
                .map(
                  (t) =>
                    `<testcase name="${xmlEscape(t.name)}" classname="${xmlEscape(t.classname)}"${
                      t.time === undefined ? "" : ` time="${t.time / 1000}"`
                    }>${t.failure === undefined ? "" : `<failure>${xmlEscape(t.failure)}</failure>`}</testcase>`,
                )
                .join("")}</testsuite>`,
          )
          .join("")}</testsuites>`;
        expect(parse(xml)).toEqual(
          spec.flatMap((s) =>
            s.tests.map((t) => ({
              name: t.name,
              classname: t.classname,
              file: s.file,
              result: t.failure === undefined ? "success" : "failure",
              run_time: t.time === undefined ? 0 : t.time / 1000,
              message: t.failure === undefined || t.failure.trim() === "" ? null : t.failure.trim(),
              source: "jest",
            })),
          ),
        );
      }),
      RUNS,
    );
  });
});

describe("parseJUnit with hostile names", () => {
  it("names a hostile root element as written", () => {
    expect(() => parse("<__proto__><testcase/></__proto__>")).toThrow(
      "The file is not a JUnit report: expected a <testsuites> or <testsuite> root element, found <__proto__>.",
    );
  });

  it("reads a testcase carrying attributes named like Object's methods", () => {
    const [test] = parse(
      `<testsuite><testcase hasOwnProperty="x" toString="y" constructor="z" name="t"/></testsuite>`,
    );
    expect(test).toMatchObject({ name: "t", result: "success" });
  });

  it("leaves &constructor; and other unknown entities as written", () => {
    const [test] = parse(
      `<testsuite><testcase name="&constructor;"><failure>&toString; &amp;</failure></testcase></testsuite>`,
    );
    expect(test).toMatchObject({ name: "&constructor;", message: "&toString; &" });
  });

  it("refuses suites nested deeper than any real report with bad_request", () => {
    const xml = `${"<testsuite>".repeat(2000)}<testcase name="deep"/>${"</testsuite>".repeat(2000)}`;
    expect(outcome(xml)).toBeInstanceOf(GyreError);
    const ok = `${"<testsuite>".repeat(50)}<testcase name="deep"/>${"</testsuite>".repeat(50)}`;
    expect(parse(ok).map((t) => t.name)).toEqual(["deep"]);
  });
});
