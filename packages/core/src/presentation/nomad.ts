/**
 * Gyre's fleet as Nomad's HTTP API shows it, so the `nomad` CLI and the reference's runbooks
 * ("Introduction to Nomad Cluster Operation") work against Gyre with `NOMAD_ADDR` pointed at
 * it. Shapes follow `shared/corpus/nomad-api/` (the fields the CLI dereferences included:
 * `NodeResources`, `ReservedResources`, each allocation's `Resources`, `SubmitTime`).
 *
 * Mapping: a builder node is a Nomad client node in datacenter = the region, pool `default`;
 * its one driver is `exec` (jobs run in a bubblewrap sandbox). A CI job attempt is a Nomad job
 * (`<job uuid>-<attempt>-build-<org>-<repo>-<job number>`, the reference's style), each of its
 * parallel runs an allocation of task group `build`. Nomad's raft indexes are epoch
 * milliseconds of the last change an operator sees (never a heartbeat), so they only grow.
 * CPU is counted in MHz-like shares of 1000 per vCPU.
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { executionName } from "../dispatch/execution.ts";
import { type AllocationState, type Job, parallelismOf } from "../job/index.ts";
import { isDraining, type Node, type Resources, schedulingEligibility } from "../node/index.ts";
import type { AllocationRef } from "../protocol/agent.ts";

/**
 * A duration as Nomad writes one (`wait=5s`, `-deadline 1h`): a number with `ms`, `s`, `m` or `h`
 * (a bare number is seconds), in ms; undefined when it is not one.
 */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
}

/** CPU shares per vCPU. */
export const SHARES_PER_CPU = 1000;

const ns = (ms: number) => ms * 1_000_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** The index of a node: its last change an operator sees. */
export const nodeIndex = (n: Node) => n.changedAt ?? Date.parse(n.createdAt);

function attributes(n: Node): Record<string, string> {
  const attrs: Record<string, string> = { "kernel.name": "linux", "os.name": "linux", "driver.exec": "1" };
  if (n.resources) {
    attrs["cpu.numcores"] = String(n.resources.cpus);
    attrs["cpu.totalcompute"] = String(n.resources.cpus * SHARES_PER_CPU);
    attrs["memory.totalbytes"] = String(n.resources.memoryMb * 2 ** 20);
  }
  if (n.name) attrs["unique.hostname"] = n.name;
  if (n.classes) attrs["gyre.resource_classes"] = Object.keys(n.classes).join(",");
  if (n.version) attrs["gyre.version"] = n.version;
  // Nomad's AWS fingerprint names the instance so; Gyre's comes from the IAM registration.
  if (n.instanceId) attrs["unique.platform.aws.instance-id"] = n.instanceId;
  return attrs;
}

const drivers = (n: Node) => ({
  exec: {
    Attributes: {},
    Detected: true,
    HealthDescription: n.status === "ready" ? "Healthy" : "",
    Healthy: n.status === "ready",
    UpdateTime: iso(n.heartbeatAt),
  },
});

const lastDrain = (n: Node) =>
  n.drainedAt === undefined
    ? null
    : {
        AccessorID: "",
        Meta: null,
        StartedAt: iso(n.drainedAt),
        Status: "draining",
        UpdatedAt: iso(n.drainedAt),
      };

const statusDescription = (n: Node) =>
  n.revokedAt !== undefined
    ? "credential revoked"
    : n.leftAt !== undefined
      ? "drained and left"
      : n.status === "down"
        ? "missed its heartbeat deadline"
        : "";

/** `GET /v1/nodes`: NodeListStub. */
export function nodeStub(n: Node, region: string) {
  return {
    Address: "",
    Attributes: attributes(n),
    CreateIndex: Date.parse(n.createdAt),
    Datacenter: region,
    Drain: isDraining(n),
    Drivers: drivers(n),
    ID: n.id,
    LastDrain: lastDrain(n),
    ModifyIndex: nodeIndex(n),
    Name: n.name ?? n.id,
    NodeClass: "",
    NodePool: "default",
    SchedulingEligibility: schedulingEligibility(n),
    Status: n.status,
    StatusDescription: statusDescription(n),
    Version: n.version ?? "",
  };
}

