/**
 * Builder nodes (Nomad's clients). A builder registers with the join token (a builder user's
 * token) and gets a node of its own: a server-chosen id and a credential (`gyre-node.<id>.<secret>`,
 * stored as a SHA-256 of the secret) that every later agent call presents, so one node cannot
 * speak for another. It stays `ready` while it heartbeats and goes `down` when it misses the
 * deadline (`heartbeatSeconds`), and then its running allocations are lost
 * (dispatch/reconcile.ts). Revoking a node refuses its credential (within AUTH_CACHE_MS) and
 * loses what it runs. One write per node per heartbeat, however many allocations it runs.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Gyre } from "../context.ts";
import { holds } from "../dispatch/allocation.ts";
import { executionName } from "../dispatch/execution.ts";
import { GyreError, notFound, unauthorized } from "../error.ts";
import { findJob } from "../job/index.ts";
import { nodeMove } from "../job/transitions.ts";
import type {
  AllocationRef,
  HeartbeatAnswer,
  HeartbeatRequest,
  LeaveRequest,
  NodeResources,
  RegisterAnswer,
  RegisterRequest,
} from "../protocol/agent.ts";
import { AllocationRefSchema } from "../protocol/agent.ts";
import { z } from "../protocol/schema.ts";
import { deleteItem, getItem, putNew, queryAll, tryUpdate, updateItem } from "../store/index.ts";
import { Index, Keys } from "../table.ts";
import type { IamIdentity } from "./iam.ts";

/** vCPUs and MiB of memory: a node's total, its reserve, a class's size, what is allocated. */
export const ResourcesSchema = z.object({ cpus: z.number(), memoryMb: z.number() });
export type Resources = z.infer<typeof ResourcesSchema>;
const fromWire = (r: NodeResources): Resources => ({ cpus: r.cpus, memoryMb: r.memory_mb });
export const toWire = (r: Resources): NodeResources => ({ cpus: r.cpus, memory_mb: r.memoryMb });

export const NodeSchema = z.object({
  id: z.string(),
  /** What the builder calls itself (its host name); ids are the server's. */
  name: z.string().optional(),
  /** The EC2 instance it runs on, proven by an IAM registration (node/iam.ts). */
  instanceId: z.string().optional(),
  /** The role session it registered as (IAM registrations only). */
  iamArn: z.string().optional(),
  /**
   * Its instance is to be terminated (an Auto Scaling lifecycle action, termination.ts): the
   * node drains and the action completes once it runs nothing.
   */
  termination: z
    .object({
      instanceId: z.string(),
      group: z.string(),
      hook: z.string(),
      token: z.string(),
      since: z.number(),
      heartbeatAt: z.number(),
    })
    .optional(),
  version: z.string().optional(),
  status: z.enum(["ready", "down"]),
  /** SHA-256 (hex) of the credential's secret. */
  credentialHash: z.string().optional(),
  /** Epoch ms; a revoked node's credential is refused. */
  revokedAt: z.number().optional(),
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: z.number(),
  downAt: z.number().optional(),
  /** Epoch ms; an operator drains the node (no new allocations) since then. */
  drainedAt: z.number().optional(),
  /**
   * Epoch ms; an operator marked the node ineligible (Nomad's `node eligibility -disable`): it
   * takes no new allocation, but it is not draining: what runs goes on, no deadline, it never
   * leaves. Independent of a drain (which makes a node ineligible too, while it lasts).
   */
  ineligibleAt: z.number().optional(),
  /**
   * Epoch ms by which a drain must be done: what still runs on the node then is stopped and
   * gets a new attempt elsewhere (the reconciler), at no cost to its retry budget.
   */
  drainDeadline: z.number().optional(),
  /** Epoch ms; the node drained and left (its agent got SIGTERM): nothing it ran was lost. */
  leftAt: z.number().optional(),
  /**
   * Failed queue receives and claims the node's agent reported since it registered (a running
   * total: a repeated heartbeat repeats it). The reference's `server_agent.poll_failure`.
   */
  pollFailures: z.number().optional(),
  /** Claims in flight at its last heartbeat (taken from the queue, not running yet). */
  claiming: z.number().optional(),
  /** Epoch ms of its last heartbeat that named an allocation (the scaler's idle clock). */
  busyAt: z.number().optional(),
  /** The allocations (execution names) the node said it runs at its last heartbeat. */
  allocations: z.array(z.string()).optional(),
  /** The same allocations as references (to read their jobs). */
  running: z.array(AllocationRefSchema).optional(),
  /** Epoch ms of the last change other than a heartbeat (registration, drain, down, ...). */
  changedAt: z.number().optional(),
  /** The host's resources and the part kept for the agent (absent for an older agent). */
  resources: ResourcesSchema.optional(),
  reserved: ResourcesSchema.optional(),
  /** What its allocations took at its last heartbeat. */
  allocated: ResourcesSchema.optional(),
  /** The resource classes it runs, with their sizes. */
  classes: z.record(z.string(), ResourcesSchema).optional(),
  createdAt: z.string(),
  updatedAt: z.number(),
});
export type Node = z.infer<typeof NodeSchema>;

