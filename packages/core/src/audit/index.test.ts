import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { deleteKeys, listKeys, readText } from "../aws/s3.ts";
import type { Gyre } from "../context.ts";
import { queryRaw } from "../store/index.ts";
import { memoryTable, type TestTable, testBucket } from "../store/test-table.ts";
import { BACKFILL_HOURS, deliverAuditFiles, GRACE_MS } from "./delivery.ts";
import { AUDIT_FIELDS, AuditObjects, audit, auditPartition, SYSTEM_ACTOR } from "./index.ts";

let s3: { close(): Promise<void> };
let s3Endpoint: string;
let t: TestTable;

beforeAll(async () => {
  const bucket = await testBucket();
  s3Endpoint = bucket.endpoint;
  s3 = bucket;
});

afterAll(async () => {
  await s3?.close();
});

beforeEach(async () => {
  t = await memoryTable({ endpoints: { s3: s3Endpoint } });
  await deleteKeys(t.gyre, await listKeys(t.gyre, "audit-logs/"));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await t.close();
});

const HOUR = 3600_000;
const at = (iso: string) => Date.parse(iso);

const event = (name: string) => ({
  action: "context.create" as const,
  actor: { id: "u-1", type: "user", name: "ada" },
  target: { id: `c-${name}`, type: "context", name },
  payload: { name },
});

/**
 * The Gyre with a DynamoDB client that refuses audit records' puts while `refuse()` says so (as
 * an outage or throttling would), and optionally an S3 client that refuses every put.
 */
function refusing(gyre: Gyre, refuse: () => boolean, s3Refuses = false): Gyre {
  const real = gyre.aws;
  const dynamo = new Proxy(real.dynamo, {
    get(target, prop, receiver) {
      if (prop !== "send") return Reflect.get(target, prop, receiver);
      return (command: unknown) =>
        refuse() && command instanceof PutCommand && String(command.input.Item?.pk).startsWith("AUDIT#")
          ? Promise.reject(
              Object.assign(new Error("simulated: the table is unavailable"), { name: "ServiceUnavailable" }),
            )
          : target.send(command as PutCommand);
    },
  });
  const bucket = new Proxy(real.s3, {
    get(target, prop, receiver) {
      if (prop !== "send") return Reflect.get(target, prop, receiver);
      return (command: unknown) =>
        s3Refuses && command instanceof PutObjectCommand
          ? Promise.reject(
              Object.assign(new Error("simulated: the bucket refuses writes"), { name: "SlowDown" }),
            )
          : target.send(command as PutObjectCommand);
    },
  });
  return {
    ...gyre,
    aws: {
      dynamo,
      s3: bucket,
      get sqs() {
        return real.sqs;
      },
      get sfn() {
        return real.sfn;
      },
      get autoScaling() {
        return real.autoScaling;
      },
    },
  };
}

/** The marker as a pass that delivered through `hour` leaves it (so a test's pass need not look back 31 days). */
const deliveredThrough = (hour: string) =>
  t.gyre.aws.s3.send(
    new PutObjectCommand({
      Bucket: "gyre",
      Key: AuditObjects.marker,
      Body: JSON.stringify({ version: 1, through: hour }),
    }),
  );

async function recordsInTable(gyre: Gyre, hour: string) {
  const out: Record<string, unknown>[] = [];
  for await (const item of queryRaw(gyre, { partition: auditPartition(hour) })) out.push(item);
  return out;
}