const resourcesOf = (r: Resources | undefined) => ({
  Cpu: { CpuShares: Math.round((r?.cpus ?? 0) * SHARES_PER_CPU) },
  Disk: { DiskMB: 0 },
  Memory: { MemoryMB: r?.memoryMb ?? 0 },
});

/** `GET /v1/node/:id`: Node. */
export function nodeDetail(n: Node, region: string) {
  return {
    ...nodeStub(n, region),
    ComputedClass: "",
    DrainStrategy:
      n.drainedAt === undefined
        ? null
        : {
            // No deadline is 0 with a zero ForceDeadline (the CLI's "no deadline"; < 0 would read "force").
            Deadline: n.drainDeadline === undefined ? 0 : ns(n.drainDeadline - n.drainedAt),
            ForceDeadline: n.drainDeadline === undefined ? "0001-01-01T00:00:00Z" : iso(n.drainDeadline),
            IgnoreSystemJobs: false,
            StartedAt: iso(n.drainedAt),
          },
    Events: [],
    HTTPAddr: "",
    HostVolumes: {},
    HostNetworks: {},
    Links: {},
    Meta: {},
    NodeResources: { ...resourcesOf(n.resources), Devices: [], Networks: [], NodeNetworks: [] },
    ReservedResources: { ...resourcesOf(n.reserved), Networks: { ReservedHostPorts: "" } },
    SecretID: "",
    StatusUpdatedAt: Math.floor(nodeIndex(n) / 1000),
    TLSEnabled: false,
  };
}

/** A Gyre job attempt's Nomad job id, in the reference's style. */
export function nomadJobId(job: Pick<Job, "id" | "attempt" | "projectSlug" | "number">): string {
  return `${job.id}-${job.attempt}-build-${nomadProjectPart(job.projectSlug)}-${job.number}`;
}

/** A UUID derived from `text` (SHA-256), stable across reads. */
function derivedUuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** An allocation's id: a UUID derived from the allocation, stable across reads. */
export const allocationId = (ref: AllocationRef): string => derivedUuid(executionName(ref));

/** The one evaluation of a job attempt (its submission): a UUID derived from the Nomad job id. */
export const evaluationId = (job: Pick<Job, "id" | "attempt" | "projectSlug" | "number">): string =>
  derivedUuid(`eval:${nomadJobId(job)}`);

/**
 * The parts of a Nomad job id `<job uuid>-<attempt>-build-<org>-<repo>-<job number>`; undefined
 * when it is not one. `project` is `<org>-<repo>` (either may hold dashes: match it against
 * the projects' slugs).
 */
export function parseNomadJobId(
  id: string,
): { jobId: string; attempt: number; project: string; number: number } | undefined {
  const m =
    /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(\d{1,4})-build-(.+)-(\d{1,12})$/.exec(
      id,
    );
  if (!m) return undefined;
  return { jobId: m[1]!, attempt: Number(m[2]), project: m[3]!, number: Number(m[4]) };
}

/** `<org>-<repo>` of a project slug, as a Nomad job id writes it. */
export const nomadProjectPart = (slug: string) => slug.split("/").slice(1).join("-");

/** Nomad's client status of an allocation. */
export function clientStatus(status: AllocationState["status"]): string {
  switch (status) {
    case "queued":
      return "pending";
    case "running":
      return "running";
    case "success":
      return "complete";
    case "lost":
      return "lost";
    default:
      return "failed";
  }
}

/** Nomad's job status: pending while nothing runs yet, running while something does, dead once over. */
export function nomadJobStatus(job: Job): string {
  const states = Object.values(job.allocations).map((a) => a.status);
  if (states.some((s) => s === "running")) return "running";
  if (states.some((s) => s === "queued")) return "pending";
  return "dead";
}

const msOf = (value: string | undefined, fallback: number) => (value ? Date.parse(value) : fallback);

/** When a job attempt was submitted to the fleet (queued): Nomad's SubmitTime and CreateIndex. */
const submittedAt = (job: Job) => msOf(job.queuedAt, Date.parse(job.createdAt));

