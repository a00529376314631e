/**
 * `gyre build delete` refuses a build URL of another Gyre than the one it talks to (GYRE_URL):
 * its slug and number would name another build here. No server runs: a URL of this Gyre gets as
 * far as the request (which finds nobody listening).
 */
import { describe, expect, it } from "vitest";
import { buildDelete } from "./build-command.ts";
import { ApiError, Client } from "./client.ts";

const print = () => {};
const client = new Client("http://127.0.0.1:9", "gyre_token");

describe("gyre build delete <URL>", () => {
  it("refuses a URL of another host, naming both Gyres, before any request", async () => {
    const ref = "https://ci.example.com/pipelines/gh/acme/api/3/workflows/5f0c/jobs/12";
    await expect(buildDelete(client, ref, {}, print)).rejects.toThrow(
      `${ref} is a build of https://ci.example.com, but this CLI talks to the Gyre at http://127.0.0.1:9 (GYRE_URL): ` +
        "set GYRE_URL=https://ci.example.com (and its GYRE_TOKEN) to delete it there, or give gh/acme/api/12 to delete that build of http://127.0.0.1:9.",
    );
  });

  it("refuses another port or scheme of the same host", async () => {
    for (const ref of ["http://127.0.0.1:8080/gh/acme/api/12", "https://127.0.0.1:9/gh/acme/api/12"])
      await expect(buildDelete(client, ref, {}, print)).rejects.toThrow(
        /is a build of .* but this CLI talks to/,
      );
  });

  it("takes this Gyre's URLs (any case, default port) and a slug/number, and asks the API", async () => {
    const local = new Client("https://Gyre.Example.com:443", "gyre_token");
    for (const [c, ref] of [
      [client, "http://127.0.0.1:9/api/v2/project/gh/acme/api/job/12"],
      [client, "gh/acme/api/12"],
      [local, "https://gyre.example.com/gh/acme/api/12"],
    ] as const) {
      const error = await buildDelete(c, ref, {}, print).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).message).toMatch(/^Cannot reach Gyre at /);
    }
  });
});
