/**
 * Gyre's public face: the HTTP API (GitHub webhooks at POST /webhooks/github, the CircleCI API
 * at /api/v2/*, the builder agents' endpoints, the web UI) and the Settings every function
 * reads. Its one route is attached in infra/intake.ts, once the dispatch resources it links to
 * exist: the gateway itself depends on no function, so every function, the HTTP app included,
 * can link Settings with the API's URL without a cycle.
 */
import { LinkNames, queueKey } from "../packages/core/src/resources.ts";
import { deployBundle } from "./agent-bundle.ts";
import { builderRole } from "./builder-role.ts";
import { apiDomainPlan } from "./domain-plan.ts";
import { FLEET, fleetNames, slotsPerInstance } from "./fleet-plan.ts";

/**
 * The API's custom domain with its ACM certificate, when the deploying shell names one
 * (GYRE_DOMAIN, GYRE_CERTIFICATE_ARN, GYRE_DOMAIN_ZONE: infra/domain-plan.ts); `api.url`, and so
 * every URL Gyre hands out, is then https://<domain>.
 */
const domainPlan = apiDomainPlan(process.env, $app.stage);
const domain = domainPlan && {
  name: domainPlan.name,
  ...(domainPlan.cert ? { cert: domainPlan.cert } : {}),
  dns: domainPlan.dns === false ? (false as const) : sst.aws.dns(domainPlan.dns),
};

/** No gateway CORS: the web UI is served from this same API, and the HTTP app owns its routes. */
export const api = new sst.aws.ApiGatewayV2("Api", { cors: false, ...(domain ? { domain } : {}) });

const names = fleetNames($app.name, $app.stage);

export const settings = new sst.Linkable(LinkNames.settings, {
  properties: {
    /** The stage: the `Env` dimension of every metric the functions emit (infra/metrics.ts). */
    stage: $app.stage,
    /** Seconds a builder node may go silent before it is down and its allocations are lost. */
    heartbeatSeconds: 60,
    /** Seconds an allocation may wait in its queue for a builder (a day; the execution lives 7). */
    queueTimeoutSeconds: 86_400,
    /** CircleCI's maximum job run time. */
    maxJobSeconds: 18_000,
    /** Public base URL: output and artifact URLs, commit-status links, agent callbacks. */
    apiUrl: api.url,
    /** Builders register with the fleet's instance role (infra/fleet.ts), no shared secret. */
    builderIam: {
      serverId: names.serverId,
      roleArns: [builderRole.arn],
      // STS names a session by its role's unique id: a role deleted and made again is refused.
      roleIds: [builderRole.uniqueId],
      // Only an instance InService in one of this stage's builder groups may register.
      groupPrefix: names.group(""),
    },
    /** The groups the scaler sizes, and the agent bundle booting instances fetch. */
    fleet: {
      groups: Object.entries(FLEET.classes).map(([resourceClass, group]) => ({
        name: names.group(queueKey(resourceClass)),
        resourceClass,
        slotsPerInstance: slotsPerInstance(resourceClass, group),
      })),
      idleSeconds: FLEET.idleSeconds,
      agentBundleKey: names.agentBundleKey(deployBundle().sha256),
    },
  },
});