/**
 * A node's heartbeat: it is (again) `ready`, and it learns which of the allocations it runs are
 * no longer its (ended, retried, lost): those it must stop at once.
 */
export async function heartbeatNode(gyre: Gyre, request: HeartbeatRequest): Promise<HeartbeatAnswer> {
  const now = gyre.now();
  const spec = nodeMove(
    "heartbeat",
    {
      heartbeatAt: now,
      allocations: request.allocations.map(executionName),
      running: request.allocations,
      ...(request.allocations.length > 0 ? { busyAt: now } : {}),
      ...(request.allocated ? { allocated: fromWire(request.allocated) } : {}),
      ...(request.poll_failures !== undefined ? { pollFailures: request.poll_failures } : {}),
      ...(request.claiming !== undefined ? { claiming: request.claiming } : {}),
    },
    now,
    [{ path: "revokedAt", exists: false }],
  );
  const node = await updateItem(gyre, Keys.node(request.node_id), spec, NodeSchema, "node");
  if (!node) throw unauthorized(`Node ${request.node_id} is not registered, or its credential was revoked.`);
  const stop = await allocationsToStop(gyre, request.node_id, request.allocations);
  // `drain` tells the agent to take nothing new: a drained node, or one marked ineligible.
  return { stop, heartbeat_seconds: gyre.resources.heartbeatSeconds, drain: !takesAllocations(node) };
}

/**
 * The allocations among `refs` that node `nodeId` must stop: canceled, ended, retried, or no
 * longer its. Read-only: a node polls it every second while it runs something (`/stops`), so a
 * canceled job stops within a second or two without a node write per poll.
 */
export async function allocationsToStop(
  gyre: Gyre,
  nodeId: string,
  refs: readonly AllocationRef[],
): Promise<AllocationRef[]> {
  const held = await Promise.all(
    refs.map(async (ref) => holds(await findJob(gyre, ref.workflowId, ref.jobName), ref, nodeId)),
  );
  return refs.filter((_, i) => !held[i]);
}

export const isDraining = (node: Node) => node.drainedAt !== undefined;

/** Whether the node may be given new allocations: neither draining nor marked ineligible. */
export const takesAllocations = (node: Node) => !isDraining(node) && node.ineligibleAt === undefined;

/** Nomad's scheduling eligibility: `eligible` for a ready node that takes new allocations. */
export const schedulingEligibility = (node: Node) =>
  takesAllocations(node) && node.status === "ready" ? "eligible" : "ineligible";

