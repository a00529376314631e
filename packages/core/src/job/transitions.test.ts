/**
 * The transition table against a real (in-memory) table: every legal move is written, every
 * illegal one is refused by the write's own condition and changes nothing, every replay is a
 * no-op; and the diagram in docs/architecture.md is the one the table draws.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "../protocol/schema.ts";
import { getItem, putItem, tryUpdate } from "../store/index.ts";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import { Keys } from "../table.ts";
import { ALLOCATION_STATUSES, JOB_STATUSES } from "./schema.ts";
import {
  ALLOCATION_MOVES,
  allocationMove,
  JOB_MOVES,
  jobMove,
  NODE_MOVES,
  nodeMove,
  PIPELINE_MOVES,
  pipelineMove,
  renderStateDiagrams,
} from "./transitions.ts";

let table: TestTable;
beforeAll(async () => {
  table = await memoryTable();
});
afterAll(async () => {
  await table?.close();
});

const Raw = z.record(z.string(), z.unknown());
let n = 0;
const read = async (key: { pk: string; sk: string }) => (await getItem(table.gyre, key, Raw, "item"))!;
const strip = ({ updatedAt: _, ...rest }: Record<string, unknown>) => rest;

/** Sample values for the fields moves set. */
const FIELD: Record<string, unknown> = {
  queuedAt: "2026-01-01T00:00:01.000Z",
  startedAt: "2026-01-01T00:00:02.000Z",
  stoppedAt: "2026-01-01T00:00:03.000Z",
  nodeId: "node-1",
  taskToken: "token",
  messages: [{ type: "warning", message: "m" }],
  attempt: 2,
  retries: 1,
  allocations: { "0": { status: "queued" } },
  vcs: { providerName: "GitHub", repoUrl: "r", revision: "abc" },
  errors: [],
  continuation: "sealed",
  continuationDigest: "d",
  heartbeatAt: 5,
  downAt: 6,
};
const fieldsOf = (sets: readonly string[]) => Object.fromEntries(sets.map((f) => [f, FIELD[f]]));

async function jobAt(status: string) {
  const key = Keys.job(`wf-${n++}`, "build");
  await putItem(table.gyre, {
    ...key,
    id: "job",
    status,
    attempt: 1,
    allocations: { "0": { status: "queued" } },
  });
  return key;
}

describe("job moves", () => {
  for (const move of JOB_MOVES.filter((m) => m.from.length > 0)) {
    for (const to of move.to) {
      it(`${move.event} → ${to}: written from ${move.from.join(", ")}, a replay changes nothing, refused from every other status`, async () => {
        for (const from of move.from) {
          const key = await jobAt(from);
          const spec = jobMove({ id: "job", attempt: 1 }, move.event as never, to, fieldsOf(move.sets), 1);
          expect(await tryUpdate(table.gyre, key, spec)).toBe(true);
          const after = await read(key);
          expect(after.status).toBe(to);
          if ((move as { active?: string }).active === "leave") expect(after.gsi2pk).toBeUndefined();
          const again = await tryUpdate(table.gyre, key, spec);
          // A replay is refused, or (a move to where it starts) writes the same item again.
          if (again) expect(strip(await read(key))).toEqual(strip(after));
          // The same move from an older read (another attempt) is refused.
          expect(
            await tryUpdate(
              table.gyre,
              key,
              jobMove({ id: "job", attempt: 7 }, move.event as never, to, {}, 2),
            ),
          ).toBe(false);
        }
        for (const from of JOB_STATUSES.filter((s) => !(move.from as readonly string[]).includes(s))) {
          const key = await jobAt(from);
          const before = await read(key);
          expect(
            await tryUpdate(
              table.gyre,
              key,
              jobMove({ id: "job", attempt: 1 }, move.event as never, to, {}, 1),
            ),
          ).toBe(false);
          expect(await read(key)).toEqual(before);
        }
      });
    }
  }

  it("refuses to build a move to a status the table does not list, or one that sets a field it does not", () => {
    expect(() => jobMove({ id: "j", attempt: 1 }, "unblock", "success", {}, 1)).toThrow(
      /cannot end in "success"/,
    );
    expect(() => jobMove({ id: "j", attempt: 1 }, "unblock", "queued", { stoppedAt: "x" }, 1)).toThrow(
      /does not set "stoppedAt"/,
    );
  });
});

