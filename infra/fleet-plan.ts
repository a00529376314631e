/**
 * The builder fleet's plan as plain data and functions (no SST or Pulumi globals, so
 * test/infra checks it offline): which instances each resource class runs on, how many jobs
 * each fits, what the builders may do, the boot script that installs and starts the agent, and
 * the working-hours schedule. infra/fleet.ts turns it into resources. Operators change the
 * fleet by editing FLEET below (docs/deploy.md, "The builder fleet").
 */
import { DEFAULT_RESERVED } from "../packages/agent/src/capacity.ts";
import { CIRCLECI_RESOURCE_CLASSES } from "../packages/agent/src/sandbox/resources.ts";
import type { StageNetwork } from "./network-plan.ts";
import type { Grant } from "./policies.ts";

export interface InstanceSize {
  vcpus: number;
  memoryMb: number;
}

/** x86-64 types, interchangeable within a size: the group takes whichever spot has room. */
const SIZES: Record<string, { types: string[] } & InstanceSize> = {
  "2xlarge": {
    types: ["m7i.2xlarge", "m6i.2xlarge", "m6a.2xlarge", "m7a.2xlarge"],
    vcpus: 8,
    memoryMb: 32_768,
  },
  "4xlarge": {
    types: ["m7i.4xlarge", "m6i.4xlarge", "m6a.4xlarge", "m7a.4xlarge"],
    vcpus: 16,
    memoryMb: 65_536,
  },
  "8xlarge": {
    types: ["m7i.8xlarge", "m6i.8xlarge", "m6a.8xlarge", "m7a.8xlarge"],
    vcpus: 32,
    memoryMb: 131_072,
  },
};

export interface ClassGroup {
  /** The instance size its builders run on (a key of SIZES). */
  size: keyof typeof SIZES;
  /** Instances kept whatever the load; the schedule raises it in working hours. */
  min: number;
  max: number;
  /** Stopped, pre-installed instances waiting in the warm pool (seconds, not minutes, to start). */
  warm: number;
}

export interface FleetSettings {
  /** Resource class → its group. A class left out gets no builders on AWS. */
  classes: Record<string, ClassGroup>;
  /** On-demand instances each group keeps under spot; above them, this share is on-demand. */
  onDemandBase: number;
  onDemandPercentAbove: number;
  /** An idle builder is let go after this long (the scaler). */
  idleSeconds: number;
  /** Working hours: each group's minimum rises to `min` then, and falls to 0 outside them. */
  schedule?: { timeZone: string; start: string; end: string; days: string; min: Record<string, number> };
  /** AMI: an SSM parameter path (Canonical's Ubuntu 24.04 by default) or an ami- id. */
  image: string;
  /** Node.js the boot script installs (checked against the release's SHASUMS256.txt). */
  nodeVersion: string;
  /**
   * Who may reach a job rerun with SSH (CIDRs; SSH_PORTS on the builders). None: nobody outside
   * the builders' security group, so SSH reruns are not reachable.
   */
  sshCidrs?: string[];
  /** Subnets for the builders (outbound internet needed); none: the default VPC's. */
  subnetIds?: string[];
  volumeGb: number;
}

export const FLEET: FleetSettings = {
  classes: {
    small: { size: "2xlarge", min: 0, max: 10, warm: 1 },
    medium: { size: "2xlarge", min: 0, max: 10, warm: 1 },
    "medium+": { size: "2xlarge", min: 0, max: 5, warm: 0 },
    large: { size: "4xlarge", min: 0, max: 5, warm: 0 },
    xlarge: { size: "8xlarge", min: 0, max: 3, warm: 0 },
    "2xlarge": { size: "8xlarge", min: 0, max: 2, warm: 0 },
  },
  // The first instance of a spot group is on demand: a class still runs when spot has no room.
  onDemandBase: 1,
  onDemandPercentAbove: 0,
  idleSeconds: 600,
  schedule: {
    timeZone: "Etc/UTC",
    start: "0 8",
    end: "0 19",
    days: "MON-FRI",
    min: { medium: 1 },
  },
  image: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
  nodeVersion: "v22.11.0",
  volumeGb: 100,
};