/**
 * An operator marks a node eligible or ineligible for new allocations (Nomad's `node
 * eligibility`), without draining it: what runs goes on. The agent learns it at its next
 * heartbeat; until then the server refuses its claims (423), within NODE_AUTH_CACHE_MS. Marking
 * it as it is changes nothing. 409 for a node that is down, and for making a draining node
 * eligible (end the drain instead, as Nomad requires).
 */
export async function setNodeEligibility(gyre: Gyre, id: string, eligible: boolean): Promise<Node> {
  const now = gyre.now();
  const found = await getItem(gyre, Keys.node(id), NodeSchema, "node", { consistent: true });
  if (!found) throw notFound(`Node not found: ${id}.`);
  if (found.status === "down" || found.revokedAt !== undefined)
    throw new GyreError("conflict", `Node ${id} is down: it takes no allocation anyway.`);
  if (eligible && isDraining(found))
    throw new GyreError("conflict", `Node ${id} is draining: end the drain to make it eligible again.`);
  if ((found.ineligibleAt === undefined) === eligible) return found;
  const changed = await tryUpdate(
    gyre,
    Keys.node(id),
    nodeMove("eligibility", { ineligibleAt: eligible ? undefined : now }, now, [
      { path: "revokedAt", exists: false },
      eligible ? { path: "ineligibleAt", exists: true } : { path: "ineligibleAt", exists: false },
    ]),
  );
  forgetCredential(id);
  const node = await getItem(gyre, Keys.node(id), NodeSchema, "node", { consistent: true });
  if (!node) throw notFound(`Node not found: ${id}.`);
  if (!changed && (node.ineligibleAt === undefined) !== eligible)
    throw new GyreError("conflict", `Node ${id} changed; try again.`);
  return node;
}

/** This process reads the node again at its next call (it was revoked or drained here). */
function forgetCredential(id: string): void {
  for (const [key, entry] of authCache) if (entry.node.id === id) authCache.delete(key);
}

/**
 * An operator drains a node (`enable`) or ends its drain. A draining node takes no new
 * allocation (its agent learns it at its next heartbeat, within a third of `heartbeatSeconds`,
 * and puts back a message it received meanwhile); what it runs finishes. Draining a node that
 * already drains, or ending a drain that is not there, changes nothing. With a deadline, what
 * still runs on the node when it passes is stopped and retried elsewhere, free (the reconciler,
 * dispatch/reconcile.ts). 409 for a node that is down (there is nothing to drain).
 */
export async function drainNode(
  gyre: Gyre,
  id: string,
  enable: boolean,
  /** Milliseconds the running allocations have to finish; none: as long as they take. */
  deadlineMs?: number,
): Promise<Node> {
  const now = gyre.now();
  const deadline = enable && deadlineMs !== undefined && deadlineMs > 0 ? now + deadlineMs : undefined;
  await tryUpdate(
    gyre,
    Keys.node(id),
    enable
      ? nodeMove("drain", { drainedAt: now, drainDeadline: deadline }, now, [
          { path: "revokedAt", exists: false },
          { path: "drainedAt", exists: false },
        ])
      : nodeMove("undrain", { drainedAt: undefined, drainDeadline: undefined }, now, [
          { path: "revokedAt", exists: false },
        ]),
  );
  forgetCredential(id);
  const node = await getItem(gyre, Keys.node(id), NodeSchema, "node", { consistent: true });
  if (!node) throw notFound(`Node not found: ${id}.`);
  if (node.status === "down" || node.revokedAt !== undefined)
    throw new GyreError("conflict", `Node ${id} is down: there is nothing to drain.`);
  if (isDraining(node) !== enable) throw new GyreError("conflict", `Node ${id} changed; try again.`);
  return node;
}

/**
 * A drained node leaves: `down` at once, with nothing running (its agent let its allocations
 * finish first), instead of being noticed a heartbeat deadline later. A repeated leave is a
 * no-op; a revoked node cannot leave (it was refused already).
 */
