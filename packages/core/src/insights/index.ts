/**
 * Insights: CircleCI API v2's `/insights` operations, computed from Gyre's own records.
 *
 * - record.ts: a run record per ended workflow and per job it ran, written once when the
 *   workflow ends (the hook in dispatch/advance.ts), with its tests' outcomes per commit
 *   (tests.ts, which finds flaky tests as they happen).
 * - read.ts: windows and pages of those records, one query each (keys in table.ts).
 * - metrics.ts: the glossary's metrics (success rate, throughput, MTTR, durations, trends),
 *   and Gyre's queue times.
 * - report.ts: each operation's answer; presentation/v2.ts gives it CircleCI's shape.
 * - query.ts: the operations' query parameters and the windows they name.
 *
 * Credits: Gyre spends none, so every credit figure is 0.
 */
export * from "./metrics.ts";
export * from "./model.ts";
export * from "./query.ts";
export * from "./read.ts";
export * from "./record.ts";
export * from "./report.ts";
export * from "./tests.ts";
