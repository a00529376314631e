/**
 * What a domain function needs from the world, passed explicitly: resources, AWS clients
 * (behind lazy getters), the key port for secrets, a clock and a scratch directory.
 * Built once per process by the Lambda entry points or the local runtime.
 */
import { type AwsClients, createAwsClients, type RequestObserver } from "./aws/index.ts";
import type { Resources } from "./resources.ts";
import type { KeyPort } from "./secret/index.ts";

export interface Gyre {
  readonly resources: Resources;
  readonly aws: AwsClients;
  readonly keys: KeyPort;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Scratch directory for git mirrors (a data-dir folder locally, /tmp on Lambda). */
  readonly scratchDir: string;
}

/** The context for a process: AWS clients are created lazily, on first use. */
export function createGyre(
  resources: Resources,
  keys: KeyPort,
  scratchDir: string,
  observer?: RequestObserver,
): Gyre {
  return { resources, aws: createAwsClients(resources, observer), keys, now: Date.now, scratchDir };
}