export async function leaveNode(gyre: Gyre, request: LeaveRequest): Promise<Node> {
  const now = gyre.now();
  await tryUpdate(
    gyre,
    Keys.node(request.node_id),
    nodeMove(
      "leave",
      { leftAt: now, downAt: now, allocations: [], running: [], allocated: { cpus: 0, memoryMb: 0 } },
      now,
      [{ path: "revokedAt", exists: false }],
    ),
  );
  const node = await getItem(gyre, Keys.node(request.node_id), NodeSchema, "node", { consistent: true });
  if (!node || node.revokedAt !== undefined)
    throw unauthorized(`Node ${request.node_id} is not registered, or its credential was revoked.`);
  if (node.leftAt === undefined)
    throw new GyreError("conflict", `Node ${request.node_id} is down and did not leave; register again.`);
  return node;
}

const CREDENTIAL =
  /^gyre-node\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;
const digest = (secret: string) => createHash("sha256").update(secret).digest("hex");

/**
 * A new node for a builder that presented the join token, or proved its instance role
 * (`identity`, node/iam.ts): its id and its own credential, shown once.
 */
export async function registerNode(
  gyre: Gyre,
  request: RegisterRequest,
  identity?: IamIdentity,
): Promise<RegisterAnswer> {
  const id = randomUUID();
  const secret = randomBytes(32).toString("base64url");
  const now = gyre.now();
  // An instance runs one agent: a new registration from it (the agent restarted, the host
  // rebooted) replaces its earlier nodes, whose credentials are revoked and whose allocations
  // are retried at once. A termination waiting on the instance carries over: the new node
  // starts drained, so the lifecycle action still waits for what it runs.
  let termination: Node["termination"];
  if (identity?.instanceId)
    for (const earlier of await listNodes(gyre)) {
      if (earlier.instanceId !== identity.instanceId || earlier.revokedAt !== undefined) continue;
      termination ??= earlier.termination;
      await revokeNode(gyre, earlier.id);
      // The action now waits on the new node (a gone node would let the instance go).
      if (earlier.termination)
        await tryUpdate(gyre, Keys.node(earlier.id), {
          remove: ["termination"],
          when: [{ path: "pk", exists: true }],
        });
    }
  await putNew(gyre, {
    ...Keys.node(id),
    gsi1pk: Index.nodes(),
    gsi1sk: id,
    id,
    name: request.name,
    ...(identity?.instanceId ? { instanceId: identity.instanceId } : {}),
    ...(identity ? { iamArn: identity.arn } : {}),
    ...(request.version ? { version: request.version } : {}),
    ...(request.resources ? { resources: fromWire(request.resources) } : {}),
    ...(request.reserved ? { reserved: fromWire(request.reserved) } : {}),
    ...(request.classes
      ? { classes: Object.fromEntries(Object.entries(request.classes).map(([k, v]) => [k, fromWire(v)])) }
      : {}),
    allocated: { cpus: 0, memoryMb: 0 },
    changedAt: now,
    // The move `register` (job/transitions.ts): the node is ready from its registration.
    status: "ready",
    heartbeatAt: now,
    allocations: [],
    credentialHash: digest(secret),
    ...(termination ? { termination: { ...termination, since: now }, drainedAt: now } : {}),
    createdAt: new Date(now).toISOString(),
    updatedAt: now,
  });
  return {
    node_id: id,
    credential: `gyre-node.${id}.${secret}`,
    heartbeat_seconds: gyre.resources.heartbeatSeconds,
  };
}

/**
 * How long a checked credential is trusted without reading its node again: a revocation takes
 * effect everywhere within this time.
 */
export const NODE_AUTH_CACHE_MS = 1000;
/**
 * Digest of a checked credential's secret → its node and whether it drains; dropped for a node
 * this process revokes or drains.
 */
const authCache = new Map<string, { node: AuthenticatedNode; expires: number }>();

