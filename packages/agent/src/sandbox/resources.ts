/**
 * Resource classes as limits: how many vCPUs, how much memory and how many processes a job of
 * each class may use on this builder. The defaults are CircleCI's sizes for Docker and Linux
 * machine executors; an operator overrides or adds classes with `GYRE_RESOURCE_CLASSES`, a
 * JSON object such as `{"medium": {"cpus": 2, "memoryMb": 4096, "pids": 1000}}` (each field
 * optional, merged over the default of that name).
 */

export interface ResourceLimits {
  /** vCPUs: a CPU quota of this many cores. */
  cpus: number;
  memoryMb: number;
  /** Most processes and threads the job may have at once. */
  pids: number;
}

export type ResourceClasses = Record<string, ResourceLimits>;

/** The class used when a job names one this builder has no size for. */
export const FALLBACK_CLASS = "medium";

const size = (cpus: number, memoryGb: number): ResourceLimits => ({
  cpus,
  memoryMb: memoryGb * 1024,
  pids: Math.max(1000, 500 * cpus),
});

export const CIRCLECI_RESOURCE_CLASSES: ResourceClasses = {
  small: size(1, 2),
  medium: size(2, 4),
  "medium+": size(3, 6),
  large: size(4, 8),
  xlarge: size(8, 16),
  "2xlarge": size(16, 32),
};

const FIELDS = ["cpus", "memoryMb", "pids"] as const;

/** The classes this builder offers: the defaults, with `GYRE_RESOURCE_CLASSES` over them. */
export function resourceClassesFromEnv(env: NodeJS.ProcessEnv = process.env): ResourceClasses {
  const raw = env.GYRE_RESOURCE_CLASSES;
  if (!raw?.trim()) return { ...CIRCLECI_RESOURCE_CLASSES };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new Error(`GYRE_RESOURCE_CLASSES is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("GYRE_RESOURCE_CLASSES must be a JSON object of resource class name → limits.");
  const classes: ResourceClasses = { ...CIRCLECI_RESOURCE_CLASSES };
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!value || typeof value !== "object" || Array.isArray(value))
      throw new Error(`GYRE_RESOURCE_CLASSES.${name} must be an object like {"cpus": 2, "memoryMb": 4096}.`);
    const given = value as Record<string, unknown>;
    for (const key of Object.keys(given))
      if (!(FIELDS as readonly string[]).includes(key))
        throw new Error(`GYRE_RESOURCE_CLASSES.${name}.${key} is unknown; use ${FIELDS.join(", ")}.`);
    const base = classes[name];
    const limits = {} as ResourceLimits;
    for (const key of FIELDS) {
      const v = given[key] ?? base?.[key];
      if (v === undefined) throw new Error(`GYRE_RESOURCE_CLASSES.${name} needs "${key}" (a new class).`);
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (key !== "cpus" && !Number.isInteger(v)))
        throw new Error(`GYRE_RESOURCE_CLASSES.${name}.${key} must be a positive number.`);
      limits[key] = v;
    }
    classes[name] = limits;
  }
  return classes;
}

/** The limits for a job's class, and whether the fallback stood in for an unknown class. */
export function limitsFor(
  classes: ResourceClasses,
  resourceClass: string,
): { name: string; limits: ResourceLimits; fallback: boolean } {
  const own = Object.hasOwn(classes, resourceClass) ? classes[resourceClass] : undefined;
  if (own) return { name: resourceClass, limits: own, fallback: false };
  const fallback = classes[FALLBACK_CLASS] ?? CIRCLECI_RESOURCE_CLASSES[FALLBACK_CLASS]!;
  return { name: FALLBACK_CLASS, limits: fallback, fallback: true };
}

/** "4 GB", "64 MB", "1.5 GB". */
export function formatMemory(mb: number): string {
  if (mb < 1024) return `${mb} MB`;
  const gb = mb / 1024;
  return `${Number.isInteger(gb) ? gb : gb.toFixed(1)} GB`;
}
