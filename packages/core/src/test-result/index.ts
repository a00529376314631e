/** Test results: JUnit XML reports read into the CircleCI API v2 `/tests` item shape. */
export { type ParseJUnitOptions, parseJUnit, type TestCaseResult, type TestResult } from "./junit.ts";
