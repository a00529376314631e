/**
 * `gyre nomad ...`: the reference's Nomad operator commands, answered by Gyre's Nomad API
 * (`/v1`), for hosts without the `nomad` binary. Columns and wording follow the `nomad` CLI.
 *
 *   gyre nomad node status [-json] [<id or prefix>]
 *   gyre nomad node drain -enable|-disable [-deadline 1h | -no-deadline] [-detach] [-json] <id or prefix>
 *   gyre nomad status [-json] [<job id or prefix>]          (nomad status: the jobs, or one job)
 *   gyre nomad job status [-json] [<job id or prefix>]
 *   gyre nomad alloc status [-json] <alloc id or prefix>
 *   gyre nomad alloc logs [-stderr] [-f] [-tail [-n lines | -c bytes]] <alloc id or prefix>
 *   gyre nomad logs [-job] [-stderr] [-f] [-tail ...] <alloc id or prefix, or with -job a job id>
 *
 * Times print as nomad prints them (ISO 8601 to the second), in UTC.
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
  Drivers: Record<string, { Detected: boolean; Healthy: boolean; UpdateTime?: string }>;
  LastDrain: { StartedAt: string } | null;
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
  /** With -disable: the node stays ineligible (nomad's -keep-ineligible). */
  "keep-ineligible"?: boolean;
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
    // As nomad: ending a drain makes the node eligible again unless -keep-ineligible.
    ...(options.disable ? { MarkEligible: !options["keep-ineligible"] } : {}),
    Meta: null,
  });
  if (options.json) print(JSON.stringify(answer));
  const time = () => new Date().toISOString();
  if (options.disable) return print(`Node ${JSON.stringify(node.ID)} drain strategy unset`);
  print(`${time()}: Ctrl-C to stop monitoring: will not cancel the node drain`);
  print(`${time()}: Node ${JSON.stringify(node.ID)} drain strategy set`);
  if (options.detach) return;
  // A node's allocations are as of its last heartbeat, and a job it claimed just before the
  // drain may not be in it yet: zero counts only from the second heartbeat after the drain
  // began (built after the first was answered, so after every claim the server accepted).
  const started = Date.parse(
    (await client.get<NodeDetail>(`/v1/node/${node.ID}`)).LastDrain?.StartedAt ?? "",
  );
  const beats = new Set<string>();
  let last = -1;
  for (;;) {
    const detail = await client.get<NodeDetail>(`/v1/node/${node.ID}`);
    const beat = detail.Drivers.exec?.UpdateTime;
    if (beat && !(Date.parse(beat) <= started)) beats.add(beat);
    const left = running(await client.get<Allocation[]>(`/v1/node/${node.ID}/allocations`));
    if (left.length === 0 && (beats.size >= 2 || detail.Status !== "ready")) break;
    if (left.length !== last)
      print(`${time()}: Node ${JSON.stringify(node.ID)} has ${left.length} allocation(s) running`);
    last = left.length;
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
  print(`${time()}: All allocations on node ${JSON.stringify(node.ID)} have stopped`);
}

/** `nomad node eligibility -enable|-disable <node>`: new allocations or none, without a drain. */
export async function nodeEligibility(
  client: Client,
  prefix: string,
  options: { enable?: boolean; disable?: boolean; json?: boolean },
  print: Print,
): Promise<void> {
  if (options.enable === options.disable)
    throw new ApiError(400, "Exactly one of -enable or -disable must be given.");
  const node = await resolveNode(client, prefix);
  const answer = await client.request<{ NodeModifyIndex: number }>("PUT", `/v1/node/${node.ID}/eligibility`, {
    NodeID: node.ID,
    Eligibility: options.enable ? "eligible" : "ineligible",
  });
  if (options.json) return print(JSON.stringify(answer));
  print(
    `Node ${JSON.stringify(node.ID)} scheduling eligibility set: ${options.enable ? "eligible" : "ineligible"} for scheduling`,
  );
}

/** The nomad CLI writes `-enable`; node's parseArgs wants `--enable`. */
export const nomadFlags = (args: string[]) => args.map((a) => (/^-[a-z][a-z-]+$/.test(a) ? `-${a}` : a));

/** Empty cells as nomad's formatList writes them. */
const cells = (row: string[]) => row.map((cell) => (cell === "" ? "<none>" : cell));
const table = (rows: string[][]) => columns(rows.map(cells));

/** nomad's formatTime: ISO 8601 to the second; nothing for a zero time. */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || ms < 1000) return "";
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
const formatNanos = (ns: number) => formatTime(Math.floor(ns / 1e6));

