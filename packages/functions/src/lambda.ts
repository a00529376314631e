/**
 * The context of a deployed function, built once per Lambda container from its SST links.
 * Unwrapped data keys are cached, so repeated secret reads do not call KMS each time.
 */
import { createGyre, type Gyre } from "@gyre/core/context";
import { resourcesFromEnv } from "@gyre/core/resources";
import { CachingKeyPort } from "@gyre/core/secret/index";
import { KmsKeyPort } from "@gyre/core/secret/kms-key-port";

let gyre: Gyre | undefined;

export function lambdaGyre(): Gyre {
  if (!gyre) {
    const resources = resourcesFromEnv();
    const keys = new CachingKeyPort(
      new KmsKeyPort({ keyId: resources.kmsKeyId!, clientConfig: { region: resources.region } }),
    );
    gyre = createGyre(resources, keys, "/tmp/gyre");
  }
  return gyre;
}