/** Go's zero time, which Nomad writes for a time that has not come (a task not finished yet). */
const ZERO_TIME = "0001-01-01T00:00:00Z";

const jobMeta = (job: Job) => ({
  project: job.projectSlug,
  job_name: job.name,
  job_number: String(job.number),
});

/** `GET /v1/job/:id` (and each allocation's `Job`): a batch job of one task group, `build`. */
export function nomadJob(job: Job, region: string) {
  const submitted = submittedAt(job);
  const id = nomadJobId(job);
  return {
    AllAtOnce: false,
    Constraints: [],
    CreateIndex: submitted,
    Datacenters: [region],
    ID: id,
    JobModifyIndex: submitted,
    Meta: jobMeta(job),
    ModifyIndex: job.updatedAt,
    Name: id,
    Namespace: "default",
    NodePool: "default",
    // Pointers in Nomad: null for a job that is neither periodic nor parameterized.
    ParameterizedJob: null,
    ParentID: "",
    Payload: null,
    Periodic: null,
    Priority: 50,
    Region: region,
    Stable: false,
    Status: nomadJobStatus(job),
    StatusDescription: "",
    Stop: false,
    SubmitTime: ns(submitted),
    TaskGroups: [
      {
        Name: "build",
        Count: parallelismOf(job),
        Constraints: null,
        Affinities: null,
        // A Gyre job is not restarted in place: a lost one gets a new attempt (a new Nomad job).
        RestartPolicy: { Attempts: 0, Interval: 0, Delay: 0, Mode: "fail" },
        EphemeralDisk: { Sticky: false, SizeMB: 0, Migrate: false },
        Meta: null,
        Tasks: [
          {
            Name: "build",
            Driver: "exec",
            Config: {
              executor: job.plan?.executor.type ?? "none",
              resource_class: job.plan?.resourceClass ?? "",
            },
            Lifecycle: null,
            Leader: false,
          },
        ],
      },
    ],
    Type: "batch",
    Update: {},
    VaultToken: "",
    Version: 0,
  };
}

/** Each allocation counted under its client status, as `GET /v1/job/:id/summary` counts them. */
function summaryCounts(job: Job) {
  const counts = { Queued: 0, Complete: 0, Failed: 0, Running: 0, Starting: 0, Lost: 0, Unknown: 0 };
  const key = { pending: "Queued", running: "Running", complete: "Complete", failed: "Failed", lost: "Lost" };
  for (const a of Object.values(job.allocations))
    counts[key[clientStatus(a.status) as keyof typeof key] as keyof typeof counts]++;
  return counts;
}

/** `GET /v1/job/:id/summary`: JobSummary (a CI job has no children). */
export function jobSummary(job: Job) {
  return {
    JobID: nomadJobId(job),
    Namespace: "default",
    Summary: { build: summaryCounts(job) },
    Children: { Pending: 0, Running: 0, Dead: 0 },
    CreateIndex: submittedAt(job),
    ModifyIndex: job.updatedAt,
  };
}

/** `GET /v1/jobs`: JobListStub. */
export function nomadJobStub(job: Job, region: string) {
  const submitted = submittedAt(job);
  const id = nomadJobId(job);
  return {
    ID: id,
    ParentID: "",
    Name: id,
    Namespace: "default",
    Datacenters: [region],
    Type: "batch",
    Priority: 50,
    // Booleans in the list stub (pointers in the full job).
    Periodic: false,
    ParameterizedJob: false,
    Stop: false,
    Status: nomadJobStatus(job),
    StatusDescription: "",
    JobSummary: jobSummary(job),
    CreateIndex: submitted,
    ModifyIndex: job.updatedAt,
    JobModifyIndex: submitted,
    SubmitTime: ns(submitted),
    Meta: jobMeta(job),
  };
}

/**
 * `GET /v1/job/:id/evaluations`: the attempt's one evaluation, its submission (`job-register`),
 * complete at once: every allocation is placed on its class's queue, and `QueuedAllocations`
 * counts those no node has taken yet.
 */
