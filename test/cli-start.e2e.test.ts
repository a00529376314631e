/**
 * `gyre start` on a port or data directory other than the defaults says how to point the CLI at
 * it (GYRE_URL, GYRE_DATA_DIR), and that the CLI then reaches it. A real CLI process.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, waitFor } from "./support.ts";

const CLI = join(import.meta.dirname, "..", "packages", "cli", "src", "main.ts");

describe("gyre start off the defaults", () => {
  it("prints the GYRE_URL and GYRE_DATA_DIR the CLI needs, and the CLI reaches it with them", async () => {
    const dataDir = tempDir("cli-start");
    let output = "";
    const child = spawn(
      process.execPath,
      ["--import", "tsx", CLI, "start", "--port", "0", "--data-dir", dataDir, "--agents", "0", "--no-demo"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.on("data", (d) => (output += d));
    const exit = new Promise((ok) => child.on("exit", ok));
    try {
      const line = await waitFor(
        "the banner",
        async () => /^For the CLI in another shell: {2}export (.*)$/m.exec(output)?.[1],
      );
      const url = /^Gyre is running at (\S+)$/m.exec(output)![1]!;
      expect(line).toBe(`GYRE_URL=${url} GYRE_DATA_DIR=${dataDir}`);
      const env = Object.fromEntries(line.split(" ").map((kv) => kv.split("=") as [string, string]));
      let status = "";
      const cli = spawn(process.execPath, ["--import", "tsx", CLI, "nomad", "node", "status"], {
        env: { ...process.env, ...env, GYRE_TOKEN: undefined },
        stdio: ["ignore", "pipe", "pipe"],
      });
      cli.stdout.on("data", (d) => (status += d));
      cli.stderr.on("data", (d) => (status += d));
      const code = await new Promise((ok) => cli.on("exit", ok));
      expect([code, status]).toEqual([0, "No nodes registered\n"]);
    } finally {
      child.kill("SIGINT");
      await exit;
    }
  });
});