/** Who a credential speaks for: the node, and whether an operator drains it (as of the read). */
export interface AuthenticatedNode {
  id: string;
  draining: boolean;
  /** False when an operator marked it ineligible (it takes no new allocation, see setNodeEligibility). */
  eligible: boolean;
  /** The resource classes it declared at registration (absent for an agent that declared none). */
  classes?: readonly string[];
}

/**
 * The node a credential belongs to: 401 when it is malformed, unknown or revoked. Read at most
 * NODE_AUTH_CACHE_MS ago, so a revocation or a drain holds everywhere within that time.
 */
export async function authenticateNode(
  gyre: Gyre,
  credential: string | undefined,
): Promise<AuthenticatedNode> {
  const match = CREDENTIAL.exec(credential ?? "");
  if (!match) throw unauthorized("Invalid node credential.");
  const [, id, secret] = match as unknown as [string, string, string];
  const cacheKey = digest(`${id}.${secret}`);
  const cached = authCache.get(cacheKey);
  if (cached && cached.expires > gyre.now()) return cached.node;
  const node = await getItem(gyre, Keys.node(id), NodeSchema, "node", { consistent: true });
  const expected = Buffer.from(node?.credentialHash ?? "", "hex");
  const given = Buffer.from(digest(secret), "hex");
  if (!node || expected.length !== given.length || !timingSafeEqual(expected, given))
    throw unauthorized("Invalid node credential.");
  if (node.revokedAt !== undefined) throw unauthorized(`The credential of node ${id} was revoked.`);
  if (authCache.size >= 10_000) authCache.clear();
  const authenticated = {
    id,
    draining: isDraining(node),
    eligible: node.ineligibleAt === undefined,
    ...(node.classes ? { classes: Object.keys(node.classes) } : {}),
  };
  authCache.set(cacheKey, { node: authenticated, expires: gyre.now() + NODE_AUTH_CACHE_MS });
  return authenticated;
}

/**
 * Revokes a node's credential: its calls are refused and it goes `down`, so the reconciler
 * loses what it runs (new attempts elsewhere). The builder may register again with the join token
 * as a new node; rotate the join token to keep a host out.
 */
export async function revokeNode(gyre: Gyre, id: string): Promise<Node> {
  const now = gyre.now();
  const revoked = await tryUpdate(
    gyre,
    Keys.node(id),
    nodeMove("revoke", { revokedAt: now, downAt: now }, now, [{ path: "revokedAt", exists: false }]),
  );
  forgetCredential(id);
  const node = await getItem(gyre, Keys.node(id), NodeSchema, "node", { consistent: true });
  if (!node) throw notFound(`Node not found: ${id}.`);
  if (!revoked && node.revokedAt === undefined)
    throw new GyreError("conflict", `Node ${id} changed; try again.`);
  return node;
}

/** The names of the nodes `ids` names, read one by one (a job ran on a few); a node forgotten since is left out. */
export async function nodeNames(gyre: Gyre, ids: Iterable<string>): Promise<Map<string, string | undefined>> {
  const unique = [...new Set(ids)];
  const found = await Promise.all(unique.map((id) => getItem(gyre, Keys.node(id), NodeSchema, "node")));
  return new Map(found.flatMap((node) => (node ? [[node.id, node.name] as const] : [])));
}

export async function listNodes(gyre: Gyre): Promise<Node[]> {
  const nodes: Node[] = [];
  for await (const node of queryAll(gyre, { index: "gsi1", partition: Index.nodes() }, NodeSchema, "node"))
    nodes.push(node);
  return nodes;
}

/** How long a `down` node (silent or revoked) is kept before the reconciler removes its item. */
export const DOWN_NODE_RETENTION_MS = 24 * 3600 * 1000;

/**
 * Removes a node that has been down for the retention period (its allocations were lost when it
 * went down), only if it is still down since then: a node that came back in between stays. Every
 * agent start registers a node, so without this the node list only grows. Its credential then
 * reads as unknown: still refused.
 */
