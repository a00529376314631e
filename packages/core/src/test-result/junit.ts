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
import { XMLParser, XMLValidator } from "fast-xml-parser";
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

/** In the parser's ordered output: a node's attributes, its text, its CDATA. */
const ATTRIBUTES = ":@";
const TEXT = "#text";
const CDATA = "#cdata";
/**
 * Names the parser refuses or renames (`__proto__`, `constructor`, `toString`, ...) are read
 * with this prefix, which no XML name can start with, so every element and attribute name
 * is an ordinary key and nothing reaches a prototype.
 */
const GUARD = "#";
/** Deeper than any real report; bounds the walk over nested suites. */
const MAX_DEPTH = 1000;

const guard = (name: string) => (name in Object.prototype || name === "prototype" ? GUARD + name : name);
const unguard = (name: string) => (name.startsWith(GUARD) ? name.slice(GUARD.length) : name);

/** Reads a document as an ordered list of nodes, text and CDATA apart, nothing decoded. */
const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  textNodeName: TEXT,
  cdataPropName: CDATA,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  transformTagName: guard,
  transformAttributeName: guard,
  maxNestedTags: MAX_DEPTH,
});

/** One element: decoded attributes, text with CDATA in place, child elements by name. */
interface XmlElement {
  attributes: Map<string, string>;
  text: string;
  children: Map<string, XmlElement[]>;
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

/** NUL cannot occur in XML; a report holding one is refused before it is parsed. */
const NUL = "\u0000";

type OrderedNode = Record<string, unknown>;

function parseDocument(xml: string, source: string): TestCaseResult[] {
  if (typeof xml !== "string") throw badRequest("The JUnit report must be text.");
  if (xml.includes(NUL)) throw badRequest("The JUnit report is not valid XML: it contains a NUL character.");
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw badRequest(`The JUnit report is not valid XML (line ${line}, column ${col}): ${msg}`);
  }
  const document: unknown = parser.parse(xml);
  const roots = (Array.isArray(document) ? document : []).flatMap((node) => {
    const name = isNode(node) ? tagName(node) : undefined;
    return name === undefined ? [] : [{ name, node }];
  });
  const root = roots.find(({ name }) => name === "testsuites" || name === "testsuite");
  if (!root) {
    throw badRequest(
      `The file is not a JUnit report: expected a <testsuites> or <testsuite> root element, found ${
        roots.length > 0 ? `<${unguard(roots[0]!.name)}>` : "none"
      }.`,
    );
  }
  const results: TestCaseResult[] = [];
  collectSuite(element(root.node, root.name), "", source, results);
  return results;
}

function collectSuite(suite: XmlElement, inheritedFile: string, source: string, out: TestCaseResult[]): void {
  const file = suite.attributes.get("file") ?? inheritedFile;
  for (const test of suite.children.get("testcase") ?? []) out.push(testCase(test, file, source));
  for (const name of ["testsuite", "testsuites"]) {
    for (const child of suite.children.get(name) ?? []) collectSuite(child, file, source, out);
  }
}

function testCase(test: XmlElement, suiteFile: string, source: string): TestCaseResult {
  const problems = [...(test.children.get("failure") ?? []), ...(test.children.get("error") ?? [])];
  const skips = test.children.get("skipped") ?? [];
  const result: TestResult = problems.length > 0 ? "failure" : skips.length > 0 ? "skipped" : "success";
  const explained = result === "failure" ? problems : result === "skipped" ? skips : [];
  const message = explained
    .map(describe)
    .filter((text) => text.length > 0)
    .join("\n");
  const attribute = (name: string) => test.attributes.get(name);
  return {
    name: attribute("name") ?? "",
    classname: attribute("classname") ?? attribute("class") ?? "",
    file: attribute("file") ?? suiteFile,
    result,
    run_time: seconds(attribute("time")),
    message: message.length === 0 ? null : message,
    source,
  };
}

function describe(problem: XmlElement): string {
  return [problem.attributes.get("message")?.trim() ?? "", problem.text.trim()]
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

function isNode(value: unknown): value is OrderedNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The element name of an ordered node (`{ testcase: [...children], ":@": {...} }`); undefined for text and CDATA. */
function tagName(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) if (key !== ATTRIBUTES && key !== TEXT && key !== CDATA) return key;
  return undefined;
}

/** One parsed element: attributes and text decoded, CDATA verbatim in place, children by name. */
function element(node: OrderedNode, name: string): XmlElement {
  const attributes = new Map<string, string>();
  const rawAttributes = node[ATTRIBUTES];
  if (isNode(rawAttributes)) {
    for (const [key, value] of Object.entries(rawAttributes)) {
      if (typeof value === "string") attributes.set(unguard(key), decodeEntities(value));
      else if (value === true) attributes.set(unguard(key), "");
    }
  }
  let text = "";
  const children = new Map<string, XmlElement[]>();
  const content = node[name];
  for (const child of Array.isArray(content) ? content : []) {
    if (!isNode(child)) continue;
    if (Object.hasOwn(child, TEXT)) {
      const part = child[TEXT];
      if (typeof part === "string") text += decodeEntities(part);
    } else if (Object.hasOwn(child, CDATA)) {
      const parts = child[CDATA];
      for (const part of Array.isArray(parts) ? parts : []) {
        if (isNode(part) && typeof part[TEXT] === "string") text += part[TEXT];
      }
    } else {
      const childName = tagName(child);
      if (childName === undefined) continue;
      const key = unguard(childName);
      const list = children.get(key) ?? [];
      list.push(element(child, childName));
      children.set(key, list);
    }
  }
  return { attributes, text, children };
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
    return Object.hasOwn(NAMED_ENTITIES, entity) ? NAMED_ENTITIES[entity]! : whole;
  });
}
