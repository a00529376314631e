/** A project's SSH keys against an in-memory table: their items, listing, deletion, a job's keys. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { getItem } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Keys } from "../table.ts";
import {
  addSshKey,
  createCheckoutKey,
  deleteCheckoutKey,
  deleteSshKey,
  generateEd25519Key,
  getCheckoutKey,
  jobSshKeys,
  listCheckoutKeys,
  listSshKeys,
} from "./index.ts";

let table: TestTable;
beforeAll(async () => {
  table = await memoryTable();
});
afterAll(async () => {
  await table.close();
});

const Raw = z.record(z.string(), z.unknown());
const hex = (fingerprint: string) => fingerprint.replace(/:/g, "");
const code = async (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => (e instanceof GyreError ? e.code : Promise.reject(e)),
  );

describe("checkout keys", () => {
  it("stores the private half sealed under CHECKOUTKEY#<md5>, the newest preferred", async () => {
    const { gyre, setNow } = table;
    const first = await createCheckoutKey(gyre, "github/acme/api", "deploy-key");
    expect(first).toMatchObject({ type: "deploy-key", preferred: true });
    const item = await getItem(gyre, Keys.checkoutKey("gh/acme/api", hex(first.fingerprint)), Raw, "item");
    expect(Object.keys(item ?? {}).sort()).toEqual(
      ["createdAt", "fingerprint", "pk", "publicKey", "sealed", "sha256", "sk", "type"].sort(),
    );
    expect(JSON.stringify(item)).not.toContain("PRIVATE");

    setNow(Date.parse("2026-01-01T00:01:00.000Z"));
    const second = await createCheckoutKey(gyre, "gh/acme/api", "user-key");
    expect(second).toMatchObject({ type: "github-user-key", preferred: true });
    expect((await listCheckoutKeys(gyre, "gh/acme/api")).map((k) => [k.fingerprint, k.preferred])).toEqual([
      [second.fingerprint, true],
      [first.fingerprint, false],
    ]);
    expect((await getCheckoutKey(gyre, "gh/acme/api", hex(first.fingerprint))).fingerprint).toBe(
      first.fingerprint,
    );

    const { checkoutKey } = await jobSshKeys(gyre, "gh/acme/api", "git@github.com:acme/api.git");
    expect(checkoutKey).toMatchObject({ fingerprint: second.fingerprint, hostname: "" });
    expect(checkoutKey?.privateKey).toContain("PRIVATE KEY");
    expect((await jobSshKeys(gyre, "gh/acme/api", "https://github.com/acme/api.git")).checkoutKey).toBeNull();

    await deleteCheckoutKey(gyre, "gh/acme/api", second.fingerprint);
    expect((await listCheckoutKeys(gyre, "gh/acme/api")).map((k) => k.fingerprint)).toEqual([
      first.fingerprint,
    ]);
    expect(await code(getCheckoutKey(gyre, "gh/acme/api", second.fingerprint))).toBe("not_found");
  });
});

describe("additional keys", () => {
  it("keeps one key per fingerprint and host under SSHKEY#<md5>#<host>, deletes by host or all", async () => {
    const { gyre } = table;
    const key = generateEd25519Key();
    const input = { hostname: "example.com", privateKey: key.privateKey };
    const added = await addSshKey(gyre, "gh/acme/web", input);
    expect(added).toMatchObject({ hostname: "example.com", fingerprint: key.fingerprint });
    // The same key for the same host replaces itself; for another host it is another item.
    await addSshKey(gyre, "gh/acme/web", input);
    await addSshKey(gyre, "gh/acme/web", { hostname: "", privateKey: key.privateKey });
    const item = await getItem(
      gyre,
      Keys.sshKey("gh/acme/web", hex(key.fingerprint), "example.com"),
      Raw,
      "item",
    );
    expect(item).toMatchObject({
      hostname: "example.com",
      fingerprint: key.fingerprint,
      sealed: expect.any(String),
    });
    expect((await listSshKeys(gyre, "gh/acme/web")).map((k) => k.hostname).sort()).toEqual([
      "",
      "example.com",
    ]);

    const { keys } = await jobSshKeys(gyre, "gh/acme/web", "/local/path");
    expect(keys.map((k) => k.privateKey)).toEqual([key.privateKey, key.privateKey]);

    expect(await deleteSshKey(gyre, "gh/acme/web", key.fingerprint, "example.com")).toBe(1);
    expect(await deleteSshKey(gyre, "gh/acme/web", hex(key.fingerprint))).toBe(1);
    expect(await listSshKeys(gyre, "gh/acme/web")).toEqual([]);
    expect(await code(deleteSshKey(gyre, "gh/acme/web", key.fingerprint))).toBe("not_found");
  });
});
