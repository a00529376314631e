/**
 * For tests: a stand-in for STS's GetCallerIdentity (AWS has no local one). It checks a
 * request's SigV4 signature as STS does, by signing the same canonical request again with the
 * secret of the access key it names (with @smithy/signature-v4, the SDK's signer), refuses a
 * wrong or stale signature (15 minutes) with STS's error document, and answers with the
 * caller's ARN. Nothing about the request is taken on trust.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";

export interface StsPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** What GetCallerIdentity answers: `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  arn: string;
}

export interface StsStandIn {
  /** Where to send requests (the server's `builderIam.stsEndpoint`). */
  url: string;
  /** Requests it answered, in order, with their outcome. */
  calls: { ok: boolean; code?: string }[];
  close(): Promise<void>;
}

const stsError = (code: string, message: string) =>
  `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>0</RequestId></ErrorResponse>`;

const read = (request: IncomingMessage) =>
  new Promise<string>((ok, fail) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => ok(body));
    request.on("error", fail);
  });

/** `/20260101T000000Z` → a Date. */
const amzDate = (raw: string) =>
  new Date(raw.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));

/**
 * Serves STS for `host` (the name the requests were signed for, as the real endpoint knows its
 * own) and the given principals; `now` is its clock.
 */
export async function startStsStandIn(
  host: string,
  principals: StsPrincipal[],
  now: () => number = Date.now,
): Promise<StsStandIn> {
  const calls: StsStandIn["calls"] = [];
  const server: Server = createServer(async (request, response) => {
    const answer = (status: number, xml: string, code?: string) => {
      calls.push({ ok: status === 200, ...(code ? { code } : {}) });
      response.writeHead(status, { "content-type": "text/xml" }).end(xml);
    };
    const body = await read(request);
    const authorization = String(request.headers.authorization ?? "");
    const parts =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!parts)
      return answer(403, stsError("IncompleteSignature", "Malformed Authorization."), "IncompleteSignature");
    const [, keyId, , region, signedList, signature] = parts as unknown as string[];
    const principal = principals.find((p) => p.accessKeyId === keyId);
    if (!principal)
      return answer(
        403,
        stsError("InvalidClientTokenId", "The security token included in the request is invalid."),
        "InvalidClientTokenId",
      );
    const date = amzDate(String(request.headers["x-amz-date"] ?? ""));
    if (Number.isNaN(date.getTime()) || Math.abs(now() - date.getTime()) > 15 * 60_000)
      return answer(403, stsError("SignatureDoesNotMatch", "Signature expired."), "SignatureDoesNotMatch");
    const headers: Record<string, string> = {};
    for (const name of signedList!.split(";"))
      headers[name] = name === "host" ? host : String(request.headers[name] ?? "");
    const signer = new SignatureV4({
      service: "sts",
      region: region!,
      credentials: principal,
      sha256: Sha256,
    });
    const expected = await signer.sign(
      {
        method: request.method ?? "POST",
        protocol: "https:",
        hostname: host,
        path: "/",
        query: {},
        headers,
        body,
      },
      { signingDate: date },
    );
    if (!String(expected.headers.authorization).endsWith(`Signature=${signature}`))
      return answer(
        403,
        stsError(
          "SignatureDoesNotMatch",
          "The request signature we calculated does not match the signature you provided.",
        ),
        "SignatureDoesNotMatch",
      );
    if (body !== "Action=GetCallerIdentity&Version=2011-06-15")
      return answer(400, stsError("InvalidAction", "Could not find operation."), "InvalidAction");
    const account = principal.arn.split(":")[4];
    answer(
      200,
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${principal.arn}</Arn><UserId>AROAEXAMPLE:${principal.arn.split("/").pop()}</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    );
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    calls,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
