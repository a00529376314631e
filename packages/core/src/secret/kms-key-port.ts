/**
 * `KmsKeyPort`: data keys from AWS KMS (`GenerateDataKey` with `KeySpec: AES_256`, `Decrypt`)
 * under one KMS key. The client is created on first use, so importing this module costs
 * nothing at cold start. In its own module so that code which never uses KMS never loads
 * the AWS SDK (see `./key-port.ts` for the port).
 */
import { DecryptCommand, GenerateDataKeyCommand, KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import { GyreError } from "../error.ts";
import { processAgents } from "../network/agents.ts";
import type { DataKey, KeyPort } from "./key-port.ts";

export interface KmsKeyPortOptions {
  /** Key id, ARN or alias (`alias/gyre-secrets`). */
  keyId: string;
  /** Client configuration (region, endpoint, credentials); used when the client is first needed. */
  clientConfig?: KMSClientConfig;
}

export class KmsKeyPort implements KeyPort {
  private client: KMSClient | undefined;

  constructor(private readonly options: KmsKeyPortOptions) {}

  async generateDataKey(): Promise<DataKey> {
    const answer = await this.call("GenerateDataKey", () =>
      this.kms().send(new GenerateDataKeyCommand({ KeyId: this.options.keyId, KeySpec: "AES_256" })),
    );
    if (!answer?.Plaintext || !answer.CiphertextBlob) {
      throw new GyreError("internal", `KMS GenerateDataKey for ${this.options.keyId} returned no key.`);
    }
    return { plaintext: answer.Plaintext, encrypted: answer.CiphertextBlob };
  }

  async decryptDataKey(encrypted: Uint8Array): Promise<Uint8Array> {
    const answer = await this.call("Decrypt", () =>
      this.kms().send(new DecryptCommand({ KeyId: this.options.keyId, CiphertextBlob: encrypted })),
    );
    if (!answer?.Plaintext)
      throw new GyreError("internal", `KMS Decrypt with ${this.options.keyId} returned no key.`);
    return answer.Plaintext;
  }

  private kms(): KMSClient {
    // Through the environment's proxy, trusting its private CAs (network/), unless configured otherwise.
    this.client ??= new KMSClient({ ...processAgentsHandler(), ...this.options.clientConfig });
    return this.client;
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = error instanceof Error ? error.name : "Error";
      const message = error instanceof Error ? error.message : String(error);
      throw new GyreError(
        "internal",
        `KMS ${operation} with key ${this.options.keyId} failed: ${name}: ${message}`,
      );
    }
  }
}

function processAgentsHandler(): Pick<KMSClientConfig, "requestHandler"> {
  const agents = processAgents({ keepAlive: true });
  return agents ? { requestHandler: agents } : {};
}
