/**
 * `gyre audit export` of a day with more records than one answer holds: asked for in halves; and
 * the operator's page (docs/operations.md) names every action and every export flag.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { AUDIT_ACTIONS } from "@gyre/core/audit/index";
import { describe, expect, it } from "vitest";
import { auditCommand } from "./audit-command.ts";
import { ApiError, type Client } from "./client.ts";

describe("gyre audit export", () => {
  it("asks again in halves when the server answers 422 for a range too busy, and exports every record once", async () => {
    const asked: string[] = [];
    // A server that answers at most 6 hours at a time, one record per hour asked.
    const client = {
      get: async (path: string) => {
        const q = new URL(path, "http://x").searchParams;
        const from = Date.parse(q.get("from")!);
        const to = Date.parse(q.get("to")!);
        asked.push(`${q.get("from")} ${q.get("to")}`);
        if (to - from > 6 * 3600_000) throw new ApiError(422, "Too many records: export a shorter range.");
        const records = [];
        for (let t = from; t < to; t += 3600_000) records.push({ id: new Date(t).toISOString() });
        return records;
      },
    } as unknown as Client;
    let out = "";
    const code = await auditCommand(
      client,
      ["export"],
      { from: "2026-11-30T00:00:00Z", to: "2026-12-01T00:00:00Z" },
      () => {},
      (text) => {
        out += text;
      },
    );
    expect(code).toBe(0);
    const ids = out
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toHaveLength(24);
    expect(new Set(ids).size).toBe(24);
    expect(asked[0]).toBe("2026-11-30T00:00:00.000Z 2026-12-01T00:00:00.000Z");
  });
});

describe("docs/operations.md, Audit records", () => {
  const docs = readFileSync(resolve(import.meta.dirname, "../../../docs/operations.md"), "utf8");
  const section = docs.slice(docs.indexOf("## Audit records"), docs.indexOf("## Backup and restore"));

  it("lists every action Gyre records", () => {
    const listed = section.slice(0, section.indexOf("**Listing**"));
    for (const action of AUDIT_ACTIONS) expect(listed, action).toContain(`\`${action}\``);
  });

  it("documents every flag of gyre audit export, in the synopsis and the export's table", () => {
    const synopsis = docs.split("\n").find((line) => line.startsWith("gyre audit export "))!;
    for (const flag of ["--from", "--to", "--csv", "--out", "--action", "--actor", "--target"]) {
      expect(synopsis, flag).toContain(flag);
      expect(section, flag).toMatch(new RegExp(`^\\| \`${flag}[ \`]`, "m"));
    }
  });
});
