/**
 * Nomad's HTTP API over Gyre's fleet (`/v1/...`), so the `nomad` CLI (NOMAD_ADDR at Gyre,
 * NOMAD_TOKEN an admin's API token, sent as X-Nomad-Token) and the reference's runbooks work:
 * nodes (list with `prefix`, read, their allocations, drain), the leader and the regions. Every
 * answer carries X-Nomad-Index, X-Nomad-KnownLeader and X-Nomad-LastContact; reads are blocking
 * queries (`index`, `wait`, the wait capped at 25 s, below API Gateway's 30 s). Writes take PUT
 * or POST, as the CLI sends PUT. Shapes: core/src/presentation/nomad.ts.
 */
import { queueClassFor } from "@gyre/core/dispatch/execution";
import { badRequest, notFound } from "@gyre/core/error";
import { findJob } from "@gyre/core/job/index";
import { drainNode, listNodes, type Node } from "@gyre/core/node/index";
import {
  allocationJson,
  nodeDetail,
  nodeIndex,
  nodeStub,
  parseDuration,
} from "@gyre/core/presentation/nomad";
import { Ids, parseInput, z } from "@gyre/core/protocol/schema";
import { type Context, Hono } from "hono";
import { type Env, parseBody, requireUser } from "./context.ts";

/** Longest blocking query: below API Gateway's 30 s integration timeout. */
export const MAX_WAIT_MS = 25_000;
const POLL_MS = 250;

/** Nomad's duration strings as `wait` takes them: `5s`, `1m`, `300ms`; a bare number is seconds. */
export function parseWait(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 5 * 60_000;
  const ms = parseDuration(raw);
  if (ms === undefined) throw badRequest(`Invalid wait "${raw}": a duration such as 5s, 1m or 300ms.`);
  return ms;
}

const IndexParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Answers `read()` as a blocking query: with `?index=N`, waits (up to `wait`, at most 25 s) until
 * the answer's index passes N, re-reading every 250 ms.
 */
async function blocking<T>(c: Context<Env>, read: () => Promise<{ index: number; body: T }>) {
  const rawIndex = c.req.query("index");
  const after = rawIndex === undefined ? undefined : parseInput(IndexParam, rawIndex, "index");
  const deadline = Date.now() + Math.min(parseWait(c.req.query("wait")), MAX_WAIT_MS);
  let answer = await read();
  while (after !== undefined && answer.index <= after && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    answer = await read();
  }
  c.header("X-Nomad-Index", String(Math.max(1, answer.index)));
  return c.json(answer.body as object);
}

const maxIndex = (nodes: Node[]) => nodes.reduce((m, n) => Math.max(m, nodeIndex(n)), 0);

/** `node drain`: a DrainSpec enables a drain (Deadline in ns; ≤ 0 means none), null ends it. */
const DrainRequest = z.object({
  DrainSpec: z
    .object({
      Deadline: z.number().int().optional(),
      IgnoreSystemJobs: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  MarkEligible: z.boolean().optional(),
  Meta: z.record(z.string(), z.string()).nullable().optional(),
});

export function nomadRoutes() {
  const app = new Hono<Env>();
  app.use(requireUser((u) => u.admin && !u.builder, "Only an admin (operator) token may use the Nomad API."));
  app.use(async (c, next) => {
    await next();
    c.header("X-Nomad-KnownLeader", "true");
    c.header("X-Nomad-LastContact", "0");
  });

  const region = (c: Context<Env>) => c.get("gyre").resources.region;
  const node = async (c: Context<Env>) => {
    const id = parseInput(Ids.node, c.req.param("id"), "node id");
    const found = (await listNodes(c.get("gyre"))).find((n) => n.id === id);
    if (!found) throw notFound(`node not found: ${id}`);
    return found;
  };

  app.get("/nodes", (c) =>
    blocking(c, async () => {
      const prefix = c.req.query("prefix") ?? "";
      const nodes = (await listNodes(c.get("gyre"))).filter((n) => n.id.startsWith(prefix));
      nodes.sort((a, b) => a.id.localeCompare(b.id));
      return { index: maxIndex(nodes), body: nodes.map((n) => nodeStub(n, region(c))) };
    }),
  );

  app.get("/node/:id", (c) =>
    blocking(c, async () => {
      const n = await node(c);
      return { index: nodeIndex(n), body: nodeDetail(n, region(c)) };
    }),
  );

  app.get("/node/:id/allocations", (c) =>
    blocking(c, async () => {
      const gyre = c.get("gyre");
      const n = await node(c);
      const allocations = [];
      let index = nodeIndex(n);
      for (const ref of n.running ?? []) {
        const job = await findJob(gyre, ref.workflowId, ref.jobName);
        if (!job || job.attempt !== ref.attempt || !job.allocations[String(ref.index)]) continue;
        const size = job.plan ? n.classes?.[queueClassFor(gyre, job.plan.resourceClass)] : undefined;
        allocations.push(allocationJson(job, ref, region(c), size));
        index = Math.max(index, job.updatedAt);
      }
      return { index, body: allocations };
    }),
  );

  const drain = async (c: Context<Env>) => {
    const n = await node(c);
    const body = await parseBody(c, DrainRequest);
    const spec = body.DrainSpec;
    const deadlineNs = spec?.Deadline ?? 0;
    const drained = await drainNode(
      c.get("gyre"),
      n.id,
      spec !== null && spec !== undefined,
      deadlineNs > 0 ? Math.ceil(deadlineNs / 1_000_000) : undefined,
    );
    const index = nodeIndex(drained);
    c.header("X-Nomad-Index", String(index));
    return c.json({ EvalCreateIndex: 0, EvalIDs: null, Index: index, NodeModifyIndex: index });
  };
  app.put("/node/:id/drain", drain);
  app.post("/node/:id/drain", drain);

  app.get("/status/leader", (c) => {
    c.header("X-Nomad-Index", "1");
    return c.json(new URL(c.req.url).host);
  });
  app.get("/regions", (c) => {
    c.header("X-Nomad-Index", "1");
    return c.json([region(c)]);
  });
  return app;
}
