/**
 * `gyre nomad ...`: the reference's Nomad operator commands, answered by Gyre's Nomad API
 * (`/v1`), for hosts without the `nomad` binary. Columns and wording follow the `nomad` CLI.
 *
 *   gyre nomad node status [-json] [<id or prefix>]
 *   gyre nomad node drain -enable|-disable [-deadline 1h | -no-deadline] [-detach] [-json] <id or prefix>
 */
import { parseDuration } from "@gyre/core/presentation/nomad";
import { ApiError, type Client } from "./client.ts";

type Print = (line: string) => void;

interface NodeStub {
  ID: string;
  NodePool: string;
  Datacenter: string;
  Name: string;
  NodeClass: string;
  Drain: boolean;
  SchedulingEligibility: string;
  Status: string;
}

interface NodeDetail extends NodeStub {
  DrainStrategy: { Deadline: number; ForceDeadline: string } | null;
  Drivers: Record<string, { Detected: boolean; Healthy: boolean }>;
  Attributes: Record<string, string>;
  NodeResources: { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } };
  ReservedResources: { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } };
}

interface Allocation {
  ID: string;
  NodeID: string;
  TaskGroup: string;
  JobID: string;
  DesiredStatus: string;
  ClientStatus: string;
  CreateTime: number;
  Resources: { CPU: number; MemoryMB: number };
}

/** Rows as the nomad CLI prints them: columns padded to the widest cell, two spaces apart. */
export function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "),
  );
}