export async function forgetNode(gyre: Gyre, node: Node): Promise<boolean> {
  const since = node.downAt ?? node.heartbeatAt;
  if (node.status !== "down" || since > gyre.now() - DOWN_NODE_RETENTION_MS) return false;
  return deleteItem(gyre, Keys.node(node.id), [
    { path: "status", eq: "down" },
    { path: "heartbeatAt", eq: node.heartbeatAt },
  ]);
}

/** Marks a node down, only if it has not heartbeated since `cutoff` (a heartbeat in between wins). */
export async function markNodeDown(gyre: Gyre, id: string, cutoff: number): Promise<boolean> {
  return tryUpdate(
    gyre,
    Keys.node(id),
    nodeMove("miss", { downAt: gyre.now() }, gyre.now(), [{ path: "heartbeatAt", lt: cutoff }]),
  );
}

/** What keeps a queued job of a class waiting, as waitingCause tells it. */
export type WaitingCause = "no_ready_node" | "class_not_offered" | "draining" | "full";

/**
 * Why a queued job of `resourceClass` is not running yet, in words for its `messages`, when the
 * fleet explains it: no node ready, none offering the class, every one that does draining or
 * full. Undefined when some node has room for it (it is on its way). Nodes of agents that did
 * not say what they offer are taken to offer every class.
 */
export function waitingReason(resourceClass: string, nodes: readonly Node[]): string | undefined {
  return waitingCause(resourceClass, nodes)?.message;
}

/** waitingReason with the kind of cause beside the words (`gyre doctor` grades it). */
export function waitingCause(
  resourceClass: string,
  nodes: readonly Node[],
): { cause: WaitingCause; message: string } | undefined {
  const ready = nodes.filter((n) => n.status === "ready" && n.revokedAt === undefined);
  if (ready.length === 0)
    return {
      cause: "no_ready_node",
      message: `No builder node is ready: this job (resource class ${resourceClass}) runs once one joins.`,
    };
  const offering = ready.filter((n) => !n.classes || Object.hasOwn(n.classes, resourceClass));
  if (offering.length === 0) {
    const offered = [...new Set(ready.flatMap((n) => Object.keys(n.classes ?? {})))].join(", ");
    return {
      cause: "class_not_offered",
      message: `No ready builder node offers resource class ${resourceClass} (they offer ${offered}): this job runs once one that does joins.`,
    };
  }
  const eligible = offering.filter(takesAllocations);
  const those = (k: number, verb: string) =>
    k === 1
      ? `The one builder node offering resource class ${resourceClass} is ${verb}`
      : `All ${k} builder nodes offering resource class ${resourceClass} are ${verb}`;
  // Marked ineligible (not draining) reads as such; the cause stays `draining` (no new work).
  const draining = offering.filter(isDraining).length;
  const verb =
    draining === offering.length ? "draining" : draining === 0 ? "ineligible" : "draining or ineligible";
  if (eligible.length === 0)
    return {
      cause: "draining",
      message: `${those(offering.length, verb)}: this job runs once ${draining === 0 ? "one is eligible again" : "a drain ends"} or another node joins.`,
    };
  const hasRoom = (n: Node) => {
    const size = n.classes?.[resourceClass];
    if (!size || !n.resources) return true;
    const reserved = n.reserved ?? { cpus: 0, memoryMb: 0 };
    const allocated = n.allocated ?? { cpus: 0, memoryMb: 0 };
    return (
      allocated.cpus + size.cpus <= n.resources.cpus - reserved.cpus + 1e-9 &&
      allocated.memoryMb + size.memoryMb <= n.resources.memoryMb - reserved.memoryMb
    );
  };
  if (!eligible.some(hasRoom))
    return { cause: "full", message: `${those(eligible.length, "full")}: this job runs when one has room.` };
  return undefined;
}
