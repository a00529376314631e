/**
 * The builder fleet: one EC2 Auto Scaling group per resource class (infra/fleet-plan.ts says
 * which instances and how many), each instance booting the agent bundle from the API and
 * registering with the instance role (no secret in user data). A class either keeps a warm pool
 * of stopped, pre-installed instances (on demand, one type: AWS allows no warm pool with spot or
 * mixed types) for scale-out in seconds, or mixes the size's types on spot with an on-demand
 * share and capacity rebalancing.
 *
 * Scaling: the scaler (every minute, packages/functions/src/scaler.ts) sets each group's desired
 * capacity from its queue and running jobs and lets only idle instances go; the working-hours
 * schedule raises and lowers each group's minimum. Whatever terminates an instance (scale-in, a
 * spot rebalance, an instance refresh), the `drain-before-terminate` hook holds it until its
 * node runs nothing (packages/functions/src/fleet.ts, then the reconciler).
 */
import { queueKey } from "../packages/core/src/resources.ts";
import { deployBundle } from "./agent-bundle.ts";
import { api, settings } from "./api.ts";
import { builderRole } from "./builder-role.ts";
import { fleetControlPermissions, jobStateMachine } from "./dispatch.ts";
import {
  bootScript,
  builderGrants,
  FLEET,
  fleetNames,
  instanceTypes,
  SSH_PORTS,
  scheduleActions,
} from "./fleet-plan.ts";
import { lambdaDefaults, STAGE_NETWORK } from "./function.ts";
import { policyDocument } from "./policies.ts";
import { jobQueues, jobQueuesLink } from "./queues.ts";
import { bucket, table } from "./storage.ts";

const names = fleetNames($app.name, $app.stage);
const region = aws.getRegionOutput({});
const HOOK = "drain-before-terminate";

/** The agent, bundled at deploy time and fetched by each booting instance through the API. */
const bundle = deployBundle();
export const agentBundle = new aws.s3.BucketObjectv2("AgentBundle", {
  bucket: bucket.name,
  key: names.agentBundleKey(bundle.sha256),
  source: new $util.asset.FileAsset(bundle.path),
  contentType: "text/javascript",
});

new aws.iam.RolePolicy("BuilderRolePolicy", {
  role: builderRole.id,
  policy: $resolve(Object.values(jobQueues).map((q) => q.arn)).apply((jobQueueArns) =>
    JSON.stringify(policyDocument(builderGrants({ jobQueueArns }))),
  ),
});
const instanceProfile = new aws.iam.InstanceProfile("BuilderInstanceProfile", { role: builderRole.name });

const vpc = aws.ec2.getVpcOutput({ default: true });
const subnetIds = FLEET.subnetIds
  ? $output(FLEET.subnetIds)
  : aws.ec2.getSubnetsOutput({
      filters: [
        { name: "vpc-id", values: [vpc.id] },
        { name: "default-for-az", values: ["true"] },
      ],
    }).ids;
/**
 * Builders take no inbound connection but SSH reruns' (SSH_PORTS, from FLEET.sshCidrs only);
 * they reach the API, the queues and what jobs fetch.
 */
const [sshLow, sshHigh] = SSH_PORTS.split("-").map(Number) as [number, number];
const securityGroup = new aws.ec2.SecurityGroup("BuilderSecurityGroup", {
  vpcId: FLEET.subnetIds ? aws.ec2.getSubnetOutput({ id: FLEET.subnetIds[0]! }).vpcId : vpc.id,
  description: FLEET.sshCidrs?.length ? "Gyre builders: SSH reruns only" : "Gyre builders: no ingress",
  ingress: (FLEET.sshCidrs ?? []).map((cidr) => ({
    protocol: "tcp",
    fromPort: sshLow,
    toPort: sshHigh,
    cidrBlocks: [cidr],
    description: "SSH reruns",
  })),
  egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
});
const imageId = FLEET.image.startsWith("ami-")
  ? $output(FLEET.image)
  : aws.ssm.getParameterOutput({ name: FLEET.image }).value;

