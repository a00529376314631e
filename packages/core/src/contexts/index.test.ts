/** The context store against a real DynamoDB stand-in (dynalite) and real envelope encryption. */
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGyre, type Gyre } from "../context.ts";
import { setEnvVar } from "../envvar/index.ts";
import { GyreError } from "../error.ts";
import { LocalKeyPort } from "../secret/index.ts";
import { tableDefinition } from "../table-schema.ts";
import {
  createContext,
  deleteContext,
  deleteContextVariable,
  getContext,
  jobEnvironment,
  listContexts,
  listContextVariables,
  parseOwnerSlug,
  setContextVariable,
} from "./index.ts";

type Server = { listen(p: number, h: string, cb: (e?: Error) => void): void; close(cb: () => void): void };

let server: Server & { address(): AddressInfo };
let gyre: Gyre;
let clock = Date.parse("2024-05-01T10:00:00.000Z");

beforeAll(async () => {
  const dynalite = createRequire(import.meta.url)("dynalite") as (o: object) => typeof server;
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((ok, fail) => server.listen(0, "127.0.0.1", (e) => (e ? fail(e) : ok())));
  const dir = mkdtempSync(join(tmpdir(), "gyre-contexts-"));
  gyre = {
    ...createGyre(
      {
        region: "us-east-1",
        tableName: "gyre",
        bucketName: "gyre",
        intakeQueueUrl: "",
        jobQueueUrls: {},
        stateMachineArn: "",
        heartbeatSeconds: 30,
        queueTimeoutSeconds: 86400,
        maxJobSeconds: 18000,
        endpoints: { dynamodb: `http://127.0.0.1:${server.address().port}` },
      },
      new LocalKeyPort(dir),
      dir,
    ),
    now: () => clock,
  };
  await gyre.aws.dynamo.send(new CreateTableCommand(tableDefinition("gyre")));
});

afterAll(async () => {
  await new Promise<void>((ok) => server?.close(() => ok()));
});

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (error) {
    if (error instanceof GyreError) return error.code;
    throw error;
  }
  return "ok";
};

describe("owners", () => {
  it.each([
    ["gh/acme", "gh/acme"],
    ["github/acme", "gh/acme"],
    ["bitbucket/acme", "bb/acme"],
    ["local/me", "local/me"],
  ])("normalises %s", (raw, owner) => expect(parseOwnerSlug(raw)).toBe(owner));

  it.each(["acme", "gh/acme/api", "gl/acme", "gh/", "", 42])("refuses %j", (raw) =>
    expect(() => parseOwnerSlug(raw)).toThrow(GyreError),
  );
});

describe("contexts", () => {
  it("creates a context once per owner and name, gets and lists it", async () => {
    const deploy = await createContext(gyre, { name: "deploy", owner: "github/acme" });
    expect(deploy).toMatchObject({ name: "deploy", owner: "gh/acme", createdAt: "2024-05-01T10:00:00.000Z" });
    expect(await code(createContext(gyre, { name: "deploy", owner: "gh/acme" }))).toBe("conflict");
    // The same name under another owner is another context.
    const other = await createContext(gyre, { name: "deploy", owner: "gh/other" });
    expect(other.id).not.toBe(deploy.id);
    expect(await getContext(gyre, deploy.id)).toEqual(deploy);
    expect((await listContexts(gyre, "gh/acme")).items).toEqual([deploy]);
    expect(await code(getContext(gyre, "00000000-0000-4000-8000-000000000000"))).toBe("not_found");
    expect(await code(getContext(gyre, "not-a-uuid"))).toBe("not_found");
  });

  it.each([undefined, "", "  ", 7, "x".repeat(257), "a\nb"])("refuses the name %j", async (name) => {
    expect(await code(createContext(gyre, { name, owner: "gh/acme" }))).toBe("bad_request");
  });

  it("pages through an owner's contexts by name", async () => {
    for (const name of ["c", "a", "e", "b", "d"]) await createContext(gyre, { name, owner: "gh/paged" });
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await listContexts(gyre, "gh/paged", { limit: 2, pageToken: token });
      seen.push(...page.items.map((c) => c.name));
      token = page.nextPageToken ?? undefined;
    } while (token);
    expect(seen).toEqual(["a", "b", "c", "d", "e"]);
    expect(await code(listContexts(gyre, "gh/paged", { pageToken: "garbage" }))).toBe("bad_request");
    // A token from another owner's listing is not accepted.
    const first = await listContexts(gyre, "gh/paged", { limit: 1 });
    expect(await code(listContexts(gyre, "gh/acme", { pageToken: first.nextPageToken! }))).toBe(
      "bad_request",
    );
  });
});

