/**
 * Nomad's HTTP API over Gyre's fleet (`/v1/...`), so the `nomad` CLI (NOMAD_ADDR at Gyre,
 * NOMAD_TOKEN an admin's API token, sent as X-Nomad-Token) and the reference's runbooks work:
 * nodes (list with `prefix`, read, their allocations, drain, eligibility), jobs (each CI job
 * attempt submitted to the fleet: list, read, allocations, summary, evaluations, deployment),
 * allocations (list, read, logs), the agent, prefix search, the leader and the regions. Every
 * answer carries X-Nomad-KnownLeader and X-Nomad-LastContact, every JSON answer X-Nomad-Index;
 * reads are blocking queries (`index`, `wait`, the wait capped at 25 s, below API Gateway's 30 s);
 * lists take `prefix`, `per_page` and `next_token` (X-Nomad-NextToken). Writes take PUT or POST,
 * as the CLI sends PUT. Unknown ids answer 404 (`job not found: <id>`), bad query values 400.
 * Shapes: core/src/presentation/nomad.ts; logs: core/src/output/log.ts.
 */
import { type AllocationRef, queueClassFor, refsOf } from "@gyre/core/dispatch/execution";
import { badRequest, GyreError, notFound } from "@gyre/core/error";
import { findJob, getJobByNumber, type Job, TERMINAL_ALLOCATION } from "@gyre/core/job/index";
import { isSubmitted, listSubmittedJobs } from "@gyre/core/job/submitted";
import { drainNode, listNodes, type Node, setNodeEligibility } from "@gyre/core/node/index";
import { AllocationLog, LOG_TYPES, type LogType, stderrOf } from "@gyre/core/output/log";
import {
  agentSelf,
  allocationId,
  allocationJson,
  allocationStub,
  evaluationId,
  jobEvaluation,
  jobSummary,
  nodeDetail,
  nodeIndex,
  nodeStub,
  nomadJob,
  nomadJobId,
  nomadJobStub,
  nomadProjectPart,
  parseDuration,
  parseNomadJobId,
} from "@gyre/core/presentation/nomad";
import { listProjects } from "@gyre/core/project/index";
import { Ids, parseInput, z } from "@gyre/core/protocol/schema";
import { type Context, Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, jsonBody, parseBody } from "./context.ts";

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
async function blocking<T>(
  c: Context<Env>,
  read: () => Promise<{ index: number; body: T; nextToken?: string }>,
) {
  const rawIndex = c.req.query("index");
  const after = rawIndex === undefined ? undefined : parseInput(IndexParam, rawIndex, "index");
  const deadline = Date.now() + Math.min(parseWait(c.req.query("wait")), MAX_WAIT_MS);
  let answer = await read();
  while (after !== undefined && answer.index <= after && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    answer = await read();
  }
  c.header("X-Nomad-Index", String(Math.max(1, answer.index)));
  if (answer.nextToken !== undefined) c.header("X-Nomad-NextToken", answer.nextToken);
  return c.json(answer.body as object);
}

/** `per_page` (0 or absent: everything) and `next_token` (the first ID to list) of a list by ID. */
function paged<T extends { ID: string }>(c: Context<Env>, items: T[]): { items: T[]; nextToken?: string } {
  if (c.req.query("filter") !== undefined)
    throw badRequest('Filter expressions are not supported: list without "filter" (narrow with "prefix").');
  const raw = c.req.query("per_page");
  if (raw !== undefined && !/^\d{1,9}$/.test(raw))
    throw badRequest(`Invalid per_page "${raw}": a whole number of items, 0 or more.`);
  const perPage = Number(raw ?? 0);
  const token = c.req.query("next_token");
  const from = token ? items.filter((i) => i.ID >= token) : items;
  if (perPage === 0 || from.length <= perPage) return { items: from };
  return { items: from.slice(0, perPage), nextToken: from[perPage]!.ID };
}

const byId = (a: { ID: string }, b: { ID: string }) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0);
const latest = (jobs: Job[]) => jobs.reduce((m, j) => Math.max(m, j.updatedAt), 0);

/** A boolean query value as Go's strconv.ParseBool reads it (the CLI sends `true`/`false`). */
function boolParam(c: Context<Env>, name: string): boolean {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return false;
  if (["1", "t", "T", "true", "TRUE", "True"].includes(raw)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(raw)) return false;
  throw badRequest(`Invalid ${name} "${raw}": true or false.`);
}

