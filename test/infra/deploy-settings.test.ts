/**
 * The stage settings infra reads from the deploying shell are documented under the names the
 * code reads (docs/operations.md): retention's GYRE_RETENTION_<KIND>_DAYS (infra/storage.ts) and
 * the stage network's GYRE_STAGE_* (infra/network-plan.ts), and no name the code does not read.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { stageNetwork } from "../../infra/network-plan.ts";
import { RETENTION_DEFAULTS, RETENTION_SETTINGS } from "../../packages/core/src/retention/index.ts";

const root = resolve(import.meta.dirname, "../..");
const docs = readFileSync(resolve(root, "docs/operations.md"), "utf8");
const section = (title: string) => {
  const start = docs.indexOf(`\n## ${title}\n`);
  expect(start, title).toBeGreaterThan(0);
  return docs.slice(start, docs.indexOf("\n## ", start + 1));
};

describe("docs/operations.md names the deploy-time settings as infra reads them", () => {
  it("retention: GYRE_RETENTION_OUTPUT_DAYS, GYRE_RETENTION_ARTIFACTS_DAYS, GYRE_RETENTION_CACHES_DAYS", () => {
    // infra/storage.ts reads one variable per retained kind, named from the kind.
    expect(readFileSync(resolve(root, "infra/storage.ts"), "utf8")).toMatch(
      /process\.env\[`GYRE_RETENTION_\$\{kind\.toUpperCase\(\)\}_DAYS`\]/,
    );
    const variable = (kind: string) => `GYRE_RETENTION_${kind.toUpperCase()}_DAYS`;
    const read = Object.keys(RETENTION_DEFAULTS).map(variable);
    expect(read).toEqual([
      "GYRE_RETENTION_OUTPUT_DAYS",
      "GYRE_RETENTION_ARTIFACTS_DAYS",
      "GYRE_RETENTION_CACHES_DAYS",
    ]);
    // The settings table gives each setting's variable in its row (the plural ARTIFACTS and CACHES
    // beside the singular settings is where a guess goes wrong).
    const rows = section("Retention")
      .split("\n")
      .filter((line) => line.startsWith("| `retention_"));
    for (const [kind, setting] of Object.entries(RETENTION_SETTINGS)) {
      const row = rows.find((line) => line.startsWith(`| \`${setting}\``));
      expect(row, setting).toContain(`\`${variable(kind)}\``);
    }
    const named = new Set(docs.match(/GYRE_RETENTION_[A-Z]+_DAYS/g));
    expect([...named].sort()).toEqual([...read].sort());
  });

  it("the stage network: GYRE_STAGE_HTTP_PROXY, GYRE_STAGE_HTTPS_PROXY, GYRE_STAGE_NO_PROXY, GYRE_STAGE_CA_BUNDLE", () => {
    const names = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"].map((n) => `GYRE_STAGE_${n}`);
    // Each is read: given alone, it shows in what the stage gets.
    for (const name of names) expect(stageNetwork({ [name]: "10.0.0.33:3128" }).proxy, name).not.toEqual({});
    expect(() => stageNetwork({ GYRE_STAGE_CA_BUNDLE: "/nonexistent.pem" })).toThrow(
      /^GYRE_STAGE_CA_BUNDLE /,
    );
    const proxies = section("Proxies and certificates");
    for (const name of [...names, "GYRE_STAGE_CA_BUNDLE"]) expect(proxies, name).toContain(`\`${name}\``);
    expect([...new Set(docs.match(/GYRE_STAGE_[A-Z_]+/g))].sort()).toEqual(
      [...names, "GYRE_STAGE_CA_BUNDLE"].sort(),
    );
  });
});
