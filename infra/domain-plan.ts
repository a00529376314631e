/**
 * The API's custom domain, read from the deploying shell's environment (plain data: no SST or
 * Pulumi globals, so test/infra checks it offline). infra/api.ts hands it to the HTTP API's
 * `domain`; unset, the API keeps its `execute-api` URL. docs/deploy.md, "A custom domain".
 *
 * - GYRE_DOMAIN: the name (`ci.example.com`, or `{stage}.ci.example.com`: one per stage).
 * - GYRE_CERTIFICATE_ARN: an ACM certificate for it, in the stage's region, already issued
 *   (the API is regional). Without one, SST requests a certificate and validates it in Route 53.
 * - GYRE_DOMAIN_ZONE: the Route 53 hosted zone to validate in and point at the API. With a
 *   certificate and no zone, DNS is left to the operator (a CNAME to the domain's target).
 */
export interface ApiDomainPlan {
  name: string;
  /** ACM certificate ARN; absent: SST makes and validates one in Route 53. */
  cert?: string;
  /** Route 53 records made by SST (in this zone, or the zone found by name), or none (`false`). */
  dns: false | { zone?: string };
}

const DOMAIN_NAME = /^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$/;
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;

export function apiDomainPlan(
  env: Record<string, string | undefined>,
  stage: string,
): ApiDomainPlan | undefined {
  const raw = env.GYRE_DOMAIN?.trim();
  const cert = env.GYRE_CERTIFICATE_ARN?.trim() || undefined;
  const zone = env.GYRE_DOMAIN_ZONE?.trim() || undefined;
  if (!raw) {
    if (cert || zone)
      throw new Error("GYRE_CERTIFICATE_ARN and GYRE_DOMAIN_ZONE need GYRE_DOMAIN, the API's domain name.");
    return undefined;
  }
  const name = raw
    .replace(/\{stage\}/g, stage)
    .toLowerCase()
    .replace(/\.$/, "");
  if (!DOMAIN_NAME.test(name)) throw new Error(`GYRE_DOMAIN is not a domain name: "${raw}".`);
  if (cert && !ACM_ARN.test(cert))
    throw new Error(`GYRE_CERTIFICATE_ARN is not an ACM certificate ARN: "${cert}".`);
  const certRegion = cert?.split(":")[3];
  if (certRegion && env.AWS_REGION && certRegion !== env.AWS_REGION)
    throw new Error(
      `GYRE_CERTIFICATE_ARN is in ${certRegion} but the stage deploys to ${env.AWS_REGION}: an HTTP API's domain needs a certificate in its own region.`,
    );
  return {
    name,
    ...(cert ? { cert } : {}),
    dns: zone ? { zone } : cert ? false : {},
  };
}