/** The job attempt a Nomad job id names: 404 `job not found: <id>` unless it is one the fleet was given. */
async function findNomadJob(c: Context<Env>): Promise<Job> {
  const gyre = c.get("gyre");
  const id = parseInput(z.string().min(1).max(400, "at most 400 characters"), c.req.param("id"), "job id");
  const parts = parseNomadJobId(id);
  if (parts) {
    const projects = (await listProjects(gyre)).filter((p) => nomadProjectPart(p.slug) === parts.project);
    for (const project of projects) {
      const job = await getJobByNumber(gyre, project.slug, parts.number).catch((error: unknown) => {
        if (error instanceof GyreError && error.code === "not_found") return undefined;
        throw error;
      });
      if (job && job.id === parts.jobId && job.attempt === parts.attempt && isSubmitted(job)) return job;
    }
  }
  throw notFound(`job not found: ${id}`);
}

/** The allocation an id names, with its job read afresh: 404 `alloc not found: <id>` otherwise. */
async function findAllocation(
  c: Context<Env>,
  raw: string | undefined,
): Promise<{ job: Job; ref: AllocationRef }> {
  const gyre = c.get("gyre");
  const id = parseInput(Ids.uuid, raw, "allocation id").toLowerCase();
  for (const listed of await listSubmittedJobs(gyre)) {
    const ref = refsOf(listed).find((r) => allocationId(r) === id);
    if (!ref) continue;
    // The index may lag a write: the job item itself has the allocation's current state.
    const job = await findJob(gyre, listed.workflowId, listed.name);
    if (job && job.attempt === ref.attempt) return { job, ref };
  }
  throw notFound(`alloc not found: ${id}`);
}

/** The node an allocation runs on (its name), and its class's size there. */
function placement(c: Context<Env>, job: Job, ref: AllocationRef, nodes: Node[]) {
  const nodeId = job.allocations[String(ref.index)]?.nodeId;
  const node = nodeId ? nodes.find((n) => n.id === nodeId) : undefined;
  const size =
    node && job.plan ? node.classes?.[queueClassFor(c.get("gyre"), job.plan.resourceClass)] : undefined;
  return { size, name: node?.name ?? "" };
}

const allocationsOf = (c: Context<Env>, job: Job, nodes: Node[]) =>
  refsOf(job).map((ref) => {
    const { size, name } = placement(c, job, ref, nodes);
    return allocationStub(job, ref, c.get("gyre").resources.region, size, name);
  });

/** How often a followed log is read again, and how long it may be silent before a heartbeat frame. */
const FOLLOW_POLL_MS = 500;
const HEARTBEAT_MS = 10_000;
/** Nomad's largest frame of log data. */
const FRAME_BYTES = 64 * 1024;

/** The contexts `/v1/search` answers (Nomad's `all`); Gyre has no deployments, plugins, volumes. */
const SEARCH_CONTEXTS = ["allocs", "deployment", "evals", "jobs", "nodes", "plugins", "volumes"] as const;
/** Nomad's cap on the matches per context. */
const SEARCH_LIMIT = 20;
/** The search body; the Go client also sends its QueryOptions, which are ignored. */
const SearchRequest = z.object({
  Prefix: z.string().max(400, "at most 400 characters").optional(),
  Context: z.string().max(100, "at most 100 characters").optional(),
});

