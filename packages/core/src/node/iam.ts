/**
 * A builder on AWS proves who it is with its instance role, as Vault's AWS IAM auth method
 * does: the agent signs an STS `GetCallerIdentity` request with the role's credentials (from
 * the instance metadata) and sends the signed request, not the credentials; the server sends
 * it to STS itself and reads back the caller's ARN. No shared secret sits in user data, and a
 * stolen registration is worth little:
 *
 * - the request must go to this region's STS endpoint with the one body
 *   `Action=GetCallerIdentity&Version=2011-06-15` and a known few headers (built from an
 *   allowlist, no duplicates), so the server never fetches an address a caller chose;
 * - the signature must cover the `X-Gyre-Server-Id` header holding this installation's id, so
 *   a request signed for another Gyre (or for Vault) cannot register here;
 * - the signature must be this server's region's, signed within 5 minutes of its clock; each
 *   signature registers at most one node (its digest is kept, a conditional write, for as long
 *   as STS accepts it), so it cannot be replayed;
 * - the caller must be an `assumed-role` session of one of the configured builder roles.
 *
 * The instance id (EC2 names the role session after it) is recorded on the node: the
 * Auto Scaling lifecycle hook finds the node to drain by it (fleet.ts).
 */
import { createHash } from "node:crypto";
import { DescribeAutoScalingInstancesCommand } from "@aws-sdk/client-auto-scaling";
import { XMLParser } from "fast-xml-parser";
import type { Gyre } from "../context.ts";
import { badRequest, GyreError, unauthorized } from "../error.ts";
import type { IamRegistration } from "../protocol/agent.ts";
import { putNew } from "../store/index.ts";
import { Keys } from "../table.ts";

/** The header whose signed value names the installation the registration is for. */
export const SERVER_ID_HEADER = "x-gyre-server-id";
export const GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15";
/** STS accepts a signature this long after its signing time. */
const SIGNATURE_LIFETIME_SECONDS = 15 * 60;
/** How far the signing time may be from this server's clock. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** The headers a registration may carry, all forwarded to STS as they are; nothing else is. */
const FORWARDED = [
  "authorization",
  "content-type",
  "host",
  "x-amz-content-sha256",
  "x-amz-date",
  "x-amz-security-token",
  SERVER_ID_HEADER,
];
/** Headers the signature must cover. */
const MUST_SIGN = ["host", "x-amz-date", SERVER_ID_HEADER];
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{1,128})\/(\d{8})\/([a-z0-9-]{1,30})\/sts\/aws4_request, SignedHeaders=([a-z0-9;-]{1,500}), Signature=([0-9a-f]{64})$/;

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
   * Those roles' unique ids (`AROA…`), as STS names their sessions: a role deleted and made
   * again under the same name is refused. Absent: names only.
   */
  roleIds?: string[];
  /**
   * Only an instance InService in an Auto Scaling group whose name starts so may register
   * (checked with DescribeAutoScalingInstances). Absent: any instance of the role.
   */
  groupPrefix?: string;
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

/** This server's region's STS endpoint: the only URL a registration may name. */
export const stsEndpointFor = (region: string) => `https://sts.${region}.amazonaws.com/`;

/** What checking a registration's headers found: what to forward, and the signature's parts. */
interface CheckedRequest {
  headers: Record<string, string>;
  signature: string;
  signedAt: number;
}

/**
 * The checks that need no network, refused before anything is sent to STS: the URL is this
 * region's STS endpoint, the body the one action, the headers a known few (no duplicates), the
 * signature SigV4 for this region covering host, date and this server's id, signed within five
 * minutes of this server's clock.
 */
export function checkIamRequest(
  request: IamRegistration,
  settings: BuilderIamSettings,
  region: string,
  now: number,
): CheckedRequest {
  const url = stsEndpointFor(region);
  if (request.url !== url) throw badRequest(`aws_iam.url must be this region's STS endpoint, ${url}.`);
  if (request.body !== GET_CALLER_IDENTITY_BODY)
    throw badRequest(`aws_iam.body must be "${GET_CALLER_IDENTITY_BODY}".`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const key = name.toLowerCase();
    if (!FORWARDED.includes(key))
      throw badRequest(`aws_iam.headers may hold only ${FORWARDED.join(", ")}; not ${name}.`);
    if (key in headers) throw badRequest(`aws_iam.headers names ${key} twice.`);
    if (value !== value.trim() || /[\r\n]/.test(value))
      throw badRequest(`aws_iam.headers.${key} has stray whitespace.`);
    headers[key] = value;
  }
  if (headers.host !== undefined && headers.host !== new URL(url).host)
    throw badRequest(`aws_iam.headers.host must be ${new URL(url).host}.`);
  const parts = AUTHORIZATION.exec(headers.authorization ?? "");
  if (!parts) throw unauthorized("The registration is not a SigV4-signed STS request.");
  const [, , , scopeRegion, signedList, signature] = parts as unknown as string[];
  if (scopeRegion !== region)
    throw unauthorized(`The registration was signed for region ${scopeRegion}, not ${region}.`);
  const signed = signedList!.split(";");
  for (const name of MUST_SIGN)
    if (!signed.includes(name)) throw unauthorized(`The registration's signature does not cover ${name}.`);
  if (headers[SERVER_ID_HEADER] !== settings.serverId)
    throw unauthorized(
      "The registration was signed for another server id: set GYRE_IAM_SERVER_ID on the builder to this installation's.",
    );
  const signedAt = Date.parse(
    (headers["x-amz-date"] ?? "").replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      "$1-$2-$3T$4:$5:$6Z",
    ),
  );
  if (!Number.isFinite(signedAt) || Math.abs(now - signedAt) > CLOCK_SKEW_MS)
    throw unauthorized(
      "The registration was not signed within 5 minutes of this server's clock: sign a new one.",
    );
  return { headers: { ...headers, host: new URL(url).host }, signature: signature!, signedAt };
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false });