describe("audit records the table refuses", () => {
  it("parks a record in the bucket when the table refuses its write and the retry (simulated table outage), and the next delivery puts it back into the table and its hour's file", async () => {
    t.setNow(at("2026-03-01T10:15:00.000Z"));
    let down = true;
    const gyre = refusing(t.gyre, () => down);
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const record = await audit(gyre, event("deploy"));

    expect(await recordsInTable(t.gyre, "2026-03-01T10")).toEqual([]);
    const parked = await readText(t.gyre, AuditObjects.parked(record.id));
    expect(JSON.parse(parked!)).toEqual(record);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]![0])).toMatch(
      new RegExp(`^gyre audit: parked record ${record.id} \\(context.create\\) in the bucket`),
    );

    down = false;
    await deliveredThrough("2026-03-01T09");
    const pass = await deliverAuditFiles(gyre, { now: at("2026-03-01T11:10:00.000Z") });
    expect(pass.redelivered).toBe(1);
    expect(pass.files).toEqual([
      { hour: "2026-03-01T10", key: AuditObjects.hourFile("2026-03-01T10"), records: 1 },
    ]);
    expect((await recordsInTable(t.gyre, "2026-03-01T10")).map((i) => i.record)).toEqual([record]);
    expect(await listKeys(t.gyre, AuditObjects.parkedPrefix)).toEqual([]);
    const file = await readText(t.gyre, "audit-logs/audit_log/v1/2026/03/01/10/2026-03-01T10.json");
    expect(JSON.parse(file!.trim())).toEqual(record);
  });

  it("keeps the record with no parking when only the first write fails (simulated transient error): the retry lands", async () => {
    let calls = 0;
    const gyre = refusing(t.gyre, () => calls++ === 0);
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const record = await audit(gyre, event("once"));
    expect((await recordsInTable(t.gyre, "2026-01-01T00")).map((i) => i.record)).toEqual([record]);
    expect(await listKeys(t.gyre, AuditObjects.parkedPrefix)).toEqual([]);
    expect(logged).not.toHaveBeenCalled();
  });

  it("logs the whole record on one line when the table and the bucket both refuse it (simulated outage of both), and the action goes on", async () => {
    const gyre = refusing(t.gyre, () => true, true);
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const record = await audit(gyre, event("lost"));
    expect(await listKeys(t.gyre, AuditObjects.parkedPrefix)).toEqual([]);
    expect(logged).toHaveBeenCalledTimes(1);
    const line = String(logged.mock.calls[0]![0]);
    expect(line).not.toContain("\n");
    expect(line).toMatch(
      /^gyre audit: could not record \(ServiceUnavailable: simulated: the table is unavailable; parking: SlowDown: /,
    );
    expect(JSON.parse(line.slice(line.indexOf("): {") + 3))).toEqual(record);
  });
});

