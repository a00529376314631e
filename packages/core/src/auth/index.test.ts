/** Users and tokens against an in-memory table: only a token's digest is stored, and it authenticates. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { z } from "../protocol/schema.ts";
import { getItem, queryPage } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Index, Keys } from "../table.ts";
import { authenticate, createToken, createUser } from "./index.ts";

let table: TestTable;
beforeAll(async () => {
  table = await memoryTable();
});
afterAll(async () => {
  await table.close();
});

describe("users and tokens", () => {
  it("stores a user and its token's digest, and authenticates the token", async () => {
    const { gyre } = table;
    const user = await createUser(gyre, { login: "ada", builder: true });
    expect(user).toMatchObject({ login: "ada", name: "ada", admin: false, builder: true });
    const stored = await getItem(gyre, Keys.user(user.id), z.record(z.string(), z.unknown()), "user");
    expect(stored).toMatchObject({ ...user, gsi1pk: Index.users(), gsi1sk: "ada" });

    const token = await createToken(gyre, user.id, "laptop");
    const { items } = await queryPage(gyre, { index: "gsi1", partition: Index.tokensOf(user.id) });
    expect(items).toEqual([expect.objectContaining({ userId: user.id, label: "laptop" })]);
    expect(JSON.stringify(items)).not.toContain(token);

    expect(await authenticate(gyre, token)).toEqual(user);
    const refused = await authenticate(gyre, "gyre_not-a-token").catch((e: GyreError) => e.code);
    expect(refused).toBe("unauthorized");
    expect(await authenticate(gyre, undefined).catch((e: GyreError) => e.code)).toBe("unauthorized");
  });

  it("refuses a login that is not a plain name", async () => {
    await expect(createUser(table.gyre, { login: "no spaces" })).rejects.toThrow(GyreError);
  });
});