const EligibilityRequest = z.object({
  Eligibility: z.enum(["eligible", "ineligible"]),
  NodeID: z.string().optional(),
});

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
  app.use(allow.operator());
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
    const enable = spec !== null && spec !== undefined;
    let drained = await drainNode(
      c.get("gyre"),
      n.id,
      enable,
      deadlineNs > 0 ? Math.ceil(deadlineNs / 1_000_000) : undefined,
    );
    // Ending a drain: `MarkEligible` (the CLI sends it, false with -keep-ineligible) says whether
    // the node takes allocations again or stays ineligible; absent, it does.
    if (!enable && body.MarkEligible !== undefined)
      drained = await setNodeEligibility(c.get("gyre"), n.id, body.MarkEligible);
    const index = nodeIndex(drained);
    c.header("X-Nomad-Index", String(index));
    return c.json({ EvalCreateIndex: 0, EvalIDs: null, Index: index, NodeModifyIndex: index });
  };
  app.put("/node/:id/drain", drain);
  app.post("/node/:id/drain", drain);

  const eligibility = async (c: Context<Env>) => {
    const n = await node(c);
    const body = await parseBody(c, EligibilityRequest);
    if (body.NodeID && body.NodeID !== n.id)
      throw badRequest(`NodeID "${body.NodeID}" in the body is not the node of the path, ${n.id}.`);
    const changed = await setNodeEligibility(c.get("gyre"), n.id, body.Eligibility === "eligible");
    const index = nodeIndex(changed);
    c.header("X-Nomad-Index", String(index));
    return c.json({ EvalCreateIndex: 0, EvalIDs: null, Index: index, NodeModifyIndex: index });
  };
  app.put("/node/:id/eligibility", eligibility);
  app.post("/node/:id/eligibility", eligibility);

  app.get("/jobs", (c) =>
    blocking(c, async () => {
      const prefix = c.req.query("prefix") ?? "";
      const jobs = (await listSubmittedJobs(c.get("gyre"))).filter((j) => nomadJobId(j).startsWith(prefix));
      const { items, nextToken } = paged(c, jobs.map((j) => nomadJobStub(j, region(c))).sort(byId));
      return { index: latest(jobs), body: items, nextToken };
    }),
  );

  app.get("/job/:id", (c) =>
    blocking(c, async () => {
      const job = await findNomadJob(c);
      return { index: job.updatedAt, body: nomadJob(job, region(c)) };
    }),
  );

  app.get("/job/:id/allocations", (c) =>
    blocking(c, async () => {
      const job = await findNomadJob(c);
      return { index: job.updatedAt, body: allocationsOf(c, job, await listNodes(c.get("gyre"))) };
    }),
  );

  app.get("/job/:id/summary", (c) =>
    blocking(c, async () => {
      const job = await findNomadJob(c);
      return { index: job.updatedAt, body: jobSummary(job) };
    }),
  );

  app.get("/job/:id/evaluations", (c) =>
    blocking(c, async () => {
      const job = await findNomadJob(c);
      return { index: job.updatedAt, body: [jobEvaluation(job)] };
    }),
  );

  // A batch job has no deployment: Nomad answers null.
  app.get("/job/:id/deployment", (c) =>
    blocking(c, async () => {
      const job = await findNomadJob(c);
      return { index: job.updatedAt, body: null };
    }),
  );

  app.get("/allocations", (c) =>
    blocking(c, async () => {
      const gyre = c.get("gyre");
      const prefix = (c.req.query("prefix") ?? "").toLowerCase();
      const [jobs, nodes] = await Promise.all([listSubmittedJobs(gyre), listNodes(gyre)]);
      const all = jobs.flatMap((j) => allocationsOf(c, j, nodes)).filter((a) => a.ID.startsWith(prefix));
      const { items, nextToken } = paged(c, all.sort(byId));
      return { index: latest(jobs), body: items, nextToken };
    }),
  );

  app.get("/allocation/:id", (c) =>
    blocking(c, async () => {
      const { job, ref } = await findAllocation(c, c.req.param("id"));
      const { size, name } = placement(c, job, ref, await listNodes(c.get("gyre")));
      return { index: job.updatedAt, body: allocationJson(job, ref, region(c), size, name) };
    }),
  );

  /**
   * `nomad alloc logs`: the allocation's task log (`task` must be `build`) as Nomad streams it,
   * JSON frames `{"File","Offset","Data"}` (Data in base64, Offset where it ends; `{}` is a
   * heartbeat), or the bytes alone with `plain=true`. `origin=end` counts `offset` back from the
   * end. `follow=true` goes on until the allocation has ended and everything is sent; on AWS,
   * where API Gateway hands over an answer only once it is complete, at most 25 s.
   */
  app.get("/client/fs/logs/:alloc", async (c) => {
    const gyre = c.get("gyre");
    const task = c.req.query("task");
    if (!task) throw badRequest("must provide task name");
    const type = c.req.query("type");
    if (!LOG_TYPES.includes(type as LogType)) throw badRequest("must provide log type (stdout/stderr)");
    const origin = c.req.query("origin") || "start";
    if (origin !== "start" && origin !== "end") throw badRequest(`Invalid origin "${origin}": start or end.`);
    const rawOffset = c.req.query("offset") || "0";
    if (!/^\d{1,15}$/.test(rawOffset))
      throw badRequest(`Invalid offset "${rawOffset}": a number of bytes, 0 or more.`);
    const follow = boolParam(c, "follow");
    const plain = boolParam(c, "plain");
    const { job, ref } = await findAllocation(c, c.req.param("alloc"));
    if (task !== "build")
      throw badRequest(
        `unknown task name "${task}": allocation ${allocationId(ref)} runs one task, "build".`,
      );

    const log = new AllocationLog(gyre, { jobId: ref.jobId, attempt: ref.attempt, index: ref.index });
    const read = async () => {
      const current = (await findJob(gyre, ref.workflowId, ref.jobName)) ?? job;
      const alloc = current.attempt === ref.attempt ? current.allocations[String(ref.index)] : undefined;
      const ended = !alloc || TERMINAL_ALLOCATION.has(alloc.status);
      return { ended, bytes: type === "stdout" ? await log.stdout(ended) : stderrOf(current) };
    };
    let state = await read(); // before the answer starts: an error here is still an HTTP error
    const offset = Number(rawOffset);
    let sent = origin === "end" ? Math.max(0, state.bytes.length - offset) : offset;
    const file = `alloc/logs/build.${type}.0`;
    const onLambda = typeof (c.env as { lambdaContext?: unknown } | undefined)?.lambdaContext === "object";
    const until = onLambda ? Date.now() + MAX_WAIT_MS : Number.POSITIVE_INFINITY;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const frame = (data: Buffer, end: number) =>
          plain
            ? data
            : Buffer.from(`${JSON.stringify({ File: file, Offset: end, Data: data.toString("base64") })}\n`);
        const pump = async () => {
          let quiet = Date.now();
          for (;;) {
            while (state.bytes.length > sent && !cancelled) {
              const end = Math.min(state.bytes.length, sent + FRAME_BYTES);
              controller.enqueue(frame(state.bytes.subarray(sent, end), end));
              sent = end;
              quiet = Date.now();
            }
            if (!follow || state.ended || cancelled || Date.now() >= until) break;
            if (!plain && Date.now() - quiet >= HEARTBEAT_MS) {
              controller.enqueue(Buffer.from("{}\n"));
              quiet = Date.now();
            }
            await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
            if (cancelled) break;
            state = await read();
          }
          if (!cancelled) controller.close();
        };
        pump().catch((error: unknown) => {
          console.error("gyre: log stream failed", error);
          if (!cancelled) controller.error(error);
        });
      },
      cancel() {
        cancelled = true;
      },
    });
    c.req.raw.signal?.addEventListener("abort", () => {
      cancelled = true;
    });
    return c.body(body, 200, {
      "Content-Type": plain ? "text/plain; charset=utf-8" : "application/json",
    });
  });

  app.get("/agent/self", async (c) => {
    c.header("X-Nomad-Index", "1");
    const nodes = await listNodes(c.get("gyre"));
    return c.json(agentSelf({ url: c.req.url, region: region(c), nodes: nodes.length }));
  });

  /** Prefix search (`nomad status <id>` finds what an id names this way). */
  const search = async (c: Context<Env>) => {
    const gyre = c.get("gyre");
    const request =
      c.req.method === "GET"
        ? parseInput(
            SearchRequest,
            { Prefix: c.req.query("prefix"), Context: c.req.query("context") },
            "search",
          )
        : parseInput(SearchRequest, await jsonBody(c), "body");
    const prefix = request.Prefix ?? "";
    const context = request.Context || "all";
    if (context !== "all" && !SEARCH_CONTEXTS.includes(context as (typeof SEARCH_CONTEXTS)[number]))
      throw badRequest(`Invalid Context "${context}": one of all, ${SEARCH_CONTEXTS.join(", ")}.`);
    const contexts = context === "all" ? SEARCH_CONTEXTS : [context as (typeof SEARCH_CONTEXTS)[number]];
    const wantsJobs = contexts.some((k) => k === "jobs" || k === "allocs" || k === "evals");
    const [jobs, nodes] = await Promise.all([
      wantsJobs ? listSubmittedJobs(gyre) : Promise.resolve([]),
      contexts.includes("nodes") ? listNodes(gyre) : Promise.resolve([]),
    ]);
    const ids: Record<(typeof SEARCH_CONTEXTS)[number], string[]> = {
      allocs: jobs.flatMap((j) => refsOf(j).map(allocationId)),
      deployment: [],
      evals: jobs.map(evaluationId),
      jobs: jobs.map(nomadJobId),
      nodes: nodes.map((n) => n.id),
      plugins: [],
      volumes: [],
    };
    const Matches: Record<string, string[]> = {};
    const Truncations: Record<string, boolean> = {};
    for (const k of contexts) {
      const found = ids[k].filter((id) => id.startsWith(prefix)).sort();
      Matches[k] = found.slice(0, SEARCH_LIMIT);
      Truncations[k] = found.length > SEARCH_LIMIT;
    }
    const index = Math.max(latest(jobs), ...nodes.map(nodeIndex), 1);
    c.header("X-Nomad-Index", String(index));
    return c.json({ Matches, Truncations });
  };
  app.put("/search", search);
  app.post("/search", search);
  app.get("/search", search);

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
