/**
 * Client.fromEnv: which token the CLI sends. GYRE_TOKEN when set; unset, the local admin token
 * in GYRE_DATA_DIR; set but empty, an error (an unexpanded `GYRE_TOKEN=$TOKEN` must not act
 * as the local administrator).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.ts";

let server: Server;
let url: string;
const dataDir = mkdtempSync(join(tmpdir(), "gyre-client-"));
writeFileSync(join(dataDir, "admin-token"), "gyre_local_admin\n");

beforeAll(async () => {
  // Answers the token it was sent.
  server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ token: req.headers["circle-token"] ?? null }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

const sent = (env: NodeJS.ProcessEnv) =>
  Client.fromEnv({ GYRE_URL: url, GYRE_DATA_DIR: dataDir, ...env })
    .get<{ token: string | null }>("/")
    .then((answer) => answer.token);

describe("Client.fromEnv", () => {
  it("sends GYRE_TOKEN when it is set (trimmed)", async () => {
    expect(await sent({ GYRE_TOKEN: "gyre_mine" })).toBe("gyre_mine");
    expect(await sent({ GYRE_TOKEN: " gyre_mine\n" })).toBe("gyre_mine");
  });

  it("with GYRE_TOKEN unset, sends the admin token in GYRE_DATA_DIR; with none there, no token", async () => {
    expect(await sent({})).toBe("gyre_local_admin");
    const empty = mkdtempSync(join(tmpdir(), "gyre-client-none-"));
    expect(await sent({ GYRE_DATA_DIR: empty })).toBe(null);
  });

  it("refuses GYRE_TOKEN set but empty or blank, rather than falling back to the admin token", () => {
    for (const blank of ["", "  ", "\n"])
      expect(() => Client.fromEnv({ GYRE_URL: url, GYRE_DATA_DIR: dataDir, GYRE_TOKEN: blank })).toThrow(
        `GYRE_TOKEN is set but empty: set it to your token (gyre token create makes one), or unset it to use the local admin token in ${join(dataDir, "admin-token")}.`,
      );
  });
});