export const groups = Object.entries(FLEET.classes).map(([resourceClass, plan]) => {
  const key = queueKey(resourceClass);
  const suffix = key.replace(/[^A-Za-z0-9]/g, "");
  const template = new aws.ec2.LaunchTemplate(`BuilderTemplate${suffix}`, {
    imageId,
    iamInstanceProfile: { arn: instanceProfile.arn },
    vpcSecurityGroupIds: [securityGroup.id],
    // IMDSv2 only, one hop, no IPv6 address; the boot script refuses it to all but root.
    metadataOptions: {
      httpTokens: "required",
      httpPutResponseHopLimit: 1,
      httpProtocolIpv6: "disabled",
      instanceMetadataTags: "disabled",
    },
    blockDeviceMappings: [
      { deviceName: "/dev/sda1", ebs: { volumeSize: FLEET.volumeGb, volumeType: "gp3", encrypted: "true" } },
    ],
    userData: $resolve([api.url, jobQueues[resourceClass]!.url, region.name]).apply(
      ([apiUrl, queueUrl, name]) =>
        Buffer.from(
          bootScript({
            apiUrl,
            serverId: names.serverId,
            region: name,
            resourceClass,
            queueUrl,
            nodeVersion: FLEET.nodeVersion,
            bundleSha256: bundle.sha256,
            maxJobSeconds: 18_000,
            // The stage's proxy and private CAs (GYRE_STAGE_*), as the functions get them.
            network: STAGE_NETWORK,
          }),
        ).toString("base64"),
    ),
    // The group's overrides pick among the size's types; a warm group runs the first.
    instanceType: plan.warm > 0 ? instanceTypes(plan)[0] : undefined,
    tagSpecifications: [{ resourceType: "instance", tags: { Name: `gyre-${$app.stage}-builder-${key}` } }],
    updateDefaultVersion: true,
  });
  // A warm pool takes one instance type on demand (AWS allows no warm pool with a mixed
  // instances policy or spot); without one the group mixes the size's types on spot.
  const warm = plan.warm > 0;
  const group = new aws.autoscaling.Group(`Builders${suffix}`, {
    name: names.group(key),
    minSize: plan.min,
    maxSize: plan.max,
    vpcZoneIdentifiers: subnetIds,
    ...(warm
      ? {
          launchTemplate: { id: template.id, version: $interpolate`${template.latestVersion}` },
          // Exactly `warm` stopped instances (without a maximum the pool is max − desired).
          warmPool: { poolState: "Stopped", minSize: plan.warm, maxGroupPreparedCapacity: plan.warm },
        }
      : {
          capacityRebalance: true,
          mixedInstancesPolicy: {
            instancesDistribution: {
              onDemandBaseCapacity: FLEET.onDemandBase,
              onDemandPercentageAboveBaseCapacity: FLEET.onDemandPercentAbove,
              spotAllocationStrategy: "price-capacity-optimized",
            },
            launchTemplate: {
              launchTemplateSpecification: {
                launchTemplateId: template.id,
                version: $interpolate`${template.latestVersion}`,
              },
              overrides: instanceTypes(plan).map((instanceType) => ({ instanceType })),
            },
          },
        }),
    // A deploy that changes the template (a new agent bundle, say) replaces the instances, a
    // few at a time; each is drained by the lifecycle hook first, so no running job is lost.
    instanceRefresh: {
      strategy: "Rolling",
      preferences: { minHealthyPercentage: 50, instanceWarmup: "120" },
    },
    initialLifecycleHooks: [
      {
        name: HOOK,
        lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
        // Kept alive by the reconciler's heartbeats (every 10 minutes) while a job finishes.
        heartbeatTimeout: 7200,
        defaultResult: "CONTINUE",
      },
    ],
    enabledMetrics: [
      "GroupInServiceInstances",
      "GroupDesiredCapacity",
      "GroupPendingInstances",
      "GroupTerminatingInstances",
    ],
    metricsGranularity: "1Minute",
    tags: [{ key: "gyre:resource-class", value: resourceClass, propagateAtLaunch: true }],
  });
  for (const action of scheduleActions(resourceClass, FLEET))
    new aws.autoscaling.Schedule(
      `Builders${suffix}Schedule${action.name === "working-hours" ? "Up" : "Down"}`,
      {
        autoscalingGroupName: group.name,
        scheduledActionName: action.name,
        recurrence: action.recurrence,
        timeZone: action.timeZone,
        minSize: action.minSize,
        maxSize: action.maxSize,
      },
    );
  return group;
});

export const controlGrants = fleetControlPermissions();

/** Sizes each group every minute from its queue and its nodes. */
export const scaler = new sst.aws.CronV2("FleetScaler", {
  schedule: "rate(1 minute)",
  function: {
    ...lambdaDefaults,
    handler: "packages/functions/src/scaler.handler",
    timeout: "50 seconds",
    link: [table, jobQueuesLink, jobStateMachine, settings],
    permissions: controlGrants,
  },
});

/** A terminating builder's lifecycle action: drain its node (the reconciler completes it). */
const lifecycle = new sst.aws.Function("FleetLifecycle", {
  ...lambdaDefaults,
  handler: "packages/functions/src/fleet.handler",
  timeout: "30 seconds",
  link: [table, jobQueuesLink, jobStateMachine, settings],
  permissions: controlGrants,
});
const rule = new aws.cloudwatch.EventRule("FleetTerminatingRule", {
  eventPattern: $jsonStringify({
    source: ["aws.autoscaling"],
    "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
    detail: { AutoScalingGroupName: groups.map((g) => g.name) },
  }),
});
new aws.cloudwatch.EventTarget("FleetTerminatingTarget", { rule: rule.name, arn: lifecycle.arn });
/** Spot interruption notices (any instance: the handler acts only on builders' nodes). */
const spotRule = new aws.cloudwatch.EventRule("FleetSpotInterruptionRule", {
  eventPattern: JSON.stringify({
    source: ["aws.ec2"],
    "detail-type": ["EC2 Spot Instance Interruption Warning"],
  }),
});
new aws.cloudwatch.EventTarget("FleetSpotInterruptionTarget", { rule: spotRule.name, arn: lifecycle.arn });
new aws.lambda.Permission("FleetSpotInterruptionInvoke", {
  action: "lambda:InvokeFunction",
  function: lifecycle.name,
  principal: "events.amazonaws.com",
  sourceArn: spotRule.arn,
});
new aws.lambda.Permission("FleetTerminatingInvoke", {
  action: "lambda:InvokeFunction",
  function: lifecycle.name,
  principal: "events.amazonaws.com",
  sourceArn: rule.arn,
});
