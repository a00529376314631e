/**
 * `gyre doctor [<job>] [--json]`: the reference's "Debugging Queuing Builds" walk, from
 * `GET /api/gyre/doctor`: each hop (intake, dispatch, scheduling, nodes, job processing) with
 * OK, WARN or FAIL, what was found and what to do. For one job (`<project slug>/<job number>` or
 * its id) it names the hop the job is stuck at. Exits 0 when every finding is OK, 1 otherwise.
 */
import type { Client } from "./client.ts";

type Print = (line: string) => void;

interface FindingJson {
  hop: string;
  status: "OK" | "WARN" | "FAIL";
  message: string;
  remedy?: string;
}

export interface DoctorJson {
  ok: boolean;
  checked_at: string;
  job?: { id: string; slug: string; number: number; name: string; status: string };
  at?: string;
  findings: FindingJson[];
}

const hopName = (hop: string) => hop.replace(/_/g, " ");
const WIDTH = "job processing".length + 2;

/** The report as lines: a heading, one line per finding (its remedy beneath), a verdict. */
export function doctorLines(report: DoctorJson): string[] {
  const lines: string[] = [];
  if (report.job) {
    const j = report.job;
    const where = report.ok
      ? `nothing is wrong; it is at ${hopName(report.at!)}`
      : `stuck at ${hopName(report.at!)}`;
    lines.push(`Job ${j.slug}/${j.number} (${j.name}) is ${j.status}: ${where}.`);
  } else lines.push(`Gyre doctor: the whole installation, ${report.checked_at}.`);
  for (const f of report.findings) {
    lines.push(`${hopName(f.hop).padEnd(WIDTH)}${f.status.padEnd(6)}${f.message}`);
    if (f.remedy) lines.push(`${" ".repeat(WIDTH + 6)}-> ${f.remedy}`);
  }
  const count = (s: string) => report.findings.filter((f) => f.status === s).length;
  lines.push(report.ok ? "Nothing is wrong." : `${count("FAIL")} FAIL, ${count("WARN")} WARN.`);
  return lines;
}

export async function doctorCommand(
  client: Client,
  job: string | undefined,
  options: { json?: boolean },
  print: Print,
): Promise<number> {
  const report = await client.get<DoctorJson>(
    `/api/gyre/doctor${job === undefined ? "" : `?job=${encodeURIComponent(job)}`}`,
  );
  if (options.json) print(JSON.stringify(report, null, 2));
  else for (const line of doctorLines(report)) print(line);
  return report.ok ? 0 : 1;
}