/** nomad's prettyTimeDiff: the two largest units of the difference, `1m5s ago`, `0s ago`. */
export function timeAgo(ms: number, now = Date.now()): string {
  if (!ms) return "";
  const from = Math.round(ms / 1000);
  const to = Math.round(now / 1000);
  const suffix = to >= from ? "ago" : "from now";
  let left = Math.abs(to - from);
  const units: [string, number][] = [
    ["s", 60],
    ["m", 60],
    ["h", 24],
    ["d", 30],
    ["mo", 12],
    ["y", Number.POSITIVE_INFINITY],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    const value = left % size;
    if (value > 0) parts.unshift(`${value}${unit}`);
    left = Math.floor(left / size);
    if (left === 0) break;
  }
  return parts.length === 0 ? `0s ${suffix}` : `${parts.slice(0, 2).join("")} ${suffix}`;
}

/** humanize.IBytes, as nomad prints memory and disk. */
export function ibytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = "B";
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${unit}`;
}

interface JobStub {
  ID: string;
  Type: string;
  Priority: number;
  Status: string;
  Stop: boolean;
  Periodic: boolean;
  ParameterizedJob: boolean;
  SubmitTime: number;
}

interface Job {
  ID: string;
  Name: string;
  SubmitTime: number;
  Type: string;
  Priority: number;
  Datacenters: string[];
  Namespace: string;
  NodePool: string;
  Status: string;
  Stop: boolean;
  Periodic: unknown;
  ParameterizedJob: unknown;
  TaskGroups: { Name: string; Tasks: { Name: string }[] }[];
  Version: number;
}

type TaskGroupSummary = Record<
  "Queued" | "Starting" | "Running" | "Failed" | "Complete" | "Lost" | "Unknown",
  number
>;

interface AllocStub {
  ID: string;
  NodeID: string;
  TaskGroup: string;
  JobVersion: number;
  DesiredStatus: string;
  ClientStatus: string;
  CreateTime: number;
}

interface AllocDetail extends AllocStub {
  EvalID: string;
  Name: string;
  NodeName: string;
  JobID: string;
  ClientDescription: string;
  DesiredDescription: string;
  ModifyTime: number;
  Job: Job;
  Resources: { DiskMB: number };
  TaskResources: Record<string, { CPU: number; MemoryMB: number }>;
  TaskStates: Record<
    string,
    {
      State: string;
      StartedAt: string;
      FinishedAt: string;
      LastRestart: string;
      Restarts: number;
      Events: { Type: string; Time: number; DisplayMessage: string }[];
    }
  >;
}

const stopped = (status: string, stop: boolean) => (stop ? `${status} (stopped)` : status);

function jobTable(jobs: JobStub[]): string[] {
  return table([
    ["ID", "Type", "Priority", "Status", "Submit Date"],
    ...jobs.map((j) => [
      j.ID,
      `${j.Type}${j.Periodic ? "/periodic" : ""}${j.ParameterizedJob ? "/parameterized" : ""}`,
      String(j.Priority),
      stopped(j.Status, j.Stop),
      formatNanos(j.SubmitTime),
    ]),
  ]);
}

function allocTable(allocs: AllocStub[]): string[] {
  if (allocs.length === 0) return ["No allocations placed"];
  return table([
    ["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created At"],
    // By ID, as Nomad's state store lists them.
    ...[...allocs]
      .sort((x, y) => (x.ID < y.ID ? -1 : x.ID > y.ID ? 1 : 0))
      .map((a) => [
        a.ID.slice(0, 8),
        a.NodeID.slice(0, 8),
        a.TaskGroup,
        String(a.JobVersion),
        a.DesiredStatus,
        a.ClientStatus,
        formatNanos(a.CreateTime),
      ]),
  ]);
}

/** The one job an id or prefix names, as `nomad job status` resolves it (20 at most). */
async function resolveJob(client: Client, prefix: string): Promise<JobStub> {
  const jobs = await client.get<JobStub[]>(`/v1/jobs?prefix=${encodeURIComponent(prefix)}&per_page=20`);
  if (jobs.length === 0)
    throw new ApiError(404, `No job(s) with prefix or ID ${JSON.stringify(prefix)} found`);
  if (jobs.length > 1 && jobs[0]!.ID !== prefix)
    throw new ApiError(
      409,
      `Prefix ${JSON.stringify(prefix)} matched multiple jobs\n\n${jobTable(jobs).join("\n")}${jobs.length >= 20 ? "\n(results may be truncated)" : ""}`,
    );
  return jobs[0]!;
}

/** What `nomad job status -json` prints for a job: its summary, allocations, deployment, evaluations. */
async function jobJson(client: Client, id: string) {
  const path = `/v1/job/${encodeURIComponent(id)}`;
  const [Summary, Allocations, LatestDeployment, Evaluations] = await Promise.all([
    client.get<unknown>(`${path}/summary`),
    client.get<unknown>(`${path}/allocations`),
    client.get<unknown>(`${path}/deployment`),
    client.get<unknown>(`${path}/evaluations`),
  ]);
  return { Summary, Allocations, LatestDeployment, Evaluations };
}

/** `nomad status` / `nomad job status`: every job, or one job with its summary and allocations. */
export async function jobStatus(
  client: Client,
  prefix: string | undefined,
  options: { json?: boolean },
  print: Print,
): Promise<void> {
  if (!prefix) {
    const jobs = await client.get<JobStub[]>("/v1/jobs");
    if (jobs.length === 0) return print("No running jobs");
    if (options.json)
      return print(JSON.stringify(await Promise.all(jobs.map((j) => jobJson(client, j.ID))), null, 2));
    for (const line of jobTable(jobs)) print(line);
    return;
  }
  const stub = await resolveJob(client, prefix.trim());
  if (options.json) return print(JSON.stringify([await jobJson(client, stub.ID)], null, 2));
  const path = `/v1/job/${encodeURIComponent(stub.ID)}`;
  const job = await client.get<Job>(path);
  const summary = await client.get<{ Summary: Record<string, TaskGroupSummary> }>(`${path}/summary`);
  const allocs = await client.get<AllocStub[]>(`${path}/allocations`);
  for (const line of keyValues([
    ["ID", job.ID],
    ["Name", job.Name],
    ["Submit Date", formatNanos(job.SubmitTime)],
    ["Type", job.Type],
    ["Priority", String(job.Priority)],
    ["Datacenters", job.Datacenters.join(",")],
    ["Namespace", job.Namespace],
    ["Node Pool", job.NodePool],
    ["Status", stopped(job.Status, job.Stop)],
    ["Periodic", String(job.Periodic !== null)],
    ["Parameterized", String(job.ParameterizedJob !== null)],
  ]).map((l) => l.replace(/ = $/, " = <none>")))
    print(line);
  print("");
  print("Summary");
  const groups = Object.keys(summary.Summary).sort();
  for (const line of table([
    ["Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"],
    ...groups.map((g) => {
      const s = summary.Summary[g]!;
      return [g, s.Queued, s.Starting, s.Running, s.Failed, s.Complete, s.Lost, s.Unknown].map(String);
    }),
  ]))
    print(line);
  print("");
  print("Allocations");
  for (const line of allocTable(allocs)) print(line);
}

/** The one allocation an id or prefix names; the nomad CLI's messages when none or several match. */
async function resolveAlloc(client: Client, prefix: string): Promise<AllocDetail> {
  if (prefix.length < 2) throw new ApiError(400, "Identifier must contain at least two characters.");
  const allocs = await client.get<AllocStub[]>(`/v1/allocations?prefix=${encodeURIComponent(prefix)}`);
  if (allocs.length === 0)
    throw new ApiError(404, `No allocation(s) with prefix or id ${JSON.stringify(prefix)} found`);
  if (allocs.length > 1)
    throw new ApiError(409, `Prefix matched multiple allocations\n\n${allocTable(allocs).join("\n")}`);
  return client.get<AllocDetail>(`/v1/allocation/${allocs[0]!.ID}`);
}

const taskTime = (iso: string) => (iso.startsWith("0001-") ? "N/A" : formatTime(Date.parse(iso)));

/** `nomad alloc status`: the allocation, its task's resources and events. */
export async function allocStatus(
  client: Client,
  prefix: string,
  options: { json?: boolean },
  print: Print,
): Promise<void> {
  const alloc = await resolveAlloc(client, prefix);
  if (options.json) return print(JSON.stringify(alloc, null, 2));
  for (const line of keyValues([
    ["ID", alloc.ID],
    ["Eval ID", alloc.EvalID.slice(0, 8)],
    ["Name", alloc.Name],
    ["Node ID", alloc.NodeID.slice(0, 8)],
    ["Node Name", alloc.NodeName],
    ["Job ID", alloc.JobID],
    ["Job Version", String(alloc.Job.Version ?? 0)],
    ["Client Status", alloc.ClientStatus],
    ["Client Description", alloc.ClientDescription],
    ["Desired Status", alloc.DesiredStatus],
    ["Desired Description", alloc.DesiredDescription],
    ["Created", timeAgo(alloc.CreateTime / 1e6)],
    ["Modified", timeAgo(alloc.ModifyTime / 1e6)],
  ]).map((l) => l.replace(/ = $/, " = <none>")))
    print(line);
  for (const [task, state] of Object.entries(alloc.TaskStates).sort(([a], [b]) => a.localeCompare(b))) {
    print("");
    print(`Task ${JSON.stringify(task)} is ${JSON.stringify(state.State)}`);
    const resources = alloc.TaskResources[task];
    if (resources) {
      print("Task Resources:");
      for (const line of columns([
        ["CPU", "Memory", "Disk", "Addresses"],
        [
          `${resources.CPU} MHz`,
          ibytes(resources.MemoryMB * 2 ** 20),
          ibytes(alloc.Resources.DiskMB * 2 ** 20),
          "",
        ],
      ]))
        print(line.trimEnd());
    }
    print("");
    print("Task Events:");
    for (const line of keyValues([
      ["Started At", taskTime(state.StartedAt)],
      ["Finished At", taskTime(state.FinishedAt)],
      ["Total Restarts", String(state.Restarts)],
      ["Last Restart", taskTime(state.LastRestart)],
    ]))
      print(line);
    print("");
    print("Recent Events:");
    for (const line of table([
      ["Time", "Type", "Description"],
      ...[...state.Events].reverse().map((e) => [formatNanos(e.Time), e.Type, e.DisplayMessage]),
    ]))
      print(line);
  }
}

export interface LogsOptions {
  stderr?: boolean;
  stdout?: boolean;
  follow?: boolean;
  tail?: boolean;
  /** Lines (-n) or bytes (-c) from the end, with -tail. */
  n?: string;
  c?: string;
  /** `nomad logs -job`: the argument is a job id; one of its allocations is read (a running one if any). */
  job?: boolean;
}

/** A whole number from a flag, or a precise refusal. */
function count(flag: string, raw: string): number {
  if (!/^\d{1,12}$/.test(raw))
    throw new ApiError(400, `Invalid -${flag} "${raw}": a whole number, 0 or more.`);
  return Number(raw);
}

/**
 * Reads a log stream as the Go client does: newline-separated JSON frames (`{}` a heartbeat), each
 * frame's bytes handed on as they come; the offset where the stream ended.
 */
async function readFrames(client: Client, path: string, onData: (data: Buffer) => void): Promise<number> {
  const response = await client.stream(path);
  const decoder = new TextDecoder();
  let pending = "";
  let offset = 0;
  const take = (line: string) => {
    if (!line.trim()) return;
    const frame = JSON.parse(line) as { Offset?: number; Data?: string; FileEvent?: string };
    if (frame.Offset !== undefined) offset = frame.Offset;
    if (frame.Data) onData(Buffer.from(frame.Data, "base64"));
  };
  for await (const chunk of response) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) take(line);
  }
  take(pending + decoder.decode());
  return offset;
}

/** `nomad alloc logs` (and `nomad logs`): an allocation's stdout, or stderr, whole, its tail, or followed. */
export async function allocLogs(
  client: Client,
  id: string,
  options: LogsOptions,
  write: (text: string) => void,
): Promise<void> {
  if (options.stderr && options.stdout) throw new ApiError(400, "Unable to support both stdout and stderr");
  let allocId = id;
  if (options.job) {
    const allocs = await client.get<AllocStub[]>(`/v1/job/${encodeURIComponent(id)}/allocations`);
    if (allocs.length === 0)
      throw new ApiError(404, `job ${JSON.stringify(id)} doesn't exist or it has no allocations`);
    const running = allocs.filter((a) => a.ClientStatus === "running");
    const pool = running.length > 0 ? running : allocs;
    allocId = pool[Math.floor(Math.random() * pool.length)]!.ID;
  }
  const alloc = await resolveAlloc(client, allocId);
  const group = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
  const task = group?.Tasks[0]?.Name ?? "build";
  const type = options.stderr ? "stderr" : "stdout";
  const base = `/v1/client/fs/logs/${alloc.ID}?task=${encodeURIComponent(task)}&type=${type}`;
  const text = (data: Buffer) => write(data.toString("utf8"));
  if (!options.tail)
    return void (await readFrames(
      client,
      `${base}&origin=start&offset=0&follow=${options.follow === true}`,
      text,
    ));
  if (options.n !== undefined && options.c !== undefined) throw new ApiError(400, "both -n and -c set");
  const lines = options.c === undefined ? (options.n === undefined ? 10 : count("n", options.n)) : undefined;
  const bytes = options.c === undefined ? lines! * 120 : count("c", options.c);
  const parts: Buffer[] = [];
  const end = await readFrames(client, `${base}&origin=end&offset=${bytes}&follow=false`, (d) =>
    parts.push(d),
  );
  let tail = Buffer.concat(parts).toString("utf8");
  if (lines !== undefined) {
    const all = tail.split("\n");
    const last = all.at(-1) === "" ? all.slice(0, -1) : all;
    tail = last.length === 0 ? "" : `${last.slice(-lines).join("\n")}${tail.endsWith("\n") ? "\n" : ""}`;
  }
  if (tail) write(tail);
  if (options.follow) await readFrames(client, `${base}&origin=start&offset=${end}&follow=true`, text);
}
