/**
 * A node's capacity, as Nomad schedules a client: the host's vCPUs and memory, less a reserve the
 * agent keeps for itself (the reference keeps 2 vCPU / 4 GB on each Nomad client), shared by the
 * allocations it runs, each taking its resource class's size. The node offers the classes that
 * fit what is left; it receives a job of a class only while that class fits its free capacity,
 * so it runs as many allocations at once as fit and never more.
 *
 * Environment (each optional): GYRE_NODE_CPUS and GYRE_NODE_MEMORY_MB (default: the host's),
 * GYRE_NODE_RESERVED_CPUS (default 2) and GYRE_NODE_RESERVED_MEMORY_MB (default 4096). CPU limits
 * are quotas, not pinned cores: declaring more vCPUs than the host has oversubscribes it, which
 * the local runtime does on purpose (packages/cli/src/local/runtime.ts).
 */
import { availableParallelism, totalmem } from "node:os";
import type { ResourceClasses, ResourceLimits } from "./sandbox/resources.ts";

export interface Size {
  cpus: number;
  memoryMb: number;
}

export interface NodeCapacity {
  /** What the host has (or is declared to have). */
  total: Size;
  /** Kept for the agent itself. */
  reserved: Size;
  /** The classes that fit `total − reserved`, with their sizes. */
  offered: Record<string, Size>;
}

export const DEFAULT_RESERVED: Size = { cpus: 2, memoryMb: 4096 };

function amount(env: NodeJS.ProcessEnv, name: string, fallback: number, integer: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new Error(`${name} must be a${integer ? " whole" : ""} number ≥ 0, not "${raw}".`);
  return n;
}

const fits = (size: Size, room: Size) => size.cpus <= room.cpus + 1e-9 && size.memoryMb <= room.memoryMb;
const sizeOf = (limits: ResourceLimits): Size => ({ cpus: limits.cpus, memoryMb: limits.memoryMb });

/** The node's capacity from its environment; an error when no class fits what is left. */
export function capacityFromEnv(
  classes: ResourceClasses,
  env: NodeJS.ProcessEnv = process.env,
): NodeCapacity {
  const total = {
    cpus: amount(env, "GYRE_NODE_CPUS", availableParallelism(), false),
    memoryMb: amount(env, "GYRE_NODE_MEMORY_MB", Math.floor(totalmem() / 2 ** 20), true),
  };
  const reserved = {
    cpus: amount(env, "GYRE_NODE_RESERVED_CPUS", DEFAULT_RESERVED.cpus, false),
    memoryMb: amount(env, "GYRE_NODE_RESERVED_MEMORY_MB", DEFAULT_RESERVED.memoryMb, true),
  };
  const room = { cpus: total.cpus - reserved.cpus, memoryMb: total.memoryMb - reserved.memoryMb };
  const offered = Object.fromEntries(
    Object.entries(classes)
      .filter(([, limits]) => fits(sizeOf(limits), room))
      .map(([name, limits]) => [name, sizeOf(limits)]),
  );
  if (Object.keys(offered).length === 0) {
    throw new Error(
      `This node has ${Math.max(0, room.cpus)} vCPU and ${Math.max(0, room.memoryMb)} MB left after its reserve ` +
        `(${reserved.cpus} vCPU, ${reserved.memoryMb} MB of ${total.cpus} vCPU, ${total.memoryMb} MB): ` +
        "no resource class fits. Lower GYRE_NODE_RESERVED_CPUS / GYRE_NODE_RESERVED_MEMORY_MB or run it on a larger host.",
    );
  }
  return { total, reserved, offered };
}

/**
 * The node's free capacity: taken by each allocation from the moment its message arrives until
 * it has finished and reported, given back then. A receive is sized by the room when it starts
 * but takes nothing while it waits (a long poll that held room would keep every other class
 * out); a message that finds no room when it arrives is put back on its queue.
 */
export class Ledger {
  private used: Size = { cpus: 0, memoryMb: 0 };
  private waiters: (() => void)[] = [];

  constructor(private readonly capacity: NodeCapacity) {}

  get room(): Size {
    const { total, reserved } = this.capacity;
    return {
      cpus: total.cpus - reserved.cpus - this.used.cpus,
      memoryMb: total.memoryMb - reserved.memoryMb - this.used.memoryMb,
    };
  }

  /** What is taken now (running allocations and receives in flight). */
  get taken(): Size {
    return { ...this.used };
  }

  fits(size: Size): boolean {
    return fits(size, this.room);
  }

  /** Takes `size` if it fits now. */
  take(size: Size): boolean {
    if (!this.fits(size)) return false;
    this.used = { cpus: this.used.cpus + size.cpus, memoryMb: this.used.memoryMb + size.memoryMb };
    return true;
  }

  give(size: Size): void {
    this.used = {
      cpus: Math.max(0, this.used.cpus - size.cpus),
      memoryMb: Math.max(0, this.used.memoryMb - size.memoryMb),
    };
    this.changed();
  }

  /** Resolves at the next change (something given back, or `changed()` called), or on `signal`. */
  nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Wakes whoever waits for room (capacity was given back, or the node's state changed). */
  changed(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