describe("allocation moves", () => {
  for (const move of ALLOCATION_MOVES) {
    for (const to of move.to) {
      it(`${move.event} → ${to}: written from ${move.from.join(", ")}, refused from every other status`, async () => {
        for (const from of ALLOCATION_STATUSES) {
          const key = Keys.job(`wf-${n++}`, "build");
          await putItem(table.gyre, {
            ...key,
            id: "job",
            status: "running",
            attempt: 1,
            allocations: { "0": { status: from } },
          });
          const before = await read(key);
          const spec = allocationMove({ attempt: 1 }, 0, move.event, to, fieldsOf(move.sets), 1);
          const legal = (move.from as readonly string[]).includes(from);
          expect(await tryUpdate(table.gyre, key, spec)).toBe(legal);
          const after = await read(key);
          if (!legal) {
            expect(after).toEqual(before);
            continue;
          }
          expect((after.allocations as Record<string, { status: string }>)["0"]!.status).toBe(to);
          if (to !== from) expect(await tryUpdate(table.gyre, key, spec)).toBe(false); // a replay
        }
      });
    }
  }
});

describe("pipeline and node moves", () => {
  for (const move of PIPELINE_MOVES.filter((m) => m.from.length > 0)) {
    it(`pipeline ${move.event}: only from ${move.from.join(", ")}`, async () => {
      for (const from of ["pending", "created", "errored", "setup"]) {
        const key = Keys.pipeline(`p-${n++}`);
        await putItem(table.gyre, { ...key, state: from });
        const spec = pipelineMove("p", move.event as "compile", move.to[0]!, {}, "t");
        const legal = (move.from as readonly string[]).includes(from);
        expect(await tryUpdate(table.gyre, key, spec)).toBe(legal);
        expect((await read(key)).state).toBe(legal ? move.to[0] : from);
        if (legal) expect(await tryUpdate(table.gyre, key, spec)).toBe(false);
      }
    });
  }

  it("a node misses its deadline only while ready and only if it has not heartbeated since", async () => {
    const key = Keys.node(`n-${n++}`);
    await putItem(table.gyre, { ...key, status: "ready", heartbeatAt: 10 });
    expect(
      await tryUpdate(
        table.gyre,
        key,
        nodeMove("miss", { downAt: 20 }, 20, [{ path: "heartbeatAt", lt: 5 }]),
      ),
    ).toBe(false);
    expect(
      await tryUpdate(
        table.gyre,
        key,
        nodeMove("miss", { downAt: 20 }, 20, [{ path: "heartbeatAt", lt: 15 }]),
      ),
    ).toBe(true);
    expect(await tryUpdate(table.gyre, key, nodeMove("miss", { downAt: 21 }, 21))).toBe(false);
    expect(await tryUpdate(table.gyre, key, nodeMove("heartbeat", { heartbeatAt: 30 }, 30))).toBe(true);
    expect((await read(key)).status).toBe("ready");
    // A revoked node stays down: its heartbeat is refused by the caller's condition.
    expect(await tryUpdate(table.gyre, key, nodeMove("revoke", { revokedAt: 40, downAt: 40 }, 40))).toBe(
      true,
    );
    expect((await read(key)).status).toBe("down");
    expect(NODE_MOVES.map((m) => m.event)).toEqual([
      "register",
      "heartbeat",
      "miss",
      "revoke",
      "drain",
      "undrain",
      "eligibility",
      "leave",
    ]);
  });
});

describe("the state diagram", () => {
  it("in docs/architecture.md is the one the transition table draws", () => {
    const doc = readFileSync(new URL("../../../../docs/architecture.md", import.meta.url), "utf8");
    const begin = "<!-- transitions:begin (generated from packages/core/src/job/transitions.ts) -->";
    const end = "<!-- transitions:end -->";
    expect(doc).toContain(begin);
    const shown = doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf(end)).trim();
    expect(shown).toBe(renderStateDiagrams().trim());
  });
});
