import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GyreError } from "../error.ts";
import { decryptSecret, encryptSecret } from "./envelope.ts";
import { KmsKeyPort } from "./kms-key-port.ts";

const kms = mockClient(KMSClient);
const KEY_ID = "alias/gyre-secrets";
const plaintext = new Uint8Array(32).fill(7);
const wrapped = new Uint8Array([1, 2, 3, 4, 5, 6]);

beforeEach(() => kms.reset());
afterEach(() => kms.reset());

describe("KmsKeyPort (KMS mocked at the SDK boundary)", () => {
  const port = () => new KmsKeyPort({ keyId: KEY_ID, clientConfig: { region: "eu-west-1" } });

  it("asks KMS GenerateDataKey for an AES_256 key under the configured key id", async () => {
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: wrapped, KeyId: KEY_ID });
    const key = await port().generateDataKey();
    expect(key).toEqual({ plaintext, encrypted: wrapped });
    expect(kms.commandCalls(GenerateDataKeyCommand)[0]!.args[0].input).toEqual({
      KeyId: KEY_ID,
      KeySpec: "AES_256",
    });
  });

  it("unwraps with KMS Decrypt, naming the key id", async () => {
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext, KeyId: KEY_ID });
    expect(await port().decryptDataKey(wrapped)).toEqual(plaintext);
    expect(kms.commandCalls(DecryptCommand)[0]!.args[0].input).toEqual({
      KeyId: KEY_ID,
      CiphertextBlob: wrapped,
    });
  });

  it("round-trips a secret through encryptSecret / decryptSecret", async () => {
    kms.on(GenerateDataKeyCommand).resolves({ Plaintext: plaintext, CiphertextBlob: wrapped });
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext });
    const keys = port();
    const sealed = await encryptSecret(keys, "token-value", "gh/acme/api:TOKEN");
    expect(sealed.split(".")[1]).toBe(Buffer.from(wrapped).toString("base64url"));
    expect(await decryptSecret(keys, sealed, "gh/acme/api:TOKEN")).toBe("token-value");
    const sent = kms.commandCalls(DecryptCommand)[0]!.args[0].input.CiphertextBlob!;
    expect(Buffer.from(sent)).toEqual(Buffer.from(wrapped));
  });

  it("creates the KMS client lazily, on the first call", async () => {
    const keys = port();
    expect((keys as unknown as { client: unknown }).client).toBeUndefined();
    kms.on(DecryptCommand).resolves({ Plaintext: plaintext });
    await keys.decryptDataKey(wrapped);
    expect((keys as unknown as { client: unknown }).client).toBeInstanceOf(KMSClient);
  });

  it("turns a KMS failure into a GyreError naming the operation and the key", async () => {
    const denied = Object.assign(new Error("User is not authorized to perform kms:Decrypt"), {
      name: "AccessDeniedException",
    });
    kms.on(DecryptCommand).rejects(denied);
    const error = await port()
      .decryptDataKey(wrapped)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GyreError);
    expect((error as GyreError).message).toBe(
      "KMS Decrypt with key alias/gyre-secrets failed: AccessDeniedException: User is not authorized to perform kms:Decrypt",
    );
  });

  it("fails clearly when KMS returns no key material", async () => {
    kms.on(GenerateDataKeyCommand).resolves({});
    await expect(port().generateDataKey()).rejects.toThrow(
      /GenerateDataKey for alias\/gyre-secrets returned no key/,
    );
  });
});