export const instanceTypes = (group: ClassGroup) => SIZES[group.size]!.types;

/** Names the server and the fleet share, fixed so Settings can carry them without a cycle. */
export const fleetNames = (app: string, stage: string) => ({
  /** What builders sign in X-Gyre-Server-Id. */
  serverId: `${app}-${stage}`,
  builderRole: `${app}-${stage}-builder`.slice(0, 64),
  group: (queueKey: string) => `${app}-${stage}-builders-${queueKey}`,
  /** The bundle's key in the bucket: named by its digest, so a deploy never changes a booting instance's. */
  agentBundleKey: (sha256: string) => `fleet/gyre-agent-${sha256.slice(0, 16)}.mjs`,
  /** Every builder group's ARN (IAM matches the group id part with `*`). */
  groupArns: (region: string, account: string) =>
    `arn:aws:autoscaling:${region}:${account}:autoScalingGroup:*:autoScalingGroupName/${app}-${stage}-builders-*`,
});

/** Jobs of `resourceClass` one instance of the group's size runs at once, less the agent's reserve. */
export function slotsPerInstance(resourceClass: string, group: ClassGroup): number {
  const job = CIRCLECI_RESOURCE_CLASSES[resourceClass];
  if (!job) throw new Error(`Unknown resource class ${resourceClass}.`);
  const size = SIZES[group.size]!;
  const slots = Math.min(
    Math.floor((size.vcpus - DEFAULT_RESERVED.cpus) / job.cpus),
    Math.floor((size.memoryMb - DEFAULT_RESERVED.memoryMb) / job.memoryMb),
  );
  if (slots < 1) throw new Error(`Resource class ${resourceClass} does not fit a ${group.size} builder.`);
  return slots;
}

/**
 * The builders' instance role: receive, put back and delete messages of the job queues. The
 * rest goes through Gyre's API with the node's own credential, after it proves this role.
 */
export function builderGrants<R>(target: { jobQueueArns: R[] }): Grant<R>[] {
  return [
    {
      actions: [
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
      ],
      resources: target.jobQueueArns,
    },
  ];
}

/** Lets EC2 instances assume the builder role. */
export const builderTrustPolicy = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
};

