/**
 * Registration with the instance role (GYRE_AUTH=aws-iam): the agent signs an STS
 * GetCallerIdentity request with the role's credentials (the SDK's default chain: the instance
 * metadata on EC2) and hands the server the signed request, never a credential. The server
 * sends it to STS and reads back who signed it (packages/core/src/node/iam.ts). The signature
 * covers `X-Gyre-Server-Id` (GYRE_IAM_SERVER_ID), so it is good for this installation only.
 */
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { GET_CALLER_IDENTITY_BODY, SERVER_ID_HEADER } from "@gyre/core/node/iam";
import type { IamRegistration } from "@gyre/core/protocol/agent";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, Provider } from "@smithy/types";

export interface IamSigning {
  region: string;
  serverId: string;
  /** Defaults to the SDK's chain (environment, profile, container, instance metadata). */
  credentials?: AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  now?: () => Date;
}

/** The region's STS endpoint: the request is signed for that host and sent there by the server. */
export const stsUrl = (region: string) => `https://sts.${region}.amazonaws.com/`;

/** A freshly signed registration proof (each is accepted once, for 15 minutes). */
export async function signRegistration(signing: IamSigning): Promise<IamRegistration> {
  const url = new URL(stsUrl(signing.region));
  const signer = new SignatureV4({
    service: "sts",
    region: signing.region,
    credentials: signing.credentials ?? fromNodeProviderChain(),
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      path: url.pathname,
      query: {},
      headers: {
        host: url.hostname,
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        [SERVER_ID_HEADER]: signing.serverId,
      },
      body: GET_CALLER_IDENTITY_BODY,
    },
    signing.now ? { signingDate: signing.now() } : {},
  );
  return {
    url: url.toString(),
    headers: signed.headers as Record<string, string>,
    body: GET_CALLER_IDENTITY_BODY,
  };
}
