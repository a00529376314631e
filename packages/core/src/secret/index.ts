/**
 * Secrets at rest and in output.
 * - `encryptSecret` / `decryptSecret`: envelope encryption (AES-256-GCM) behind a `KeyPort`;
 *   `LocalKeyPort` (master key file), `CachingKeyPort`; `KmsKeyPort` lives in
 *   `@gyre/core/secret/kms-key-port` so only KMS users load the AWS SDK.
 * - `maskValue`: the API's `xxxxabcd` display of a stored value.
 * - `createMasker`: streaming masking of step output (`********`).
 */
export { decryptSecret, encryptSecret } from "./envelope.ts";
export {
  CachingKeyPort,
  type CachingKeyPortOptions,
  type DataKey,
  type KeyPort,
  LocalKeyPort,
  MASTER_KEY_FILE,
} from "./key-port.ts";
export { MASK_PREFIX, maskValue } from "./mask-value.ts";
export {
  createMasker,
  isMaskable,
  MASK,
  type Masker,
  type MaskerOptions,
  MIN_SECRET_LENGTH,
  maskedForms,
} from "./masker.ts";