export function jobEvaluation(job: Job) {
  const submitted = submittedAt(job);
  const queued = Object.values(job.allocations).filter((a) => a.status === "queued").length;
  return {
    ID: evaluationId(job),
    Namespace: "default",
    Priority: 50,
    Type: "batch",
    TriggeredBy: "job-register",
    JobID: nomadJobId(job),
    JobModifyIndex: submitted,
    NodeID: "",
    NodeModifyIndex: 0,
    Status: "complete",
    StatusDescription: "",
    Wait: 0,
    NextEval: "",
    PreviousEval: "",
    BlockedEval: "",
    FailedTGAllocs: null,
    ClassEligibility: null,
    EscapedComputedClass: false,
    AnnotatePlan: false,
    QueuedAllocations: { build: queued },
    SnapshotIndex: submitted,
    CreateIndex: submitted,
    ModifyIndex: job.updatedAt,
    CreateTime: ns(submitted),
    ModifyTime: ns(job.updatedAt),
  };
}

/** The task's events: received and started at the claim, terminated when the allocation ended. */
function taskEvents(alloc: AllocationState, terminal: boolean) {
  const event = (type: string, at: string, message: string, failsTask = false) => ({
    Type: type,
    Time: ns(Date.parse(at)),
    DisplayMessage: message,
    Details: {},
    Message: "",
    FailsTask: failsTask,
  });
  const events = [];
  if (alloc.startedAt) {
    events.push(event("Received", alloc.startedAt, "Task received by client"));
    events.push(event("Started", alloc.startedAt, "Task started by client"));
  }
  if (terminal && alloc.stoppedAt)
    events.push(event("Terminated", alloc.stoppedAt, `Gyre: ${alloc.status}`, alloc.status !== "success"));
  return events;
}

/**
 * An allocation of a job's current attempt (`GET /v1/allocation/:id`). `size` is its class's
 * size on the node that runs it (what the node registered), zero when unknown (no node yet).
 */
export function allocationJson(
  job: Job,
  ref: AllocationRef,
  region: string,
  size: Resources | undefined,
  nodeName = "",
) {
  const alloc = job.allocations[String(ref.index)]!;
  const created = submittedAt(job);
  const modified = msOf(alloc.stoppedAt ?? alloc.startedAt, created);
  const cpu = Math.round((size?.cpus ?? 0) * SHARES_PER_CPU);
  const memory = size?.memoryMb ?? 0;
  const terminal = !["queued", "running"].includes(alloc.status);
  const id = nomadJobId(job);
  return {
    AllocModifyIndex: modified,
    ClientDescription: terminal ? `Gyre: ${alloc.status}` : "",
    ClientStatus: clientStatus(alloc.status),
    CreateIndex: created,
    CreateTime: ns(created),
    DeploymentID: "",
    DeploymentStatus: { Healthy: alloc.status === "success", ModifyIndex: 0 },
    DesiredDescription: "",
    DesiredStatus: terminal ? "stop" : "run",
    DesiredTransition: { Migrate: null },
    EvalID: evaluationId(job),
    FollowupEvalID: "",
    ID: allocationId(ref),
    Job: nomadJob(job, region),
    JobID: id,
    JobType: "batch",
    JobVersion: 0,
    Metrics: {},
    ModifyIndex: modified,
    ModifyTime: ns(modified),
    Name: `${id}.build[${ref.index}]`,
    Namespace: "default",
    NextAllocation: "",
    NodeID: alloc.nodeId ?? "",
    NodeName: nodeName,
    PreemptedAllocations: null,
    PreemptedByAllocation: "",
    PreviousAllocation: "",
    RescheduleTracker: null,
    Resources: { CPU: cpu, DiskMB: 0, MemoryMB: memory, Networks: [] },
    SharedResources: { CPU: 0, DiskMB: 0, MemoryMB: 0, Networks: null },
    TaskGroup: "build",
    TaskResources: { build: { CPU: cpu, DiskMB: 0, MemoryMB: memory, Networks: [] } },
    TaskStates: {
      build: {
        State: alloc.status === "queued" ? "pending" : alloc.status === "running" ? "running" : "dead",
        Failed: terminal && alloc.status !== "success",
        StartedAt: alloc.startedAt ?? ZERO_TIME,
        FinishedAt: (terminal ? alloc.stoppedAt : undefined) ?? ZERO_TIME,
        LastRestart: ZERO_TIME,
        Restarts: 0,
        Events: taskEvents(alloc, terminal),
      },
    },
  };
}