describe("deliverAuditFiles", () => {
  it("writes one JSON Lines file per ended hour that has records, oldest first with the reference's fields in order, and leaves the running hour and empty hours", async () => {
    const written = [];
    for (const [time, name] of [
      ["2026-03-01T09:59:59.999Z", "a"],
      ["2026-03-01T10:00:00.000Z", "b"],
      ["2026-03-01T10:30:00.000Z", "c"],
      ["2026-03-01T12:05:00.000Z", "still-running"],
    ] as const) {
      t.setNow(at(time));
      written.push(await audit(t.gyre, event(name)));
    }
    await deliveredThrough("2026-03-01T07");
    const pass = await deliverAuditFiles(t.gyre, { now: at("2026-03-01T12:06:00.000Z") });
    expect(pass.files).toEqual([
      { hour: "2026-03-01T09", key: "audit-logs/audit_log/v1/2026/03/01/09/2026-03-01T09.json", records: 1 },
      { hour: "2026-03-01T10", key: "audit-logs/audit_log/v1/2026/03/01/10/2026-03-01T10.json", records: 2 },
    ]);
    expect(pass.through).toBe("2026-03-01T11");
    const ten = await readText(t.gyre, pass.files[1]!.key);
    expect(ten!.endsWith("\n")).toBe(true);
    const lines = ten!.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l))).toEqual([written[1], written[2]]);
    expect(Object.keys(JSON.parse(lines[0]!))).toEqual([...AUDIT_FIELDS]);
    expect(await listKeys(t.gyre, AuditObjects.filesPrefix)).toHaveLength(2);
  });

  it("writes an hour once: a later pass writes only the hours that ended since (the marker), and rewriting an hour writes the same bytes", async () => {
    t.setNow(at("2026-03-01T10:20:00.000Z"));
    await audit(t.gyre, event("first"));
    await audit(t.gyre, { ...event("second"), payload: { z: 1, a: { y: [1, { b: 2, a: 1 }] } } });
    await deliveredThrough("2026-03-01T09");
    const first = await deliverAuditFiles(t.gyre, { now: at("2026-03-01T11:06:00.000Z") });
    expect(first.files.map((f) => f.hour)).toEqual(["2026-03-01T10"]);
    const bytes = await readText(t.gyre, first.files[0]!.key);

    t.setNow(at("2026-03-01T11:30:00.000Z"));
    await audit(t.gyre, event("next hour"));
    const second = await deliverAuditFiles(t.gyre, { now: at("2026-03-01T12:10:00.000Z") });
    expect(second.files.map((f) => f.hour)).toEqual(["2026-03-01T11"]);
    expect(await deliverAuditFiles(t.gyre, { now: at("2026-03-01T12:50:00.000Z") })).toMatchObject({
      files: [],
      through: "2026-03-01T11",
    });

    // With an older marker (a crash before the last was written), the hours are written again, the same.
    await deliveredThrough("2026-03-01T09");
    await t.gyre.aws.s3.send(new DeleteObjectCommand({ Bucket: "gyre", Key: first.files[0]!.key }));
    const again = await deliverAuditFiles(t.gyre, { now: at("2026-03-01T12:10:00.000Z") });
    expect(again.files.map((f) => f.hour)).toEqual(["2026-03-01T10", "2026-03-01T11"]);
    expect(await readText(t.gyre, first.files[0]!.key)).toBe(bytes);
  });

  it(`waits ${GRACE_MS / 60_000} minutes after an hour's end before writing its file`, async () => {
    t.setNow(at("2026-03-01T10:59:00.000Z"));
    await audit(t.gyre, event("late"));
    await deliveredThrough("2026-03-01T09");
    expect((await deliverAuditFiles(t.gyre, { now: at("2026-03-01T11:04:00.000Z") })).files).toEqual([]);
    expect(
      (await deliverAuditFiles(t.gyre, { now: at("2026-03-01T11:05:00.000Z") })).files.map((f) => f.hour),
    ).toEqual(["2026-03-01T10"]);
  });

  it("rewrites an hour already delivered when a record of it was parked (simulated table outage at write time)", async () => {
    t.setNow(at("2026-03-01T10:10:00.000Z"));
    const kept = await audit(t.gyre, event("kept"));
    t.setNow(at("2026-03-01T10:50:00.000Z"));
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const parked = await audit(
      refusing(t.gyre, () => true),
      event("parked"),
    );
    // The hour was delivered before anything put the parked record back.
    await deliveredThrough("2026-03-01T10");
    const pass = await deliverAuditFiles(t.gyre, { now: at("2026-03-01T11:20:00.000Z") });
    expect(pass).toMatchObject({ redelivered: 1, through: "2026-03-01T10" });
    expect(pass.files.map((f) => f.records)).toEqual([2]);
    const lines = (await readText(t.gyre, AuditObjects.hourFile("2026-03-01T10")))!.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).id)).toEqual([kept.id, parked.id]);
  });

  it("leaves a parked object that is no record where it is, and says so", async () => {
    await t.gyre.aws.s3.send(
      new PutObjectCommand({ Bucket: "gyre", Key: AuditObjects.parked("junk"), Body: "{not json" }),
    );
    await deliveredThrough("2026-01-01T00");
    const pass = await deliverAuditFiles(t.gyre, { now: at("2026-01-01T02:00:00.000Z") });
    expect(pass.unreadable).toEqual([AuditObjects.parked("junk")]);
    expect(await listKeys(t.gyre, AuditObjects.parkedPrefix)).toEqual([AuditObjects.parked("junk")]);
  });

  it(`looks back ${BACKFILL_HOURS / 24} days on its first pass (no marker yet)`, async () => {
    const now = at("2026-03-01T00:30:00.000Z") + GRACE_MS;
    t.setNow(now - BACKFILL_HOURS * HOUR); // in the oldest hour it looks at
    const old = await audit(t.gyre, { ...event("old"), actor: SYSTEM_ACTOR });
    t.setNow(now - (BACKFILL_HOURS + 1) * HOUR); // an hour before it
    await audit(t.gyre, event("too old"));
    const started = Date.now();
    const pass = await deliverAuditFiles(t.gyre, { now });
    expect(pass.files.map((f) => f.hour)).toEqual([old.occurred_at.slice(0, 13)]);
    expect(pass.through).toBe("2026-02-28T23");
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
