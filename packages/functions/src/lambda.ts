/**
 * The context of a deployed function, built once per Lambda container from its SST links.
 * Unwrapped data keys are cached, so repeated secret reads do not call KMS each time.
 */
import { createGyre, type Gyre } from "@gyre/core/context";
import { resourcesFromEnv } from "@gyre/core/resources";
import { CachingKeyPort } from "@gyre/core/secret/index";
import { KmsKeyPort } from "@gyre/core/secret/kms-key-port";
import type { MiddlewareObj } from "@middy/core";

let gyre: Gyre | undefined;

export function lambdaGyre(): Gyre {
  if (!gyre) {
    const resources = resourcesFromEnv();
    // The key id is read on first use: finalize, reconcile and the fleet's functions have no
    // DataKey link, and reading it here made every one of them throw at its first call.
    const keys = new CachingKeyPort(
      new KmsKeyPort({
        get keyId() {
          return resources.kmsKeyId!;
        },
        clientConfig: { region: resources.region },
      }),
    );
    gyre = createGyre(resources, keys, "/tmp/gyre");
  }
  return gyre;
}

/** What a log line says of a failure: its name and message, never its cause or its input. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${typeof error}`;
}

/**
 * Middy middleware for handlers whose caller must see a failure (Step Functions' Retry and
 * Catch, the scheduler): logs the error's name and message, not the event, which may carry
 * task tokens and job data, and handles nothing, so middy rethrows the error as it was.
 */
export function logErrors(name: string, log: (line: string) => void = console.error): MiddlewareObj {
  return {
    onError: (request) => {
      log(`${name}: failed: ${describeError(request.error)}`);
    },
  };
}
