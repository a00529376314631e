/**
 * Offline checks of the builder fleet's plan (infra/fleet-plan.ts): how many jobs each group's
 * instances fit, what the builders and the fleet's functions may do, the boot script (parsed by
 * bash), the working-hours schedule, and the stage's proxy and private CAs as the functions and
 * the builders get them (infra/network-plan.ts). infra/fleet.ts itself is type-checked by check:infra.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BUILDER_CA_FILE,
  bootScript,
  builderGrants,
  builderTrustPolicy,
  FLEET,
  fleetControlGrants,
  fleetNames,
  scheduleActions,
  slotsPerInstance,
} from "../../infra/fleet-plan.ts";
import { LAMBDA_CA_FILE, lambdaNetwork, stageNetwork } from "../../infra/network-plan.ts";
import { DEFAULT_RESOURCE_CLASSES } from "../../packages/core/src/resources.ts";

const boot = {
  apiUrl: "https://abc.execute-api.eu-west-1.amazonaws.com",
  serverId: "gyre-prod",
  region: "eu-west-1",
  resourceClass: "medium",
  queueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/gyre-prod-jobs-medium",
  nodeVersion: "v22.11.0",
  bundleSha256: "ab".repeat(32),
  maxJobSeconds: 18_000,
};

describe("the builder fleet's plan", () => {
  it("gives every default resource class a group, with the jobs an instance fits after the 2 vCPU / 4 GB reserve", () => {
    expect(Object.keys(FLEET.classes)).toEqual([...DEFAULT_RESOURCE_CLASSES]);
    expect(
      Object.fromEntries(Object.entries(FLEET.classes).map(([c, g]) => [c, slotsPerInstance(c, g)])),
    ).toEqual({
      small: 6,
      medium: 3,
      "medium+": 2,
      large: 3,
      xlarge: 3,
      "2xlarge": 1,
    });
    expect(() => slotsPerInstance("2xlarge", { size: "2xlarge", min: 0, max: 1, warm: 0 })).toThrow(
      "Resource class 2xlarge does not fit a 2xlarge builder.",
    );
  });

  it("lets builders only use the job queues, and only EC2 assume their role", () => {
    expect(builderGrants({ jobQueueArns: ["arn:q1", "arn:q2"] })).toEqual([
      {
        actions: [
          "sqs:ReceiveMessage",
          "sqs:ChangeMessageVisibility",
          "sqs:DeleteMessage",
          "sqs:GetQueueAttributes",
        ],
        resources: ["arn:q1", "arn:q2"],
      },
    ]);
    expect(builderTrustPolicy.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
  });

  it("scopes the fleet's control to the stage's builder groups", () => {
    const names = fleetNames("gyre", "prod");
    const arn = names.groupArns("eu-west-1", "123456789012");
    expect(arn).toBe(
      "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/gyre-prod-builders-*",
    );
    expect(fleetControlGrants({ groupArns: [arn] })).toEqual([
      {
        actions: [
          "autoscaling:SetDesiredCapacity",
          "autoscaling:TerminateInstanceInAutoScalingGroup",
          "autoscaling:CompleteLifecycleAction",
          "autoscaling:RecordLifecycleActionHeartbeat",
        ],
        resources: [arn],
      },
      { actions: ["autoscaling:DescribeAutoScalingGroups"], resources: ["*"] },
    ]);
    expect([
      names.group("medium-plus"),
      names.serverId,
      names.builderRole,
      names.agentBundleKey("0123456789abcdef99"),
    ]).toEqual([
      "gyre-prod-builders-medium-plus",
      "gyre-prod",
      "gyre-prod-builder",
      "fleet/gyre-agent-0123456789abcdef.mjs",
    ]);
  });

  it("boots an instance with a script bash accepts, registering with the instance role for its class's queue", () => {
    const script = bootScript(boot);
    execFileSync("bash", ["-n"], { input: script });
    const env = script.slice(script.indexOf("<<'ENV'\n") + 8, script.indexOf("\nENV\n"));
    expect(env.split("\n")).toEqual([
      `GYRE_URL=${boot.apiUrl}`,
      "GYRE_AUTH=aws-iam",
      "GYRE_IAM_SERVER_ID=gyre-prod",
      "AWS_REGION=eu-west-1",
      `GYRE_QUEUES=medium=${boot.queueUrl}`,
      "GYRE_WORK_DIR=/var/lib/gyre/work",
      "GYRE_MAX_JOB_SECONDS=18000",
      "GYRE_SSH_PORTS=64535-65535",
      "AWS_CONFIG_FILE=/etc/gyre/aws-config",
      "AWS_EC2_METADATA_DISABLED=true",
    ]);
    expect(script).not.toMatch(/GYRE_AGENT_TOKEN|SECRET|PASSWORD/);
    expect(script).toContain(
      `curl -fsSL --retry 10 --retry-all-errors '${boot.apiUrl}/agent/v1/bundle' -o /opt/gyre/agent.mjs.new`,
    );
    expect(script).toContain('grep " node-v22.11.0-linux-x64.tar.xz$" SHASUMS256.txt | sha256sum -c -');
    expect(script).toContain(`echo "${"ab".repeat(32)}  /opt/gyre/agent.mjs.new" | sha256sum -c -`);
    expect(script).toContain("ExecStartPre=+/opt/gyre/wait-in-service.sh");
    expect(script).toContain("KillMode=mixed\nTimeoutStopSec=18000");
    expect(() => bootScript({ ...boot, apiUrl: "https://x\nGYRE_AUTH=token" })).toThrow(
      "GYRE_URL must be one line.",
    );
  });

  it("keeps the role's credentials from jobs: metadata for root only, a root-written copy the agent reads with its expiry", () => {
    const script = bootScript(boot);
    expect(script).toContain("iptables -I OUTPUT -d 169.254.169.254 -m owner ! --uid-owner 0 -j REJECT");
    expect(script).toContain("credential_process = /bin/cat /run/gyre/aws-credentials.json");
    expect(script).toContain(
      "jq '{Version: 1, AccessKeyId, SecretAccessKey, SessionToken: .Token, Expiration}'",
    );
    expect(script).toContain("Requires=gyre-setup.service gyre-imds-guard.service");
    // Each script the boot writes parses too.
    for (const name of ["setup.sh", "credentials.sh", "ssh-host.sh", "wait-in-service.sh"]) {
      const start = script.indexOf(`cat >/opt/gyre/${name} <<'SH'\n`);
      expect(start).toBeGreaterThan(0);
      const body = script.slice(script.indexOf("\n", start) + 1, script.indexOf("\nSH\n", start));
      expect(body.startsWith("#!/bin/bash\n")).toBe(true);
      execFileSync("bash", ["-n"], { input: body });
    }
  });

  it("lets SSH reruns listen on CircleCI's port range and print the instance's address, read by root", () => {
    const script = bootScript(boot);
    expect(script).toContain("GYRE_SSH_PORTS=64535-65535\n");
    expect(script).toContain("openssh-server");
    expect(script).toContain("ExecStartPre=+/opt/gyre/ssh-host.sh\n");
    expect(script).toContain("EnvironmentFile=-/run/gyre/ssh.env\n");
    expect(script).toContain('echo "GYRE_SSH_HOST=$host" >/run/gyre/ssh.env');
  });

  it("raises a class's minimum in working hours and drops it after, in the configured time zone", () => {
    expect(scheduleActions("medium", FLEET)).toEqual([
      { name: "working-hours", recurrence: "0 8 * * MON-FRI", minSize: 1, maxSize: 10, timeZone: "Etc/UTC" },
      { name: "off-hours", recurrence: "0 19 * * MON-FRI", minSize: 0, maxSize: 10, timeZone: "Etc/UTC" },
    ]);
    expect(scheduleActions("large", FLEET)).toEqual([]);
  });
});

describe("the stage's network: proxy and private CAs for the functions and the builders", () => {
  const CA_1 =
    "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBmNvcnAx\n-----END CERTIFICATE-----";
  const CA_2 =
    "-----BEGIN CERTIFICATE-----\nMIIBlDCB/gIJAPMzA2mZ8Yj2MA0GCSqGSIb3DQEBCwUAMBMxETAPBgNVBAMMCGdoZS1j\n-----END CERTIFICATE-----";
  const KEY =
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";
  const dir = mkdtempSync(join(tmpdir(), "gyre-stage-network-"));
  const bundle = join(dir, "corporate.pem");
  // A file with a key besides its certificates: only the certificates go anywhere.
  writeFileSync(bundle, `${CA_1}\n${KEY}\n${CA_2}\n`);
  const env = {
    GYRE_STAGE_HTTP_PROXY: "10.0.0.33:3128",
    GYRE_STAGE_HTTPS_PROXY: "http://gyre:s3cret@10.0.0.33:3128",
    GYRE_STAGE_NO_PROXY: "ghe.example.com,.s3.amazonaws.com",
    GYRE_STAGE_CA_BUNDLE: bundle,
    // The deploying shell's own: not the stage's.
    HTTPS_PROXY: "http://laptop-proxy:8080",
    GYRE_CA_BUNDLE: "/home/me/laptop-ca.pem",
  };

  it("reads GYRE_STAGE_* from the deploying shell as the runtime reads its variables, never the shell's own", () => {
    expect(stageNetwork(env)).toEqual({
      proxy: {
        HTTP_PROXY: "http://10.0.0.33:3128",
        HTTPS_PROXY: "http://gyre:s3cret@10.0.0.33:3128",
        NO_PROXY: "ghe.example.com,.s3.amazonaws.com",
      },
      caCertificates: `${CA_1}\n${CA_2}\n`,
    });
    expect(stageNetwork({ HTTPS_PROXY: "http://laptop-proxy:8080", GYRE_CA_BUNDLE: bundle })).toEqual({
      proxy: {},
    });
    expect(() => stageNetwork({ GYRE_STAGE_HTTPS_PROXY: "ftp://x:21" })).toThrow(
      'HTTPS_PROXY must be an http:// or https:// proxy, not "ftp://x:21".',
    );
    expect(() => stageNetwork({ GYRE_STAGE_CA_BUNDLE: join(dir, "missing.pem") })).toThrow(
      /^GYRE_STAGE_CA_BUNDLE names .*missing\.pem, which cannot be read/,
    );
    writeFileSync(join(dir, "key-only.pem"), KEY);
    expect(() => stageNetwork({ GYRE_STAGE_CA_BUNDLE: join(dir, "key-only.pem") })).toThrow(
      /key-only\.pem, which holds no PEM certificate\.$/,
    );
  });

  it("gives every function the proxy variables and GYRE_CA_BUNDLE naming the certificates copied into its package", () => {
    const artifacts = join(dir, "artifacts");
    const functions = lambdaNetwork(stageNetwork(env), artifacts);
    expect(functions).toEqual({
      environment: {
        HTTP_PROXY: "http://10.0.0.33:3128",
        HTTPS_PROXY: "http://gyre:s3cret@10.0.0.33:3128",
        NO_PROXY: "ghe.example.com,.s3.amazonaws.com",
        GYRE_CA_BUNDLE: `/var/task/${LAMBDA_CA_FILE}`,
      },
      copyFiles: [{ from: join(artifacts, LAMBDA_CA_FILE), to: LAMBDA_CA_FILE }],
    });
    expect(readFileSync(join(artifacts, LAMBDA_CA_FILE), "utf8")).toBe(`${CA_1}\n${CA_2}\n`);
    // A stage with neither: the functions are as before.
    expect(lambdaNetwork(stageNetwork({}), join(dir, "none"))).toEqual({});
  });

  it("gives the builders' agent, apt and curl the proxy and the CAs, before setup goes out, credentials root-only", () => {
    const script = bootScript({ ...boot, network: stageNetwork(env) });
    execFileSync("bash", ["-n"], { input: script });
    const agentEnv = script.slice(script.indexOf("<<'ENV'\n") + 8, script.indexOf("\nENV\n"));
    expect(agentEnv.split("\n").slice(-4)).toEqual([
      "HTTP_PROXY=http://10.0.0.33:3128",
      "HTTPS_PROXY=http://gyre:s3cret@10.0.0.33:3128",
      // The metadata address never goes through the proxy.
      "NO_PROXY=ghe.example.com,.s3.amazonaws.com,169.254.169.254",
      `GYRE_CA_BUNDLE=${BUILDER_CA_FILE}`,
    ]);
    expect(script).toContain(
      "install -m 0600 /dev/null /etc/gyre/agent.env\ncat >/etc/gyre/agent.env <<'ENV'\n",
    );
    // setup.sh (apt, curl) reads the proxy from a root-only file, in both cases.
    expect(script).toContain(
      "install -m 0600 /dev/null /etc/gyre/proxy.env\ncat >/etc/gyre/proxy.env <<'ENV'\n",
    );
    const heredoc = "cat >/etc/gyre/proxy.env <<'ENV'\n";
    const proxyEnv = script.slice(script.indexOf(heredoc) + heredoc.length).split("\nENV\n")[0]!;
    expect(proxyEnv.split("\n")).toEqual([
      "export HTTP_PROXY='http://10.0.0.33:3128'",
      "export http_proxy='http://10.0.0.33:3128'",
      "export HTTPS_PROXY='http://gyre:s3cret@10.0.0.33:3128'",
      "export https_proxy='http://gyre:s3cret@10.0.0.33:3128'",
      "export NO_PROXY='ghe.example.com,.s3.amazonaws.com,169.254.169.254'",
      "export no_proxy='ghe.example.com,.s3.amazonaws.com,169.254.169.254'",
    ]);
    expect(script).toContain(
      `cat >/etc/apt/apt.conf.d/80gyre-proxy <<'APT'\nAcquire::http::Proxy "http://10.0.0.33:3128";\nAcquire::https::Proxy "http://gyre:s3cret@10.0.0.33:3128";\nAPT\n`,
    );
    // Each certificate a file of the system's store (apt and curl trust it), all in one for the agent.
    expect(script).toContain(`cat >/usr/local/share/ca-certificates/gyre/ca-1.crt <<'PEM'\n${CA_1}\nPEM\n`);
    expect(script).toContain(`cat >/usr/local/share/ca-certificates/gyre/ca-2.crt <<'PEM'\n${CA_2}\nPEM\n`);
    expect(script).toContain(`cat /usr/local/share/ca-certificates/gyre/ca-*.crt >${BUILDER_CA_FILE}\n`);
    expect(script).not.toContain("PRIVATE KEY");
    const setup = script.slice(script.indexOf("cat >/opt/gyre/setup.sh <<'SH'\n"));
    const body = setup.slice(setup.indexOf("\n") + 1, setup.indexOf("\nSH\n"));
    execFileSync("bash", ["-n"], { input: body });
    const lines = body.split("\n");
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    expect(at("[ -f /etc/gyre/proxy.env ] && . /etc/gyre/proxy.env")).toBeGreaterThan(0);
    expect(at("[ -d /usr/local/share/ca-certificates/gyre ] && update-ca-certificates")).toBeGreaterThan(0);
    // Both before the first apt-get and curl.
    expect(at("/etc/gyre/proxy.env")).toBeLessThan(at("apt-get"));
    expect(at("update-ca-certificates")).toBeLessThan(at("apt-get"));
    expect(at("apt-get")).toBeLessThan(at("curl "));
    // Without a stage network, none of it.
    const plain = bootScript(boot);
    for (const text of [
      "proxy.env <<",
      "80gyre-proxy",
      "ca-certificates/gyre/ca-",
      "_PROXY=",
      "GYRE_CA_BUNDLE",
    ])
      expect(plain).not.toContain(text);
  });
});