/** What the scaler and the lifecycle handler may do to the builder groups. */
export function fleetControlGrants<R>(target: { groupArns: R[] }): Grant<R | "*">[] {
  return [
    {
      actions: [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
      ],
      resources: target.groupArns,
    },
    // Describe calls take no resource-level permissions.
    { actions: ["autoscaling:DescribeAutoScalingGroups"], resources: ["*"] },
  ];
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export interface BootSettings {
  apiUrl: string;
  serverId: string;
  region: string;
  resourceClass: string;
  queueUrl: string;
  nodeVersion: string;
  /** SHA-256 (hex) of the agent bundle the deploy uploaded: the download is checked against it. */
  bundleSha256: string;
  /** The longest a job runs: systemd waits this long for a drain on stop. */
  maxJobSeconds: number;
  /** The stage's proxy and private CAs (infra/network-plan.ts): setup and the agent use them. */
  network?: StageNetwork;
}

/** The ports an SSH rerun's sshd may take on a builder (CircleCI's range). */
export const SSH_PORTS = "64535-65535";

/** Where the root-owned helper puts the role's credentials for the agent (never a job's view). */
const CREDENTIALS = "/run/gyre/aws-credentials.json";
/** The stage's private CAs on a builder: the agent's GYRE_CA_BUNDLE; also in the system's store. */
export const BUILDER_CA_FILE = "/etc/gyre/ca-bundle.pem";
/** The instance metadata address: never through a proxy (the role's credentials come from there). */
const IMDS = "169.254.169.254";

/**
 * The builder's view of the stage's network: the proxy variables for the agent (NO_PROXY with the
 * metadata address added), in both cases for setup's apt and curl (curl reads `http_proxy` in
 * lower case only), the apt configuration, and the CA certificates one a file (for
 * update-ca-certificates, which takes a file per certificate).
 */
export function builderNetwork(network: StageNetwork | undefined) {
  const proxy = { ...network?.proxy };
  if (proxy.HTTP_PROXY || proxy.HTTPS_PROXY) {
    const listed = (proxy.NO_PROXY ?? "").split(/[\s,]+/).filter(Boolean);
    proxy.NO_PROXY = (listed.includes(IMDS) ? listed : [...listed, IMDS]).join(",");
  }
  const both = Object.entries(proxy).flatMap(([k, v]) => [
    [k, v],
    [k.toLowerCase(), v],
  ]);
  const apt = [
    ...(proxy.HTTP_PROXY ? [`Acquire::http::Proxy "${proxy.HTTP_PROXY}";`] : []),
    ...(proxy.HTTPS_PROXY ? [`Acquire::https::Proxy "${proxy.HTTPS_PROXY}";`] : []),
  ];
  // caCertificates is certificate blocks only, one after the other (trust.ts pemCertificates).
  const certificates = network?.caCertificates?.trimEnd().split(/\n(?=-----BEGIN CERTIFICATE-----)/) ?? [];
  return {
    agentEnv: { ...proxy, ...(certificates.length > 0 ? { GYRE_CA_BUNDLE: BUILDER_CA_FILE } : {}) },
    /** `export k='v'` lines for setup.sh (sourced from a root-only file: a proxy URL may hold credentials). */
    setupEnv: both.map(([k, v]) => `export ${k}=${shellQuote(v!)}`),
    apt,
    certificates,
  };
}

/**
 * The instance's boot script. cloud-init runs it once, at first boot: it only writes units and
 * scripts. The work is in `gyre-setup.service`, which runs at every boot until it has finished
 * once (a warm-pool instance may be stopped in the middle of it; an apt or download failure is
 * retried at the next boot), then the agent starts.
 *
 * The instance role's credentials stay away from jobs: an iptables rule (`gyre-imds-guard`)
 * refuses the metadata address to every user but root, a root timer copies the role's
 * credentials into /run/gyre (which no sandbox or container mounts), and the agent reads them
 * through `credential_process`, which honours their expiry. The agent waits until the instance
 * is InService, so an instance in the warm pool never takes a job.
 */
export function bootScript(s: BootSettings): string {
  const network = builderNetwork(s.network);
  const env = {
    GYRE_URL: s.apiUrl,
    GYRE_AUTH: "aws-iam",
    GYRE_IAM_SERVER_ID: s.serverId,
    AWS_REGION: s.region,
    GYRE_QUEUES: `${s.resourceClass}=${s.queueUrl}`,
    GYRE_WORK_DIR: "/var/lib/gyre/work",
    GYRE_MAX_JOB_SECONDS: String(s.maxJobSeconds),
    // SSH reruns: the job's own sshd listens on one of these (FLEET.sshCidrs may reach them).
    GYRE_SSH_PORTS: SSH_PORTS,
    AWS_CONFIG_FILE: "/etc/gyre/aws-config",
    AWS_EC2_METADATA_DISABLED: "true",
    ...network.agentEnv,
  };
  for (const [k, v] of Object.entries(env)) if (/[\n\r]/.test(v)) throw new Error(`${k} must be one line.`);
  // Written before setup runs: the proxy for apt and curl (root only: it may hold credentials),
  // and the CAs, one file per certificate for the system's store and all in one for the agent.
  const networkFiles = [
    ...(network.setupEnv.length > 0
      ? [
          "install -m 0600 /dev/null /etc/gyre/proxy.env",
          `cat >/etc/gyre/proxy.env <<'ENV'\n${network.setupEnv.join("\n")}\nENV`,
        ]
      : []),
    ...(network.apt.length > 0
      ? [
          "install -m 0600 /dev/null /etc/apt/apt.conf.d/80gyre-proxy",
          `cat >/etc/apt/apt.conf.d/80gyre-proxy <<'APT'\n${network.apt.join("\n")}\nAPT`,
        ]
      : []),
    ...(network.certificates.length > 0
      ? [
          "install -d /usr/local/share/ca-certificates/gyre",
          ...network.certificates.map(
            (pem, i) => `cat >/usr/local/share/ca-certificates/gyre/ca-${i + 1}.crt <<'PEM'\n${pem}\nPEM`,
          ),
          `cat /usr/local/share/ca-certificates/gyre/ca-*.crt >${BUILDER_CA_FILE}`,
          `chmod 0644 ${BUILDER_CA_FILE}`,
        ]
      : []),
  ];
  const node = `node-${s.nodeVersion}-linux-x64`;
  return `#!/bin/bash
# Gyre builder for resource class ${s.resourceClass} (infra/fleet.ts): writes the units; gyre-setup does the work.
set -euo pipefail
install -d /etc/gyre /opt/gyre
install -m 0600 /dev/null /etc/gyre/agent.env
cat >/etc/gyre/agent.env <<'ENV'
${Object.entries(env)
  .map(([k, v]) => `${k}=${v}`)
  .join("\n")}
ENV
${networkFiles.map((line) => `${line}\n`).join("")}cat >/etc/gyre/aws-config <<'INI'
[default]
credential_process = /bin/cat ${CREDENTIALS}
INI
cat >/opt/gyre/setup.sh <<'SH'
#!/bin/bash
# Runs at every boot until it has finished once (the marker); safe to run again.
set -euo pipefail
[ -f /var/lib/gyre-setup.done ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# The stage's proxy (GYRE_STAGE_*_PROXY) and private CAs, before anything goes out.
[ -f /etc/gyre/proxy.env ] && . /etc/gyre/proxy.env
[ -d /usr/local/share/ca-certificates/gyre ] && update-ca-certificates
apt-get -o Acquire::Retries=5 update -q
apt-get -o Acquire::Retries=5 install -y -q bubblewrap podman uidmap git openssh-client openssh-server curl xz-utils ca-certificates iptables jq
# Job sandboxes are user namespaces (bubblewrap, rootless podman).
echo 'kernel.apparmor_restrict_unprivileged_userns = 0' >/etc/sysctl.d/60-gyre.conf
sysctl --system >/dev/null
cd /tmp
curl -fsSLO --retry 5 https://nodejs.org/dist/${s.nodeVersion}/${node}.tar.xz
curl -fsSLO --retry 5 https://nodejs.org/dist/${s.nodeVersion}/SHASUMS256.txt
grep " ${node}.tar.xz$" SHASUMS256.txt | sha256sum -c -
rm -rf /opt/gyre/node && mkdir -p /opt/gyre/node
tar -xJf ${node}.tar.xz -C /opt/gyre/node --strip-components=1
# Rootless podman needs subordinate ids for the agent's user.
# A login shell: sshd runs an SSH rerun's forced command through it (the user has no password or key of its own).
id gyre >/dev/null 2>&1 || useradd --system --add-subids-for-system --create-home --home-dir /var/lib/gyre --shell /bin/bash gyre
install -d -o gyre -g gyre /var/lib/gyre/work
curl -fsSL --retry 10 --retry-all-errors ${shellQuote(`${s.apiUrl}/agent/v1/bundle`)} -o /opt/gyre/agent.mjs.new
echo "${s.bundleSha256}  /opt/gyre/agent.mjs.new" | sha256sum -c -
mv /opt/gyre/agent.mjs.new /opt/gyre/agent.mjs
touch /var/lib/gyre-setup.done
SH
cat >/opt/gyre/credentials.sh <<'SH'
#!/bin/bash
# Root only: the role's credentials from the metadata service into a file only the agent reads.
set -euo pipefail
token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"; }
role=$(imds meta-data/iam/security-credentials/)
install -d -m 0700 -o gyre -g gyre /run/gyre
imds "meta-data/iam/security-credentials/$role" |
  jq '{Version: 1, AccessKeyId, SecretAccessKey, SessionToken: .Token, Expiration}' >${CREDENTIALS}.new
chown gyre:gyre ${CREDENTIALS}.new && chmod 0600 ${CREDENTIALS}.new && mv ${CREDENTIALS}.new ${CREDENTIALS}
SH
cat >/opt/gyre/ssh-host.sh <<'SH'
#!/bin/bash
# Root only: the address an SSH rerun prints (public if the instance has one, else private).
set -euo pipefail
token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
imds() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
host=$(imds public-ipv4 2>/dev/null || imds local-ipv4)
install -d -m 0700 -o gyre -g gyre /run/gyre
echo "GYRE_SSH_HOST=$host" >/run/gyre/ssh.env
SH
cat >/opt/gyre/wait-in-service.sh <<'SH'
#!/bin/bash
# An instance waiting in the warm pool must not take jobs: wait until it is InService.
until token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60') &&
  [ "$(curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/autoscaling/target-lifecycle-state)" = InService ]; do
  sleep 2
done
SH
chmod 755 /opt/gyre/*.sh
cat >/etc/systemd/system/gyre-imds-guard.service <<'UNIT'
[Unit]
Description=Keep the instance metadata (the builder role's credentials) from everyone but root
Before=gyre-agent.service gyre-setup.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'iptables -C OUTPUT -d 169.254.169.254 -m owner ! --uid-owner 0 -j REJECT 2>/dev/null || iptables -I OUTPUT -d 169.254.169.254 -m owner ! --uid-owner 0 -j REJECT'
[Install]
WantedBy=multi-user.target
UNIT
cat >/etc/systemd/system/gyre-setup.service <<'UNIT'
[Unit]
Description=Install what the Gyre agent needs (until it has once)
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/opt/gyre/setup.sh
TimeoutStartSec=1800
[Install]
WantedBy=multi-user.target
UNIT
cat >/etc/systemd/system/gyre-credentials.service <<'UNIT'
[Unit]
Description=Copy the builder role's credentials for the Gyre agent
After=network-online.target gyre-setup.service
Requires=gyre-setup.service
[Service]
Type=oneshot
ExecStart=/opt/gyre/credentials.sh
UNIT
cat >/etc/systemd/system/gyre-credentials.timer <<'UNIT'
[Unit]
Description=Refresh the Gyre agent's copy of the role's credentials
[Timer]
OnBootSec=0
OnUnitActiveSec=5min
[Install]
WantedBy=timers.target
UNIT
cat >/etc/systemd/system/gyre-agent.service <<'UNIT'
[Unit]
Description=Gyre builder agent
Wants=network-online.target
After=network-online.target gyre-setup.service gyre-credentials.service gyre-imds-guard.service
Requires=gyre-setup.service gyre-imds-guard.service

[Service]
User=gyre
EnvironmentFile=/etc/gyre/agent.env
EnvironmentFile=-/run/gyre/ssh.env
# The agent puts each job in a cgroup below its own (the sandbox's limits).
Delegate=yes
ExecStartPre=+/opt/gyre/wait-in-service.sh
ExecStartPre=+/opt/gyre/credentials.sh
ExecStartPre=+/opt/gyre/ssh-host.sh
ExecStart=/opt/gyre/node/bin/node /opt/gyre/agent.mjs
TimeoutStartSec=infinity
# SIGTERM drains (running jobs finish, then the node leaves); only the agent gets it.
KillMode=mixed
TimeoutStopSec=${s.maxJobSeconds}
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable gyre-imds-guard.service gyre-setup.service gyre-credentials.timer gyre-agent.service
systemctl start --no-block gyre-imds-guard.service gyre-setup.service gyre-credentials.timer gyre-agent.service
`;
}

/** Working-hours scaling actions for one class: raise the minimum at the start, drop it at the end. */
export function scheduleActions(resourceClass: string, settings: FleetSettings) {
  const schedule = settings.schedule;
  const min = schedule?.min[resourceClass];
  if (!schedule || min === undefined) return [];
  const group = settings.classes[resourceClass]!;
  return [
    {
      name: "working-hours",
      recurrence: `${schedule.start} * * ${schedule.days}`,
      minSize: min,
      timeZone: schedule.timeZone,
      maxSize: group.max,
    },
    {
      name: "off-hours",
      recurrence: `${schedule.end} * * ${schedule.days}`,
      minSize: group.min,
      timeZone: schedule.timeZone,
      maxSize: group.max,
    },
  ];
}