/** Sends the signed request to STS: the caller's identity, 401 with what STS refused, 503 when it did not answer. */
async function callerIdentity(url: string, headers: Record<string, string>, settings: BuilderIamSettings) {
  let response: Response;
  try {
    // Through the environment's proxy, trusting its private CAs (loaded here, out of a cold start).
    const { fetch } = await import("../network/fetch.ts");
    response = await fetch(settings.stsEndpoint ?? url, {
      method: "POST",
      headers,
      body: GET_CALLER_IDENTITY_BODY,
      redirect: "error",
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new GyreError("unavailable", "STS did not answer the registration check: try again.");
  }
  const text = (await response.text()).slice(0, 64 * 1024);
  let parsed: Record<string, Record<string, Record<string, string>>>;
  try {
    parsed = xml.parse(text);
  } catch {
    parsed = {};
  }
  const code = parsed.ErrorResponse?.Error?.Code;
  if (response.status >= 500 || code === "Throttling")
    throw new GyreError(
      "unavailable",
      `STS could not check the registration now (${code ?? response.status}): try again.`,
    );
  if (!response.ok)
    throw unauthorized(
      `STS refused the registration's signature: ${code ?? response.status} ${parsed.ErrorResponse?.Error?.Message ?? ""}`.trim(),
    );
  const result = parsed.GetCallerIdentityResponse?.GetCallerIdentityResult;
  if (!result?.Arn || !result.Account) throw unauthorized("STS answered without a caller identity.");
  return { arn: String(result.Arn), account: String(result.Account), userId: String(result.UserId ?? "") };
}

/** The instance must be InService in one of this installation's builder groups. */
async function checkInService(gyre: Gyre, instanceId: string | undefined, prefix: string): Promise<void> {
  if (!instanceId)
    throw unauthorized("Only an EC2 instance of a builder group may register with the builder role.");
  let found: { AutoScalingGroupName?: string; LifecycleState?: string } | undefined;
  try {
    const out = await gyre.aws.autoScaling.send(
      new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
    );
    found = out.AutoScalingInstances?.[0];
  } catch {
    throw new GyreError(
      "unavailable",
      "Auto Scaling could not be asked about the registering instance: try again.",
    );
  }
  if (!found?.AutoScalingGroupName?.startsWith(prefix) || found.LifecycleState !== "InService")
    throw unauthorized(`Instance ${instanceId} is not in service in a builder group of this installation.`);
}

/**
 * Verifies an IAM registration: the identity of a builder allowed to join, or 401 saying why
 * not. Each signed request is accepted once.
 */
export async function verifyIamRegistration(gyre: Gyre, request: IamRegistration): Promise<IamIdentity> {
  const settings = gyre.resources.builderIam;
  if (!settings)
    throw unauthorized("This server does not accept IAM registrations (no builder role is configured).");
  const checked = checkIamRequest(request, settings, gyre.resources.region, gyre.now());
  const caller = await callerIdentity(request.url, checked.headers, settings);
  const session = /^arn:aws[a-z-]*:sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/([\w+=,.@-]+)$/.exec(
    caller.arn,
  );
  if (!session)
    throw unauthorized(`${caller.arn} is not a role session: builders register with their instance role.`);
  const [, account, role, sessionName] = session as unknown as [string, string, string, string];
  const allowed = settings.roleArns.map(roleOf).some((r) => r && r.account === account && r.name === role);
  if (!allowed)
    throw unauthorized(`Role ${role} of account ${account} is not a builder role of this installation.`);
  const roleId = caller.userId.split(":")[0]!;
  if (settings.roleIds && !settings.roleIds.includes(roleId))
    throw unauthorized(
      `Role ${role} is not the builder role this installation made (its id changed: was it made again?).`,
    );
  const instanceId = /^i-[0-9a-f]{8,17}$/.test(sessionName) ? sessionName : undefined;
  if (settings.groupPrefix !== undefined) await checkInService(gyre, instanceId, settings.groupPrefix);
  // One node per signature: a replay finds it taken for as long as STS would accept it.
  const digest = createHash("sha256").update(checked.signature).digest("hex");
  const fresh = await putNew(gyre, {
    ...Keys.iamSignature(digest),
    expiresAt: Math.floor(checked.signedAt / 1000) + SIGNATURE_LIFETIME_SECONDS + 300,
  });
  if (!fresh) throw unauthorized("This signed registration was used already: sign a new one.");
  return {
    arn: caller.arn,
    account,
    role,
    ...(instanceId ? { instanceId } : {}),
  };
}
