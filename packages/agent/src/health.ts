/**
 * A builder's health. A builder that must run docker jobs in containers
 * (GYRE_DOCKER_FALLBACK=fail, as on AWS) is unhealthy while no Docker engine answers: it takes
 * no work then (its jobs wait in the queue for a healthy builder instead of failing), says so
 * in its log, and writes its state to GYRE_HEALTH_FILE, which the fleet's health check reads
 * to replace the instance. It takes work again as soon as the engine answers.
 */
import { rename, writeFile } from "node:fs/promises";
import { dockerClient, dockerEndpoint, pingEngine } from "./executor/docker.ts";
import { dockerFallbackFromEnv } from "./executor/index.ts";

export interface Health {
  healthy: boolean;
  reason?: string;
}

export type HealthCheck = () => Promise<Health>;

/** The check this builder's settings call for (always healthy when docker jobs may fall back). */
export function healthCheckFromEnv(env: NodeJS.ProcessEnv = process.env): HealthCheck {
  if (dockerFallbackFromEnv(env) !== "fail") return async () => ({ healthy: true });
  const endpoint = dockerEndpoint(env);
  return async () => {
    let unreachable: string | undefined;
    try {
      unreachable = (await pingEngine(dockerClient(endpoint))).unreachable;
    } catch (error) {
      unreachable = (error as Error).message;
    }
    return unreachable
      ? { healthy: false, reason: `no Docker engine answers at ${endpoint} (${unreachable})` }
      : { healthy: true };
  };
}

/**
 * Records `health` in the health file (when there is one): `healthy` or `unhealthy: <reason>`.
 * Written whole or not at all (a temporary file renamed over it): a reader never sees it half written.
 */
export async function reportHealth(file: string | undefined, health: Health): Promise<void> {
  if (!file) return;
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, health.healthy ? "healthy\n" : `unhealthy: ${health.reason}\n`);
  await rename(partial, file);
}