/** The fields of Nomad's AllocationListStub (`/v1/allocations`, `/v1/job/:id/allocations`). */
const STUB_FIELDS = [
  "ID",
  "EvalID",
  "Name",
  "Namespace",
  "NodeID",
  "NodeName",
  "JobID",
  "JobType",
  "JobVersion",
  "TaskGroup",
  "DesiredStatus",
  "DesiredDescription",
  "ClientStatus",
  "ClientDescription",
  "TaskStates",
  "DeploymentStatus",
  "FollowupEvalID",
  "NextAllocation",
  "PreviousAllocation",
  "RescheduleTracker",
  "PreemptedAllocations",
  "PreemptedByAllocation",
  "CreateIndex",
  "ModifyIndex",
  "CreateTime",
  "ModifyTime",
] as const;

/** `GET /v1/allocations`, `/v1/job/:id/allocations`: AllocationListStub. */
export function allocationStub(...args: Parameters<typeof allocationJson>) {
  const full = allocationJson(...args);
  return Object.fromEntries(STUB_FIELDS.map((k) => [k, full[k]])) as Pick<
    typeof full,
    (typeof STUB_FIELDS)[number]
  >;
}

/**
 * `GET /v1/agent/self`: the agent answering is Gyre's API, a server (the leader of one region),
 * never a client: there is no `client` in `stats`, so `nomad node status -self` says "Nomad not
 * running in client mode". `UI.ShowCLIHints` is false: Gyre serves no Nomad web UI to point at.
 */
export function agentSelf(input: { url: string; region: string; nodes: number }) {
  const url = new URL(input.url);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname;
  const name = `gyre.${input.region}`;
  return {
    config: {
      Addresses: { HTTP: host, RPC: host, Serf: host },
      AdvertiseAddrs: { HTTP: url.host, RPC: url.host, Serf: url.host },
      BindAddr: host,
      Client: { Enabled: false },
      Consul: {},
      DataDir: "",
      Datacenter: input.region,
      DevMode: false,
      DisableAnonymousSignature: true,
      DisableUpdateCheck: true,
      EnableDebug: false,
      EnableSyslog: false,
      Files: null,
      HTTPAPIResponseHeaders: {},
      LeaveOnInt: false,
      LeaveOnTerm: false,
      LogLevel: "INFO",
      NodeName: name,
      Ports: { HTTP: port, RPC: port, Serf: port },
      Region: input.region,
      Revision: "",
      Server: { Enabled: true, BootstrapExpect: 1 },
      SyslogFacility: "",
      TLSConfig: { EnableHTTP: url.protocol === "https:", EnableRPC: false },
      Telemetry: {},
      UI: { Enabled: false, ShowCLIHints: false },
      Vault: {},
      Version: "",
      VersionPrerelease: "",
    },
    member: {
      Addr: host,
      DelegateCur: 0,
      DelegateMax: 0,
      DelegateMin: 0,
      Name: name,
      Port: port,
      ProtocolCur: 0,
      ProtocolMax: 0,
      ProtocolMin: 0,
      Status: "alive",
      Tags: { role: "nomad", region: input.region, dc: input.region, port: String(port) },
    },
    stats: {
      runtime: {
        arch: process.arch,
        cpu_count: String(availableParallelism()),
        "kernel.name": process.platform,
        version: process.version,
      },
      nomad: {
        server: "true",
        leader: "true",
        leader_addr: url.host,
        bootstrap: "false",
        known_regions: "1",
      },
      raft: { state: "Leader", num_peers: "0", last_contact: "never" },
      serf: { members: "1", failed: "0", left: "0" },
      gyre: { nodes: String(input.nodes) },
    },
  };
}
