/**
 * A builder on AWS proves who it is with its instance role, as Vault's AWS IAM auth method
 * does: the agent signs an STS `GetCallerIdentity` request with the role's credentials (from
 * the instance metadata) and sends the signed request, not the credentials; the server sends
 * it to STS itself and reads back the caller's ARN. No shared secret sits in user data, and a
 * stolen registration is worth little:
 *
 * - the request must go to an STS endpoint (`https://sts[.<region>].amazonaws.com/`), with the
 *   one body `Action=GetCallerIdentity&Version=2011-06-15`, so the server never fetches an
 *   address a caller chose;
 * - the signature must cover the `X-Gyre-Server-Id` header holding this installation's id, so
 *   a request signed for another Gyre (or for Vault) cannot register here;
 * - STS refuses a signature older than 15 minutes, and each signature registers at most one
 *   node (its digest is kept for 15 minutes, a conditional write), so it cannot be replayed;
 * - the caller must be an `assumed-role` session of one of the configured builder roles.
 *
 * The instance id (EC2 names the role session after it) is recorded on the node: the
 * Auto Scaling lifecycle hook finds the node to drain by it (fleet.ts).
 */
import { createHash } from "node:crypto";
import { XMLParser } from "fast-xml-parser";
import type { Gyre } from "../context.ts";
import { badRequest, unauthorized } from "../error.ts";
import type { IamRegistration } from "../protocol/agent.ts";
import { putNew } from "../store/index.ts";
import { Keys } from "../table.ts";

/** The header whose signed value names the installation the registration is for. */
export const SERVER_ID_HEADER = "x-gyre-server-id";
export const GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15";
/** STS refuses older signatures; a used one is remembered this long. */
const SIGNATURE_LIFETIME_SECONDS = 15 * 60;
const STS_URL = /^https:\/\/sts(\.[a-z]{2}(-gov)?-[a-z]+-\d)?\.amazonaws\.com(\.cn)?\/$/;

/** Who a verified registration speaks for. */
export interface IamIdentity {
  /** The role session's ARN: `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  arn: string;
  account: string;
  role: string;
  /** The EC2 instance, when the session is an instance profile's (named after the instance). */
  instanceId?: string;
}

/** How this installation checks IAM registrations (Settings `builderIam`; absent: not accepted). */
export interface BuilderIamSettings {
  /** The value builders sign in `X-Gyre-Server-Id` (the stack sets `<app>-<stage>`). */
  serverId: string;
  /** Role ARNs (`arn:aws:iam::<account>:role/<path/><name>`) whose sessions may register. */
  roleArns: string[];
  /**
   * Where to send the signed request instead of the URL it names: only for a test's stand-in
   * for STS. The URL the builder signed must still be an STS endpoint.
   */
  stsEndpoint?: string;
}

/** `arn:aws:iam::123:role/path/name` → {account, name}; the session ARN loses the path. */
function roleOf(arn: string): { account: string; name: string } | undefined {
  const match = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/.exec(arn);
  return match ? { account: match[1]!, name: match[2]! } : undefined;
}

const header = (headers: Record<string, string>, name: string) =>
  Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];

/** The checks that need no network: refused before anything is sent to STS. */
export function checkIamRequest(request: IamRegistration, settings: BuilderIamSettings): void {
  if (!STS_URL.test(request.url))
    throw badRequest(
      `aws_iam.url must be an STS endpoint such as https://sts.us-east-1.amazonaws.com/, not "${request.url}".`,
    );
  if (request.body !== GET_CALLER_IDENTITY_BODY)
    throw badRequest(`aws_iam.body must be "${GET_CALLER_IDENTITY_BODY}".`);
  const authorization = header(request.headers, "authorization") ?? "";
  const signed = /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1]?.split(";") ?? [];
  if (!authorization.startsWith("AWS4-HMAC-SHA256 ") || signed.length === 0)
    throw unauthorized("The registration is not a SigV4-signed request.");
  if (!signed.includes(SERVER_ID_HEADER))
    throw unauthorized(`The registration's signature does not cover ${SERVER_ID_HEADER}.`);
  const serverId = header(request.headers, SERVER_ID_HEADER);
  if (serverId !== settings.serverId)
    throw unauthorized(
      `The registration was signed for server "${serverId ?? ""}", not this one ("${settings.serverId}"): set GYRE_IAM_SERVER_ID on the builder.`,
    );
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** Sends the signed request to STS; the caller's identity, or 401 with what STS said. */
async function callerIdentity(request: IamRegistration, settings: BuilderIamSettings) {
  let response: Response;
  try {
    response = await fetch(settings.stsEndpoint ?? request.url, {
      method: "POST",
      headers: request.headers,
      body: request.body,
      redirect: "error",
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw unauthorized(`STS could not be reached to check the registration: ${(error as Error).message}`);
  }
  const text = (await response.text()).slice(0, 64 * 1024);
  let parsed: Record<string, Record<string, Record<string, string>>>;
  try {
    parsed = xml.parse(text);
  } catch {
    parsed = {};
  }
  if (!response.ok) {
    const error = parsed.ErrorResponse?.Error;
    throw unauthorized(
      `STS refused the registration's signature: ${error?.Code ?? response.status} ${error?.Message ?? ""}`.trim(),
    );
  }
  const result = parsed.GetCallerIdentityResponse?.GetCallerIdentityResult;
  if (!result?.Arn || !result.Account) throw unauthorized("STS answered without a caller identity.");
  return { arn: String(result.Arn), account: String(result.Account) };
}

/**
 * Verifies an IAM registration: the identity of a builder allowed to join, or 401 saying why
 * not. Each signed request is accepted once.
 */
export async function verifyIamRegistration(gyre: Gyre, request: IamRegistration): Promise<IamIdentity> {
  const settings = gyre.resources.builderIam;
  if (!settings)
    throw unauthorized("This server does not accept IAM registrations (no builder role is configured).");
  checkIamRequest(request, settings);
  const caller = await callerIdentity(request, settings);
  const session = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/([\w+=,.@-]+)$/.exec(
    caller.arn,
  );
  if (!session)
    throw unauthorized(`${caller.arn} is not a role session: builders register with their instance role.`);
  const [, account, role, sessionName] = session as unknown as [string, string, string, string];
  const allowed = settings.roleArns.map(roleOf).some((r) => r && r.account === account && r.name === role);
  if (!allowed)
    throw unauthorized(`Role ${role} of account ${account} is not a builder role of this installation.`);
  // One node per signature: a replay within STS's 15 minutes finds the digest taken.
  const signature = header(request.headers, "authorization")!;
  const digest = createHash("sha256").update(signature).digest("hex");
  const fresh = await putNew(gyre, {
    ...Keys.iamSignature(digest),
    expiresAt: Math.floor(gyre.now() / 1000) + SIGNATURE_LIFETIME_SECONDS,
  });
  if (!fresh) throw unauthorized("This signed registration was used already: sign a new one.");
  return {
    arn: caller.arn,
    account,
    role,
    ...(/^i-[0-9a-f]{8,17}$/.test(sessionName) ? { instanceId: sessionName } : {}),
  };
}