const keyValues = (pairs: [string, string][]) => {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)} = ${v}`);
};

/** The one node an id or prefix names; the nomad CLI's messages when none or several match. */
async function resolveNode(client: Client, prefix: string): Promise<NodeStub> {
  if (prefix.length < 2) throw new ApiError(400, "Identifier must contain at least two characters.");
  const nodes = await client.get<NodeStub[]>(`/v1/nodes?prefix=${encodeURIComponent(prefix)}`);
  if (nodes.length === 0) throw new ApiError(404, `No node(s) with prefix "${prefix}" found`);
  if (nodes.length > 1)
    throw new ApiError(409, `Prefix matched multiple nodes\n\n${nodeTable(nodes).join("\n")}`);
  return nodes[0]!;
}

function nodeTable(nodes: NodeStub[]): string[] {
  return columns([
    ["ID", "Node Pool", "DC", "Name", "Class", "Drain", "Eligibility", "Status"],
    ...nodes.map((n) => [
      n.ID.slice(0, 8),
      n.NodePool,
      n.Datacenter,
      n.Name,
      n.NodeClass || "<none>",
      String(n.Drain),
      n.SchedulingEligibility,
      n.Status,
    ]),
  ]);
}

function formatDrain(n: NodeDetail): string {
  if (!n.DrainStrategy) return String(n.Drain);
  if (n.DrainStrategy.Deadline < 0) return "true; force drain";
  if (n.DrainStrategy.ForceDeadline.startsWith("0001-")) return "true; no deadline";
  return `true; ${n.DrainStrategy.ForceDeadline} deadline`;
}

const running = (allocs: Allocation[]) =>
  allocs.filter((a) => ["pending", "running"].includes(a.ClientStatus));

export async function nodeStatus(
  client: Client,
  prefix: string | undefined,
  options: { json?: boolean },
  print: Print,
): Promise<void> {
  if (!prefix) {
    const nodes = await client.get<NodeStub[]>("/v1/nodes");
    if (options.json) return print(JSON.stringify(nodes, null, 2));
    if (nodes.length === 0) return print("No nodes registered");
    for (const line of nodeTable(nodes)) print(line);
    return;
  }
  const stub = await resolveNode(client, prefix);
  const node = await client.get<NodeDetail>(`/v1/node/${stub.ID}`);
  const allocs = await client.get<Allocation[]>(`/v1/node/${stub.ID}/allocations`);
  if (options.json) return print(JSON.stringify({ ...node, Allocations: allocs }, null, 2));
  const drivers = Object.entries(node.Drivers)
    .filter(([, d]) => d.Detected)
    .map(([name, d]) => (d.Healthy ? name : `${name} (unhealthy)`));
  for (const line of keyValues([
    ["ID", node.ID],
    ["Name", node.Name],
    ["Node Pool", node.NodePool],
    ["Class", node.NodeClass || "<none>"],
    ["DC", node.Datacenter],
    ["Drain", formatDrain(node)],
    ["Eligibility", node.SchedulingEligibility],
    ["Status", node.Status],
    ["Resource Classes", node.Attributes["gyre.resource_classes"] ?? ""],
    ["Driver Status", drivers.sort().join(",")],
  ]))
    print(line);
  const live = allocs.filter((a) => a.ClientStatus === "running");
  const cpu = live.reduce((s, a) => s + a.Resources.CPU, 0);
  const memory = live.reduce((s, a) => s + a.Resources.MemoryMB, 0);
  const totalCpu = node.NodeResources.Cpu.CpuShares - node.ReservedResources.Cpu.CpuShares;
  const totalMemory = node.NodeResources.Memory.MemoryMB - node.ReservedResources.Memory.MemoryMB;
  print("");
  print("Allocated Resources");
  for (const line of columns([
    ["CPU", "Memory"],
    [`${cpu}/${totalCpu} MHz`, `${memory} MiB/${totalMemory} MiB`],
  ]))
    print(line);
  print("");
  print("Allocations");
  if (allocs.length === 0) return print("No allocations placed");
  for (const line of columns([
    ["ID", "Node ID", "Task Group", "Job ID", "Desired", "Status", "Created"],
    ...allocs.map((a) => [
      a.ID.slice(0, 8),
      a.NodeID.slice(0, 8),
      a.TaskGroup,
      a.JobID,
      a.DesiredStatus,
      a.ClientStatus,
      new Date(a.CreateTime / 1e6).toISOString(),
    ]),
  ]))
    print(line);
}

export interface DrainOptions {
  enable?: boolean;
  disable?: boolean;
  deadline?: string;
  "no-deadline"?: boolean;
  detach?: boolean;
  json?: boolean;
  /** How often the progress is read (tests shorten it). */
  pollMs?: number;
}

/**
 * Drains a node (or ends its drain), then, unless `-detach`, shows its allocations going down
 * until none runs, as `nomad node drain` does.
 */
export async function nodeDrain(
  client: Client,
  prefix: string,
  options: DrainOptions,
  print: Print,
): Promise<void> {
  if (options.enable === options.disable)
    throw new ApiError(400, "Exactly one of -enable or -disable must be given.");
  let deadlineNs = 0;
  if (options.deadline !== undefined && !options["no-deadline"]) {
    const ms = parseDuration(options.deadline);
    if (ms === undefined || ms <= 0)
      throw new ApiError(400, `Invalid -deadline "${options.deadline}": a duration such as 1h or 30m.`);
    deadlineNs = ms * 1e6;
  } else if (options.enable && !options["no-deadline"]) {
    deadlineNs = 3600 * 1e9; // nomad's default deadline: one hour
  }
  const node = await resolveNode(client, prefix);
  const answer = await client.request<{ NodeModifyIndex: number }>("PUT", `/v1/node/${node.ID}/drain`, {
    DrainSpec: options.enable ? { Deadline: deadlineNs, IgnoreSystemJobs: false } : null,
    Meta: null,
  });
  if (options.json) print(JSON.stringify(answer));
  const time = () => new Date().toISOString();
  if (options.disable) return print(`Node ${JSON.stringify(node.ID)} drain strategy unset`);
  print(`${time()}: Ctrl-C to stop monitoring: will not cancel the node drain`);
  print(`${time()}: Node ${JSON.stringify(node.ID)} drain strategy set`);
  if (options.detach) return;
  let last = -1;
  for (;;) {
    const left = running(await client.get<Allocation[]>(`/v1/node/${node.ID}/allocations`));
    if (left.length === 0) break;
    if (left.length !== last)
      print(`${time()}: Node ${JSON.stringify(node.ID)} has ${left.length} allocation(s) running`);
    last = left.length;
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
  print(`${time()}: All allocations on node ${JSON.stringify(node.ID)} have stopped`);
}

/** The nomad CLI writes `-enable`; node's parseArgs wants `--enable`. */
export const nomadFlags = (args: string[]) => args.map((a) => (/^-[a-z][a-z-]+$/.test(a) ? `-${a}` : a));
