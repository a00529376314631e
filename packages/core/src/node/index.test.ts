import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryTable, type TestTable } from "../store/test-table.ts";
import {
  authenticateNode,
  DOWN_NODE_RETENTION_MS,
  drainNode,
  forgetNode,
  heartbeatNode,
  leaveNode,
  listNodes,
  markNodeDown,
  NODE_AUTH_CACHE_MS,
  type Node,
  registerNode,
  revokeNode,
  waitingReason,
} from "./index.ts";

let table: TestTable;
beforeEach(async () => {
  table = await memoryTable();
});
afterEach(async () => {
  await table.close();
});

describe("node identity", () => {
  it("gives each registration a node id of the server's and a credential that authenticates as that node only", async () => {
    const a = await registerNode(table.gyre, { name: "builder-1" });
    const b = await registerNode(table.gyre, { name: "builder-1" });
    expect(a.node_id).not.toBe(b.node_id);
    expect(a.credential).toMatch(/^gyre-node\.[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);
    expect(await authenticateNode(table.gyre, a.credential)).toEqual({
      id: a.node_id,
      draining: false,
      eligible: true,
    });
    expect(await authenticateNode(table.gyre, b.credential)).toEqual({
      id: b.node_id,
      draining: false,
      eligible: true,
    });
    const nodes = await listNodes(table.gyre);
    expect(nodes.map((n) => [n.name, n.status]).sort()).toEqual([
      ["builder-1", "ready"],
      ["builder-1", "ready"],
    ]);
    // The table keeps a digest of the secret, never the credential.
    expect(JSON.stringify(nodes)).not.toContain(a.credential.split(".")[2]);
  });

  it("refuses a malformed credential, one whose secret is wrong and one naming an unknown node with 401", async () => {
    const a = await registerNode(table.gyre, { name: "builder-1" });
    const [, id, secret] = a.credential.split(".") as [string, string, string];
    const forged = `gyre-node.${id}.${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    for (const credential of [
      undefined,
      "",
      "gyre-node.x.y",
      forged,
      `gyre-node.${crypto.randomUUID()}.${secret}`,
    ]) {
      await expect(authenticateNode(table.gyre, credential)).rejects.toMatchObject({
        code: "unauthorized",
        message: "Invalid node credential.",
      });
    }
  });

  it("refuses a revoked node's credential and heartbeat, and marks it down", async () => {
    const a = await registerNode(table.gyre, { name: "builder-1" });
    await authenticateNode(table.gyre, a.credential);
    const revoked = await revokeNode(table.gyre, a.node_id);
    expect(revoked).toMatchObject({ status: "down", revokedAt: table.gyre.now() });
    // Within the cache window the old answer may stand; after it, never.
    table.setNow(table.gyre.now() + NODE_AUTH_CACHE_MS + 1);
    await expect(authenticateNode(table.gyre, a.credential)).rejects.toMatchObject({
      code: "unauthorized",
      message: `The credential of node ${a.node_id} was revoked.`,
    });
    await expect(heartbeatNode(table.gyre, { node_id: a.node_id, allocations: [] })).rejects.toMatchObject({
      code: "unauthorized",
    });
    expect((await listNodes(table.gyre))[0]).toMatchObject({ status: "down" });
    // Revoking again is a no-op; an unknown node is 404.
    await expect(revokeNode(table.gyre, a.node_id)).resolves.toMatchObject({ status: "down" });
    await expect(revokeNode(table.gyre, crypto.randomUUID())).rejects.toMatchObject({ code: "not_found" });
  });

  it("refuses the heartbeat of a node that never registered", async () => {
    await expect(heartbeatNode(table.gyre, { node_id: "made-up", allocations: [] })).rejects.toMatchObject({
      code: "unauthorized",
    });
    expect(await listNodes(table.gyre)).toEqual([]);
  });

  it("removes a node a day after it went down, and keeps one that came back", async () => {
    const gone = await registerNode(table.gyre, { name: "gone" });
    const back = await registerNode(table.gyre, { name: "back" });
    await revokeNode(table.gyre, gone.node_id);
    await markNodeDown(table.gyre, back.node_id, table.gyre.now() + 1);
    table.setNow(table.gyre.now() + DOWN_NODE_RETENTION_MS - 1000);
    await heartbeatNode(table.gyre, { node_id: back.node_id, allocations: [] });
    table.setNow(table.gyre.now() + 2000);
    const nodes = await listNodes(table.gyre);
    expect(await Promise.all(nodes.map((n) => forgetNode(table.gyre, n)))).toEqual(
      nodes.map((n) => n.id === gone.node_id),
    );
    expect((await listNodes(table.gyre)).map((n) => n.name)).toEqual(["back"]);
    await expect(authenticateNode(table.gyre, gone.credential)).rejects.toMatchObject({
      code: "unauthorized",
    });
  });
});

describe("capacity", () => {
  it("records what a node has, keeps and offers at registration, and what its allocations take at each heartbeat, until it leaves", async () => {
    const a = await registerNode(table.gyre, {
      name: "builder-1",
      resources: { cpus: 8, memory_mb: 16384 },
      reserved: { cpus: 2, memory_mb: 4096 },
      classes: { small: { cpus: 1, memory_mb: 2048 }, medium: { cpus: 2, memory_mb: 4096 } },
    });
    const read = async () => (await listNodes(table.gyre)).find((n) => n.id === a.node_id)!;
    expect(await read()).toMatchObject({
      resources: { cpus: 8, memoryMb: 16384 },
      reserved: { cpus: 2, memoryMb: 4096 },
      allocated: { cpus: 0, memoryMb: 0 },
      classes: { small: { cpus: 1, memoryMb: 2048 }, medium: { cpus: 2, memoryMb: 4096 } },
    });
    await heartbeatNode(table.gyre, {
      node_id: a.node_id,
      allocations: [],
      allocated: { cpus: 3, memory_mb: 6144 },
    });
    expect((await read()).allocated).toEqual({ cpus: 3, memoryMb: 6144 });
    await leaveNode(table.gyre, { node_id: a.node_id });
    expect((await read()).allocated).toEqual({ cpus: 0, memoryMb: 0 });
  });
});

describe("why a queued job waits", () => {
  const node = (over: Partial<Node>): Node => ({
    id: "n",
    status: "ready",
    heartbeatAt: 0,
    createdAt: "",
    updatedAt: 0,
    resources: { cpus: 4, memoryMb: 8192 },
    reserved: { cpus: 0, memoryMb: 0 },
    allocated: { cpus: 0, memoryMb: 0 },
    classes: { small: { cpus: 1, memoryMb: 2048 }, medium: { cpus: 2, memoryMb: 4096 } },
    ...over,
  });

  it("names the fleet's reason: none ready, none offering the class, all draining, all full", () => {
    expect(waitingReason("medium", [])).toBe(
      "No builder node is ready: this job (resource class medium) runs once one joins.",
    );
    expect(waitingReason("medium", [node({ status: "down" }), node({ revokedAt: 1 })])).toBe(
      "No builder node is ready: this job (resource class medium) runs once one joins.",
    );
    expect(waitingReason("large", [node({})])).toBe(
      "No ready builder node offers resource class large (they offer small, medium): this job runs once one that does joins.",
    );
    expect(waitingReason("medium", [node({ drainedAt: 1 })])).toBe(
      "The one builder node offering resource class medium is draining: this job runs once a drain ends or another node joins.",
    );
    const full = { allocated: { cpus: 3, memoryMb: 2048 } };
    expect(waitingReason("medium", [node(full), node(full)])).toBe(
      "All 2 builder nodes offering resource class medium are full: this job runs when one has room.",
    );
  });

  it("says nothing while a node has room for it, or when an older node did not say what it offers", () => {
    expect(waitingReason("small", [node({ allocated: { cpus: 3, memoryMb: 2048 } })])).toBeUndefined();
    expect(waitingReason("large", [node({ classes: undefined, resources: undefined })])).toBeUndefined();
  });
});

describe("drain", () => {
  it("tells a drained node so at each heartbeat until the drain ends, and a repeat of either changes nothing", async () => {
    const a = await registerNode(table.gyre, { name: "builder-1" });
    const beat = () => heartbeatNode(table.gyre, { node_id: a.node_id, allocations: [] });
    expect((await beat()).drain).toBe(false);
    const drained = await drainNode(table.gyre, a.node_id, true);
    expect(drained.drainedAt).toBe(table.gyre.now());
    expect((await drainNode(table.gyre, a.node_id, true)).drainedAt).toBe(drained.drainedAt);
    expect((await beat()).drain).toBe(true);
    expect((await drainNode(table.gyre, a.node_id, false)).drainedAt).toBeUndefined();
    expect((await drainNode(table.gyre, a.node_id, false)).drainedAt).toBeUndefined();
    expect((await beat()).drain).toBe(false);
  });

  it("marks the node's credential as draining at once in this process, cached read or not, and clears it with the drain", async () => {
    const a = await registerNode(table.gyre, { name: "builder-1" });
    expect(await authenticateNode(table.gyre, a.credential)).toEqual({
      id: a.node_id,
      draining: false,
      eligible: true,
    });
    await drainNode(table.gyre, a.node_id, true);
    expect(await authenticateNode(table.gyre, a.credential)).toEqual({
      id: a.node_id,
      draining: true,
      eligible: true,
    });
    await drainNode(table.gyre, a.node_id, false);
    expect(await authenticateNode(table.gyre, a.credential)).toEqual({
      id: a.node_id,
      draining: false,
      eligible: true,
    });
  });

  it("answers 409 for a node that is down or revoked and 404 for an unknown one, writing nothing", async () => {
    const left = await registerNode(table.gyre, { name: "left" });
    await leaveNode(table.gyre, { node_id: left.node_id });
    await expect(drainNode(table.gyre, left.node_id, true)).rejects.toMatchObject({ code: "conflict" });
    const revoked = await registerNode(table.gyre, { name: "revoked" });
    await revokeNode(table.gyre, revoked.node_id);
    await expect(drainNode(table.gyre, revoked.node_id, true)).rejects.toMatchObject({ code: "conflict" });
    await expect(drainNode(table.gyre, "00000000-0000-4000-8000-000000000000", true)).rejects.toMatchObject({
      code: "not_found",
    });
    const nodes = await listNodes(table.gyre);
    expect(nodes.every((n) => n.drainedAt === undefined)).toBe(true);
  });
});
