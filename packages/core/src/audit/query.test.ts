/**
 * Listing and exporting the audit log (query.ts) over the in-memory table, and the CSV download
 * (csv.ts): filters, the default and bounded range, page tokens and the work a page does.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GyreError } from "../error.ts";
import { encodePageToken } from "../protocol/page-token.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { parseCsv } from "../test-csv.ts";
import { auditCsv, csvCell } from "./csv.ts";
import { AUDIT_ACTIONS, AUDIT_FIELDS, type AuditEvent, type AuditRecord, audit } from "./index.ts";
import {
  exportAudit,
  listAudit,
  MAX_PARTITIONS_PER_PAGE,
  parseExportQuery,
  parseListQuery,
} from "./query.ts";

let t: TestTable;
const written: AuditRecord[] = [];
const NOW = Date.parse("2026-03-10T12:30:00.000Z");

const ada = { id: "u-ada", type: "user", name: "Ada" };
const bob = { id: "u-bob", type: "user", name: "bob" };

async function write(iso: string, event: Partial<AuditEvent> & Pick<AuditEvent, "action">) {
  t.setNow(Date.parse(iso));
  const record = await audit(t.gyre, {
    actor: ada,
    target: { id: "c-1", type: "context", name: "deploy" },
    ...event,
  });
  written.push(record);
  return record;
}

beforeAll(async () => {
  t = await memoryTable();
  await write("2026-03-02T05:00:00.000Z", { action: "context.delete" });
  await write("2026-03-08T10:00:00.000Z", { action: "context.create" }); // outside the default 24 h
  await write("2026-03-09T13:00:00.000Z", {
    action: "user.create",
    target: { id: "u-bob", type: "user", name: "bob" },
  });
  await write("2026-03-10T09:15:00.000Z", { action: "user.logged_in", actor: bob, target: bob });
  await write("2026-03-10T11:59:59.999Z", { action: "context.env_var.store", payload: { name: "TOKEN" } });
  await write("2026-03-10T12:00:00.000Z", { action: "user.logged_out", actor: bob, target: bob });
  await write("2026-03-10T12:10:00.000Z", {
    action: "settings.update",
    payload: { before: {}, after: { a: 1 } },
  });
  t.setNow(NOW);
});

afterAll(async () => {
  await t?.close();
});

const list = (query: Record<string, string>) => listAudit(t.gyre, parseListQuery(query));
const actions = (records: AuditRecord[]) => records.map((r) => r.action);
const badRequest = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return { code: (error as GyreError).code, message: (error as Error).message };
  }
  throw new Error("did not throw");
};

describe("listAudit", () => {
  it("answers the last 24 hours newest first by default, across the hours' partitions", async () => {
    const page = await list({});
    expect(actions(page.items)).toEqual([
      "settings.update",
      "user.logged_out",
      "context.env_var.store",
      "user.logged_in",
      "user.create",
    ]);
    expect(page.nextPageToken).toBeNull();
    expect(page.items[0]).toEqual(written.at(-1));
    expect(Object.keys(page.items[0]!)).toEqual([...AUDIT_FIELDS]);
  });

  it("filters by exact action, action prefix, actor and target by id or name (any case), and time range", async () => {
    expect(actions((await list({ action: "user.logged_in" })).items)).toEqual(["user.logged_in"]);
    expect(actions((await list({ action: "user." })).items)).toEqual([
      "user.logged_out",
      "user.logged_in",
      "user.create",
    ]);
    expect(actions((await list({ action: "user.*" })).items)).toHaveLength(3);
    expect(actions((await list({ actor: "BOB" })).items)).toEqual(["user.logged_out", "user.logged_in"]);
    expect(actions((await list({ actor: "u-ada", action: "user." })).items)).toEqual(["user.create"]);
    expect(actions((await list({ target: "deploy" })).items)).toEqual([
      "settings.update",
      "context.env_var.store",
    ]);
    // `from` inclusive, `to` exclusive; a date alone is its midnight, no zone is UTC.
    expect(
      actions((await list({ from: "2026-03-10T11:59:59.999Z", to: "2026-03-10T12:10:00.000Z" })).items),
    ).toEqual(["user.logged_out", "context.env_var.store"]);
    expect(actions((await list({ from: "2026-03-08", to: "2026-03-08T11:00" })).items)).toEqual([
      "context.create",
    ]);
  });

  it("pages with tokens bound to the query, newest first, every record once", async () => {
    const query = { from: "2026-03-01", to: "2026-03-11", limit: "2" };
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof list>> = await list({
        ...query,
        ...(token ? { "page-token": token } : {}),
      });
      seen.push(...actions(page.items));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(seen).toEqual([...written].reverse().map((r) => r.action));
    expect(pages).toBeGreaterThanOrEqual(3);
    const first = await list(query);
    // A token of another query, or a forged one, is a 400.
    await expect(
      list({ ...query, action: "user.", "page-token": first.nextPageToken! }),
    ).rejects.toMatchObject({
      code: "bad_request",
      message: "Invalid page-token.",
    });
    await expect(list({ ...query, "page-token": "eyJ2IjoxfQ" })).rejects.toMatchObject({
      code: "bad_request",
    });
  });

  it("refuses a well-formed token forged to read outside the query's range, with 400", async () => {
    // Tokens are not signed: anyone can write one for the same list (its name is the query).
    const forged = (query: Record<string, string>, key: { pk: string; sk: string; from: string }) => {
      const name = `AUDIT?action=${query.action ?? ""}&actor=&target=&from=${query.from ? new Date(query.from).toISOString() : ""}&to=${query.to ? new Date(query.to).toISOString() : ""}`;
      return list({ ...query, "page-token": encodePageToken(name, key) });
    };
    const refused = { code: "bad_request", message: "Invalid page-token." };
    // The default range (24 hours): a start 8 days back would read context.delete and context.create.
    const start = "2026-03-02T00:00:00.000Z";
    await expect(
      forged({}, { pk: "AUDIT#2026-03-10T12", sk: "2026-03-10T12:30:00.000Z", from: start }),
    ).rejects.toMatchObject(refused);
    // A range given: a start before its own, or a walk above its end.
    const range = { from: "2026-03-09T00:00:00Z", to: "2026-03-10T10:00:00Z" };
    await expect(
      forged(range, { pk: "AUDIT#2026-03-09T23", sk: "2026-03-10T00:00:00.000Z", from: start }),
    ).rejects.toMatchObject(refused);
    await expect(
      forged(range, {
        pk: "AUDIT#2026-03-10T12",
        sk: "2026-03-10T12:30:00.000Z",
        from: "2026-03-09T00:00:00.000Z",
      }),
    ).rejects.toMatchObject(refused);
    // The same tokens, within their ranges, read what the ranges hold.
    const inside = await forged(range, {
      pk: "AUDIT#2026-03-09T23",
      sk: "2026-03-10T00:00:00.000Z",
      from: "2026-03-09T00:00:00.000Z",
    });
    expect(actions(inside.items)).toEqual(["user.create"]);
    const recent = await forged(
      {},
      { pk: "AUDIT#2026-03-10T12", sk: "2026-03-10T12:30:00.000Z", from: "2026-03-09T12:30:00.000Z" },
    );
    expect(actions(recent.items)).toEqual(actions((await list({})).items));
  });

  it(`reads at most ${MAX_PARTITIONS_PER_PAGE} hours a page: a sparse range answers short pages with a token`, async () => {
    const sparse = { from: "2026-03-01", to: "2026-03-08T09:00:00Z", action: "context." };
    const page = await list(sparse);
    expect(page.items).toEqual([]);
    expect(page.nextPageToken).not.toBeNull();
    let token = page.nextPageToken;
    const found: AuditRecord[] = [];
    for (let i = 0; token && i < 10; i++) {
      const next = await list({ ...sparse, "page-token": token });
      found.push(...next.items);
      token = next.nextPageToken;
    }
    expect(actions(found)).toEqual(["context.delete"]);
    expect(token).toBeNull();
  });

  it("refuses bad filters with 400 naming the field", () => {
    expect(badRequest(() => parseListQuery({ from: "yesterday" }))).toMatchObject({
      code: "bad_request",
      message: expect.stringMatching(/^Invalid query: from: an ISO 8601 time/),
    });
    expect(badRequest(() => parseListQuery({ to: "2026-02-30T10:00:00Z" })).message).toMatch(
      /to: not a valid time/,
    );
    expect(badRequest(() => parseListQuery({ action: "User Create" })).message).toBe(
      "Invalid query: action: an action (user.create) or a prefix ending in a dot (user.)",
    );
    // Well formed, but no action Gyre records: a 400 naming the known actions, not an empty answer.
    for (const action of ["user.created", "job.", "usr.*", "settings.update.more"]) {
      const refusal = badRequest(() => parseListQuery({ action }));
      expect(refusal.code).toBe("bad_request");
      expect(refusal.message).toBe(
        `Invalid query: action: not an action Gyre records, nor a prefix of one: give one of ${AUDIT_ACTIONS.join(", ")}, or a prefix ending in a dot (user.)`,
      );
      expect(() => parseExportQuery({ action })).toThrow(/not an action Gyre records/);
    }
    for (const action of ["user.create", "user.", "user.*", "workflow.job.", "installation.restore"])
      expect(parseListQuery({ action }).action).toBe(action);
    expect(badRequest(() => parseListQuery({ limit: "0" })).message).toMatch(/^Invalid query: limit: /);
    expect(badRequest(() => parseListQuery({ actor: "x".repeat(201) })).message).toMatch(
      /^Invalid query: actor: /,
    );
    expect(badRequest(() => parseExportQuery({ format: "xml" })).message).toMatch(/^Invalid query: format: /);
  });

  it("refuses a range that ends before it starts, or is longer than 31 days, naming from", async () => {
    await expect(list({ from: "2026-03-10", to: "2026-03-09" })).rejects.toMatchObject({
      code: "bad_request",
      message: "Invalid query: from: must be before to.",
    });
    await expect(list({ from: "2026-01-01", to: "2026-02-02" })).rejects.toMatchObject({
      message: "Invalid query: from: at most 31 days before to (query a shorter range).",
    });
  });
});

describe("exportAudit", () => {
  it("answers the range oldest first with the filters", async () => {
    const all = await exportAudit(t.gyre, parseExportQuery({ from: "2026-03-01", to: "2026-03-11" }));
    expect(all).toEqual(written);
    const users = await exportAudit(
      t.gyre,
      parseExportQuery({ from: "2026-03-01", to: "2026-03-11", action: "user." }),
    );
    expect(actions(users)).toEqual(["user.create", "user.logged_in", "user.logged_out"]);
  });
});

describe("auditCsv", () => {
  it("quotes a cell with a comma, a quote, CR or LF, doubling its quotes, and leaves others bare", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell('say "hi", then')).toBe('"say ""hi"", then"');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell("cr\r")).toBe('"cr\r"');
  });

  it("has a header of the reference's fields and a row per record, nested fields as JSON, read back whole", () => {
    const odd = {
      ...written.at(-1)!,
      payload: { note: 'a "quoted", comma\nand a newline', n: 1 },
      scope: null,
      request: { id: "r-1", ip_address: "127.0.0.1", client_trace_id: "t,1" },
    };
    const text = auditCsv([written[0]!, odd]);
    expect(text.endsWith("\r\n")).toBe(true);
    const [header, first, second] = parseCsv(text);
    expect(header).toEqual([
      "id",
      "action",
      "actor",
      "target",
      "payload",
      "occurred_at",
      "metadata",
      "version",
      "scope",
      "success",
      "request",
    ]);
    const back = (row: string[]) =>
      Object.fromEntries(
        header!.map((f, i) => {
          const cell = row[i]!;
          if (["actor", "target", "payload", "metadata", "scope", "request"].includes(f))
            return [f, cell === "" ? null : JSON.parse(cell)];
          if (f === "version") return [f, Number(cell)];
          if (f === "success") return [f, cell === "true"];
          return [f, cell];
        }),
      );
    expect(back(first!)).toEqual(written[0]);
    expect(back(second!)).toEqual(odd);
  });
});
