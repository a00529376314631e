/**
 * `gyre orb publish`, `gyre config validate`, `gyre config process`: all through the API, so
 * registry orbs resolve exactly as they will for a pipeline (as `circleci config validate`
 * asks CircleCI to compile).
 */
import { readFileSync } from "node:fs";
import type { Client } from "./client.ts";

type Print = (line: string) => void;

export const DEFAULT_CONFIG_PATH = ".circleci/config.yml";

interface CompileResponse {
  valid: boolean;
  errors: { message: string }[];
  "source-yaml": string;
  "output-yaml": string;
  warnings?: { message: string }[];
  plan?: unknown;
}

/** A file's text, `-` for standard input. */
function readSource(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new Error(
      `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** `gyre orb publish acme/tools@1.2.3 orb.yml` */
export async function orbPublish(client: Client, ref: string, file: string, print: Print): Promise<void> {
  const m = /^([^/@\s]+)\/([^/@\s]+)@(\S+)$/.exec(ref);
  if (!m)
    throw new Error(`"${ref}" is not an orb reference: use namespace/orb@version, e.g. acme/tools@1.2.3.`);
  const [, namespace, orb, version] = m;
  const published = await client.request<{ name: string; version: string; created: boolean }>(
    "PUT",
    `/api/gyre/orbs/${encodeURIComponent(namespace!)}/${encodeURIComponent(orb!)}/${encodeURIComponent(version!)}`,
    { source: readSource(file) },
  );
  const id = `${published.name}@${published.version}`;
  print(published.created ? `Published ${id}.` : `${id} is already published with this content.`);
}

async function compile(client: Client, file: string, plan = false): Promise<CompileResponse> {
  return client.post<CompileResponse>(`/api/v2/compile-config-with-defaults${plan ? "?include=plan" : ""}`, {
    config_yaml: readSource(file),
  });
}

function report(result: CompileResponse, file: string, printError: Print): boolean {
  for (const w of result.warnings ?? []) printError(`Warning: ${w.message}`);
  if (result.valid) return true;
  printError(`Config file at ${file} is invalid:`);
  for (const e of result.errors) printError(`  ${e.message}`);
  return false;
}

/** `gyre config validate [file]`: 0 when valid (warnings printed), 1 with every error printed when not. */
export async function configValidate(
  client: Client,
  file: string,
  print: Print,
  printError: Print,
): Promise<number> {
  const result = await compile(client, file);
  if (!report(result, file, printError)) return 1;
  print(`Config file at ${file} is valid.`);
  return 0;
}

/** `gyre config process [file] [--json]`: the compiled version 2 YAML, or the plan as JSON. */
export async function configProcess(
  client: Client,
  file: string,
  options: { json?: boolean },
  print: Print,
  printError: Print,
): Promise<number> {
  const result = await compile(client, file, options.json);
  if (!report(result, file, printError)) return 1;
  print(options.json ? JSON.stringify(result.plan, null, 2) : result["output-yaml"].replace(/\n$/, ""));
  return 0;
}