describe("context variables", () => {
  it("seals values at rest, lists names only, keeps created_at across updates", async () => {
    const ctx = await createContext(gyre, { name: "vars", owner: "gh/acme" });
    const first = await setContextVariable(gyre, ctx.id, "TOKEN", "first-secret-1");
    expect(first).toEqual({ variable: "TOKEN", created_at: "2024-05-01T10:00:00.000Z", context_id: ctx.id });
    clock += 60_000;
    expect(await setContextVariable(gyre, ctx.id, "TOKEN", "second-secret-2")).toEqual(first);
    await setContextVariable(gyre, ctx.id, "OTHER", "x");
    expect(await listContextVariables(gyre, ctx.id)).toEqual([
      { variable: "OTHER", created_at: "2024-05-01T10:01:00.000Z", context_id: ctx.id },
      first,
    ]);
    const dump = JSON.stringify((await gyre.aws.dynamo.send(new ScanCommand({ TableName: "gyre" }))).Items);
    expect(dump).toContain("TOKEN");
    expect(dump).not.toContain("second-secret-2");
    expect(dump).not.toContain("first-secret-1");
  });

  it("validates names and values like project variables (32 KB limit)", async () => {
    const ctx = await createContext(gyre, { name: "validation", owner: "gh/acme" });
    expect(await code(setContextVariable(gyre, ctx.id, "1BAD", "x"))).toBe("bad_request");
    expect(await code(setContextVariable(gyre, ctx.id, "OK", 42))).toBe("bad_request");
    expect(await code(setContextVariable(gyre, ctx.id, "BIG", "x".repeat(32 * 1024 + 1)))).toBe(
      "bad_request",
    );
    expect(await code(setContextVariable(gyre, ctx.id, "FITS", "x".repeat(32 * 1024)))).toBe("ok");
    expect(await code(setContextVariable(gyre, "00000000-0000-4000-8000-000000000000", "A", "x"))).toBe(
      "not_found",
    );
  });

  it("deletes a variable (404 for one that is not there)", async () => {
    const ctx = await createContext(gyre, { name: "delete-var", owner: "gh/acme" });
    await setContextVariable(gyre, ctx.id, "GONE", "value");
    await deleteContextVariable(gyre, ctx.id, "GONE");
    expect(await listContextVariables(gyre, ctx.id)).toEqual([]);
    expect(await code(deleteContextVariable(gyre, ctx.id, "GONE"))).toBe("not_found");
    expect(await code(deleteContextVariable(gyre, ctx.id, "x".repeat(2000)))).toBe("bad_request");
  });

  it("deletes a context with its variables; a context re-created by that name starts empty", async () => {
    const ctx = await createContext(gyre, { name: "doomed", owner: "gh/acme" });
    for (let i = 0; i < 30; i++) await setContextVariable(gyre, ctx.id, `V${i}`, `value-${i}`);
    await deleteContext(gyre, ctx.id);
    expect(await code(getContext(gyre, ctx.id))).toBe("not_found");
    expect(await code(listContextVariables(gyre, ctx.id))).toBe("not_found");
    expect(await code(deleteContext(gyre, ctx.id))).toBe("not_found");
    expect((await listContexts(gyre, "gh/acme")).items.map((c) => c.name)).not.toContain("doomed");
    const scan = await gyre.aws.dynamo.send(new ScanCommand({ TableName: "gyre" }));
    expect(scan.Items!.filter((i) => i.pk === `CONTEXT#${ctx.id}`)).toEqual([]);

    // A variable written while the delete ran (left behind) is not part of the new context.
    await gyre.aws.dynamo.send(
      new PutCommand({
        TableName: "gyre",
        Item: {
          pk: `CONTEXT#${ctx.id}`,
          sk: "ENVVAR#LATE",
          variable: "LATE",
          incarnation: "old",
          sealed: "x",
        },
      }),
    );
    const again = await createContext(gyre, { name: "doomed", owner: "gh/acme" });
    expect(await listContextVariables(gyre, again.id)).toEqual([]);
    expect(await jobEnvironment(gyre, { projectSlug: "gh/acme/api", contexts: ["doomed"] })).toEqual({
      environment: {},
    });
  });
});

describe("a job's environment", () => {
  it("layers project < contexts in list order, in the project's organization", async () => {
    await setEnvVar(gyre, "gh/layers/api", { name: "SHARED", value: "project" });
    await setEnvVar(gyre, "gh/layers/api", { name: "PROJECT_ONLY", value: "p" });
    const one = await createContext(gyre, { name: "one", owner: "gh/layers" });
    const two = await createContext(gyre, { name: "two", owner: "gh/layers" });
    await setContextVariable(gyre, one.id, "SHARED", "one");
    await setContextVariable(gyre, one.id, "ONE_ONLY", "1");
    await setContextVariable(gyre, two.id, "SHARED", "two");
    expect(await jobEnvironment(gyre, { projectSlug: "gh/layers/api", contexts: ["one", "two"] })).toEqual({
      environment: { SHARED: "two", PROJECT_ONLY: "p", ONE_ONLY: "1" },
    });
    expect(await jobEnvironment(gyre, { projectSlug: "gh/layers/api", contexts: ["two", "one"] })).toEqual({
      environment: { SHARED: "one", PROJECT_ONLY: "p", ONE_ONLY: "1" },
    });
    expect(await jobEnvironment(gyre, { projectSlug: "gh/layers/api", contexts: [] })).toEqual({
      environment: { SHARED: "project", PROJECT_ONLY: "p" },
    });
  });

  it("refuses a job naming a context its organization does not have", async () => {
    await createContext(gyre, { name: "elsewhere", owner: "gh/someone-else" });
    const result = await jobEnvironment(gyre, {
      projectSlug: "gh/layers/api",
      contexts: ["one", "elsewhere"],
    });
    expect(result).toEqual({ unauthorized: expect.stringContaining('Context not found: "elsewhere"') });
    expect((result as { unauthorized: string }).unauthorized).toContain("gh/layers");
  });
});
