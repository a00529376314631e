/**
 * JUnit XML → test results in the shape of CircleCI API v2 `GET /project/{slug}/{job}/tests`
 * (`TestsResponse.items`): `name`, `classname`, `file`, `result`, `run_time` (seconds),
 * `message`, `source`.
 *
 * - `<testsuites>` or `<testsuite>` at the root; suites may nest; one `<testcase>` or many.
 * - `result`: `success`, `failure` or `skipped`, the values CircleCI answers. A test with an
 *   `<error>` (an exception outside an assertion) is a `failure`; one with `<skipped>` is
 *   `skipped` unless it also failed.
 * - `message`: null for a passing test; else the `message` attribute and the element's text
 *   (CDATA included), joined by a newline, of each `<failure>`/`<error>` (or `<skipped>`).
 * - `file`: the testcase's `file` attribute, else the nearest enclosing suite's, else "".
 * - `run_time`: the `time` attribute in seconds (thousands separators tolerated); 0 when
 *   missing or not a number.
 * - `source`: given by the caller (CircleCI uses the directory the reports came from).
 *
 * Malformed or non-JUnit XML fails with GyreError `bad_request`, never a parser error.
 */
import { parse, validate } from "fast-xml-parser";
import { badRequest, GyreError } from "../error.ts";

export type TestResult = "success" | "failure" | "skipped";

export interface TestCaseResult {
  name: string;
  classname: string;
  file: string;
  result: TestResult;
  run_time: number;
  message: string | null;
  source: string;
}

export interface ParseJUnitOptions {
  /** The program or directory the report came from, e.g. `jest` for `test-results/jest/*.xml`. */
  source: string;
}

const ATTRIBUTES = "@";
const TEXT = "#text";
const CDATA = "#cdata";
/** Marks where CDATA sat in the text; NUL cannot occur in XML, and input holding one is refused. */
const CDATA_MARK = "\u0000";

interface XmlElement {
  attributes: Record<string, string>;
  text: string;
  children: Record<string, unknown>;
}

export function parseJUnit(xml: string, options: ParseJUnitOptions): TestCaseResult[] {
  try {
    return parseDocument(xml, options.source);
  } catch (error) {
    if (error instanceof GyreError) throw error;
    throw badRequest(
      `The JUnit report could not be read: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function parseDocument(xml: string, source: string): TestCaseResult[] {
  if (typeof xml !== "string") throw badRequest("The JUnit report must be text.");
  if (xml.includes(CDATA_MARK))
    throw badRequest("The JUnit report is not valid XML: it contains a NUL character.");
  const validation = validate(xml);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw badRequest(`The JUnit report is not valid XML (line ${line}, column ${col}): ${msg}`);
  }
  const document: Record<string, unknown> = parse(xml, {
    ignoreAttributes: false,
    attributeNamePrefix: "",
    attrNodeName: ATTRIBUTES,
    textNodeName: TEXT,
    cdataTagName: CDATA,
    cdataPositionChar: CDATA_MARK,
    parseNodeValue: false,
    parseAttributeValue: false,
    trimValues: false,
    arrayMode: false,
  });
  const roots = Object.keys(document ?? {}).filter((name) => !name.startsWith("?"));
  const root = roots.find((name) => name === "testsuites" || name === "testsuite");
  if (!root) {
    throw badRequest(
      `The file is not a JUnit report: expected a <testsuites> or <testsuite> root element, found ${
        roots.length > 0 ? `<${roots[0]}>` : "none"
      }.`,
    );
  }
  const results: TestCaseResult[] = [];
  for (const node of asArray(document[root])) collectSuite(element(node), "", source, results);
  return results;
}

function collectSuite(suite: XmlElement, inheritedFile: string, source: string, out: TestCaseResult[]): void {
  const file = suite.attributes.file ?? inheritedFile;
  for (const node of asArray(suite.children.testcase)) out.push(testCase(element(node), file, source));
  for (const name of ["testsuite", "testsuites"]) {
    for (const node of asArray(suite.children[name])) collectSuite(element(node), file, source, out);
  }
}

function testCase(test: XmlElement, suiteFile: string, source: string): TestCaseResult {
  const problems = [...asArray(test.children.failure), ...asArray(test.children.error)].map(element);
  const skips = asArray(test.children.skipped).map(element);
  const result: TestResult = problems.length > 0 ? "failure" : skips.length > 0 ? "skipped" : "success";
  const explained = result === "failure" ? problems : result === "skipped" ? skips : [];
  const message = explained
    .map(describe)
    .filter((text) => text.length > 0)
    .join("\n");
  return {
    name: test.attributes.name ?? "",
    classname: test.attributes.classname ?? test.attributes.class ?? "",
    file: test.attributes.file ?? suiteFile,
    result,
    run_time: seconds(test.attributes.time),
    message: message.length === 0 ? null : message,
    source,
  };
}

function describe(problem: XmlElement): string {
  return [problem.attributes.message?.trim() ?? "", problem.text.trim()]
    .filter((part) => part.length > 0)
    .join("\n");
}

function seconds(time: string | undefined): number {
  if (time === undefined) return 0;
  const trimmed = time.trim();
  const plain = /^\d{1,3}(,\d{3})+(\.\d+)?$/.test(trimmed) ? trimmed.replace(/,/g, "") : trimmed;
  const value = Number(plain);
  return plain.length > 0 && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** One parsed node in a uniform shape: decoded attributes, text with CDATA in place, children. */
function element(node: unknown): XmlElement {
  if (node === null || typeof node !== "object") {
    return { attributes: {}, text: typeof node === "string" ? decodeEntities(node) : "", children: {} };
  }
  const record = node as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  const rawAttributes = record[ATTRIBUTES];
  if (rawAttributes && typeof rawAttributes === "object") {
    for (const [name, value] of Object.entries(rawAttributes as Record<string, unknown>)) {
      if (typeof value === "string") attributes[name] = decodeEntities(value);
      else if (value === true) attributes[name] = "";
    }
  }
  const cdata = asArray(record[CDATA]).map((part) => (typeof part === "string" ? part : ""));
  const rawText = typeof record[TEXT] === "string" ? (record[TEXT] as string) : "";
  let index = 0;
  let text = rawText
    .split(CDATA_MARK)
    .map((part, i) => (i === 0 ? decodeEntities(part) : (cdata[index++] ?? "") + decodeEntities(part)))
    .join("");
  while (index < cdata.length) text += cdata[index++];
  const children: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    if (name !== ATTRIBUTES && name !== TEXT && name !== CDATA) children[name] = value;
  }
  return { attributes, text, children };
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, entity: string) => {
    if (entity[0] === "#") {
      const code =
        entity[1] === "x" || entity[1] === "X"
          ? Number.parseInt(entity.slice(2), 16)
          : Number(entity.slice(1));
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[entity] ?? whole;
  });
}
