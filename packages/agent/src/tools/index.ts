/**
 * The tools CircleCI provides inside a job: `circleci` and `circleci-agent` (`tests glob`,
 * `tests split`, `step halt`). They are written into the job's own directory at job start,
 * because a sandboxed step sees only the system directories and that directory, and the
 * directory goes first on the job's PATH.
 *
 *   <root>/.gyre/bin/circleci, circleci-agent   the same bash script (circleci.sh)
 *   <root>/.gyre/timings/<type>.tsv             "<key>\t<seconds>" for filename, classname, testname
 *   <root>/.gyre/halt                           written by `step halt`; read after each step
 *
 * Timings come from the API (`POST /agent/v1/timings`): the most recent successful run of
 * the same job in the project. Without them `tests split --split-by=timings` falls back to
 * weighting by name, as CircleCI does.
 */
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type AllocationRef, type AssignedJob, TimingsAnswerSchema } from "@gyre/core/protocol/agent";
import type { GyreApi } from "../api.ts";

export const TIMING_TYPES = ["filename", "classname", "testname"] as const;
export type TimingType = (typeof TIMING_TYPES)[number];
export type Timings = Record<TimingType, Record<string, number>>;

const SCRIPT = new URL("./circleci.sh", import.meta.url);
/** The script's text, built in by the agent bundle (infra/agent-bundle.ts), which has no files beside it. */
declare const __GYRE_CIRCLECI_SH__: string | undefined;
const scriptText = async () =>
  typeof __GYRE_CIRCLECI_SH__ === "string" ? __GYRE_CIRCLECI_SH__ : readFile(SCRIPT, "utf8");

/** Where the tools of the job whose directory is `root` live. */
export const toolsDir = (root: string) => join(root, ".gyre");

/** The timings table for one type: a key with a tab or line break could not be looked up, so it is left out. */
export function timingsTable(entries: Record<string, number>): string {
  let table = "";
  for (const [key, seconds] of Object.entries(entries)) {
    if (!key || /[\t\r\n]/.test(key) || !Number.isFinite(seconds) || seconds < 0) continue;
    table += `${key}\t${seconds}\n`;
  }
  return table;
}

/** Writes the tools (and `timings`, when given) below `root`; answers the directory to put on PATH. */
export async function writeTools(root: string, timings?: Partial<Timings>): Promise<string> {
  const dir = toolsDir(root);
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });
  await mkdir(join(dir, "timings"), { recursive: true });
  const script = (await scriptText()).replace("__GYRE_DIR__", shellQuote(dir));
  for (const name of ["circleci", "circleci-agent"]) {
    await writeFile(join(bin, name), script);
    await chmod(join(bin, name), 0o755);
  }
  for (const type of TIMING_TYPES) {
    const entries = timings?.[type];
    if (entries) await writeFile(join(dir, "timings", `${type}.tsv`), timingsTable(entries));
  }
  return bin;
}

/** `'...'` for bash. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface ToolsContext {
  job: AssignedJob;
  allocation: AllocationRef;
  nodeId: string;
  api: GyreApi;
}

/**
 * True when some step of the job may split tests by timings. The tools run in the sandbox and
 * cannot ask the API themselves, so timings are fetched before the job starts, but only for a
 * job that can use them: the lookup reads the project's earlier results and costs requests.
 */
export function usesTimings(job: Pick<AssignedJob, "plan">): boolean {
  return (job.plan?.steps ?? []).some(
    (step) =>
      step.type === "run" &&
      /tests\s+split/.test(step.command) &&
      /split-by[=\s]+["']?timings/.test(step.command),
  );
}

/**
 * Installs the job's tools, with the timings of its previous run when the job splits by
 * timings. Never fails the job for want of timings: a split by timings then falls back to names.
 */
export async function installTools(ctx: ToolsContext, root: string): Promise<string> {
  if (!usesTimings(ctx.job)) return writeTools(root);
  let timings: Partial<Timings> | undefined;
  try {
    timings = await ctx.api.call(
      "/timings",
      { allocation: ctx.allocation, node_id: ctx.nodeId },
      TimingsAnswerSchema,
      2,
    );
  } catch {
    timings = undefined;
  }
  return writeTools(root, timings);
}

/** Whether a step called `circleci-agent step halt`; the marker is consumed. */
export async function haltRequested(root: string): Promise<boolean> {
  const marker = join(toolsDir(root), "halt");
  try {
    await stat(marker);
  } catch {
    return false;
  }
  await rm(marker, { force: true });
  return true;
}
