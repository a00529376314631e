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
import { executionName } from "../dispatch/execution.ts";
import type { AllocationState, Job } from "../job/index.ts";
import { isDraining, type Node, type Resources } from "../node/index.ts";
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

const eligibility = (n: Node) => (isDraining(n) || n.status !== "ready" ? "ineligible" : "eligible");

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
    SchedulingEligibility: eligibility(n),
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
  const [, org = "", repo = ""] = job.projectSlug.split("/");
  return `${job.id}-${job.attempt}-build-${org}-${repo}-${job.number}`;
}

/** An allocation's id: a UUID derived from the allocation, stable across reads. */
export function allocationId(ref: AllocationRef): string {
  const h = createHash("sha256").update(executionName(ref)).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

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

function nomadJob(job: Job, region: string) {
  const created = Date.parse(job.createdAt);
  return {
    AllAtOnce: false,
    Constraints: null,
    CreateIndex: created,
    Datacenters: [region],
    ID: nomadJobId(job),
    JobModifyIndex: created,
    Meta: { project: job.projectSlug, job_name: job.name, job_number: String(job.number) },
    ModifyIndex: job.updatedAt,
    Name: nomadJobId(job),
    Namespace: "default",
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
    SubmitTime: ns(created),
    TaskGroups: [
      { Name: "build", Count: job.plan?.parallelism ?? 1, Tasks: [{ Name: "build", Driver: "exec" }] },
    ],
    Type: "batch",
    Update: {},
    VaultToken: "",
    Version: 0,
  };
}

/**
 * An allocation of a job's current attempt. `size` is its class's size on the node that runs
 * it (what the node registered), zero when unknown.
 */
export function allocationJson(job: Job, ref: AllocationRef, region: string, size: Resources | undefined) {
  const alloc = job.allocations[String(ref.index)]!;
  const created = msOf(job.queuedAt, Date.parse(job.createdAt));
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
    EvalID: "",
    FollowupEvalID: "",
    ID: allocationId(ref),
    Job: nomadJob(job, region),
    JobID: id,
    Metrics: {},
    ModifyIndex: modified,
    ModifyTime: ns(modified),
    Name: `${id}.build[${ref.index}]`,
    Namespace: "default",
    NextAllocation: "",
    NodeID: alloc.nodeId ?? "",
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
        StartedAt: alloc.startedAt ?? null,
        FinishedAt: alloc.stoppedAt ?? null,
        Restarts: 0,
        Events: [],
      },
    },
  };
}
