/**
 * SSH keys end to end on the local stack, against a real OpenSSH server: a throwaway `sshd`
 * on 127.0.0.1 serving a bare repository to root, whose authorized_keys holds only the
 * checkout key Gyre generated (through CircleCI's API v2) and an additional key registered
 * through the v1.1 API, restricted to a forced command. Checkout over `ssh://` with the
 * checkout key, `add_ssh_keys` for a later `ssh` in a run step, masking, and git's own error
 * when the key is wrong or missing (the server reads the config with the same checkout key).
 * Needs OpenSSH's server and client (CI installs them) and root (to log in as root).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../packages/cli/src/local/runtime.ts";
import {
  api,
  freePort,
  gitRepo,
  registerTestNode,
  stepOutputs,
  tempDir,
  trigger,
  waitFor,
} from "./support.ts";

const SSHD = "/usr/sbin/sshd";
const usable =
  existsSync(SSHD) && spawnSync("ssh-keygen", ["-?"]).error === undefined && process.getuid?.() === 0;

const dir = tempDir("ssh");
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
let sshd: ChildProcess | undefined;
let port = 0;
let repoUrl = "";
let checkoutKey: Record<string, unknown>;
/** The additional key: written by ssh-keygen, its MD5 fingerprint as ssh-keygen prints it. */
const additional = { file: join(dir, "deploy"), privateKey: "", publicKey: "", fingerprint: "" };

const CONFIG = (sshPort: number, fingerprint: string, outside: string) => `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: Run from the repo
          command: sh ./hello.sh
  deploy:
    machine: true
    steps:
      - checkout
      - add_ssh_keys:
          fingerprints:
            - "${fingerprint}"
      - run:
          name: Reach the server
          command: ssh -p ${sshPort} root@127.0.0.1 whoami
      - run:
          name: Print the key
          command: cat ~/.ssh/id_rsa_${fingerprint.replace(/:/g, "")}
  escape:
    machine: true
    steps:
      # The agent writes ~/.ssh from outside the sandbox: a symlink must not send it elsewhere.
      - run: ln -s ${outside} ~/.ssh
      - add_ssh_keys
  escape_by_file:
    machine: true
    steps:
      # A dangling symlink in place of the key file the step writes.
      - run: mkdir -p ~/.ssh && ln -s ${outside}/planted ~/.ssh/id_rsa_${fingerprint.replace(/:/g, "")}
      - add_ssh_keys
workflows:
  main:
    jobs: [build, deploy, escape, escape_by_file]
`;

async function startSshd(authorizedKeys: string): Promise<void> {
  writeFileSync(join(dir, "authorized_keys"), authorizedKeys);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  // sshd's privilege separation directory (absent where sshd has never run).
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const child = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  sshd = child;
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start:\n${log}`)), 10_000);
    child.stderr!.on("data", (b: Buffer) => {
      log += b.toString();
      if (log.includes("Server listening on 127.0.0.1")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`sshd exited (${code}):\n${log}`)));
  });
}

async function runPipeline(slug: string) {
  const { id, pipeline } = await trigger(client, slug);
  expect(pipeline.errors).toEqual([]);
  return waitFor(
    "the workflow to finish",
    async () => {
      const [workflow] = (await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
      if (!workflow || !["success", "failed"].includes(workflow.status as string)) return undefined;
      const jobs = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
      return Object.fromEntries(jobs.map((j) => [j.name as string, j]));
    },
    90_000,
  );
}

async function outputs(slug: string, jobNumber: number) {
  return Object.fromEntries((await stepOutputs(client, slug, jobNumber)).map((s) => [s.name, s]));
}

const del = (path: string, body?: unknown) =>
  fetch(`${runtime.url}${path}`, {
    method: "DELETE",
    headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("SSH keys: checkout over ssh:// and add_ssh_keys against a real sshd", () => {
  const slug = "gh/acme/ssh";

  beforeAll(async () => {
    if (!usable) {
      throw new Error(
        `This test needs ${SSHD} and ssh-keygen (apt-get install openssh-server openssh-client; .ci/run does) and root.`,
      );
    }
    port = await freePort();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", additional.file]);
    additional.privateKey = readFileSync(additional.file, "utf8");
    additional.publicKey = readFileSync(`${additional.file}.pub`, "utf8").trim();
    additional.fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", additional.file])
      .toString()
      .split(" ")[1]!
      .replace(/^MD5:/, "");

    const source = gitRepo({
      ".circleci/config.yml": CONFIG(port, additional.fingerprint, join(dir, "outside")),
      "hello.sh": "echo hello from the repository\n",
    });
    const bare = join(dir, "srv", "repo.git");
    execFileSync("git", ["clone", "-q", "--bare", source.path, bare]);
    repoUrl = `ssh://root@127.0.0.1:${port}${bare}`;
    mkdirSync(join(dir, "outside"));

    const { startLocalRuntime } = await import("../packages/cli/src/local/runtime.ts");
    runtime = await startLocalRuntime({ dataDir: join(dir, "data"), port: 0 });
    client = api(runtime.url, runtime.adminToken);
    for (const s of [slug, "gh/acme/ssh-wrong", "gh/acme/ssh-none"])
      expect((await client.post("/api/gyre/projects", { repo_url: repoUrl, slug: s })).status).toBe(201);

    const created = await client.post(`/api/v2/project/${slug}/checkout-key`, { type: "deploy-key" });
    expect(created.status).toBe(201);
    checkoutKey = created.body;
    // A wrong key: generated by Gyre for another project, never authorized on the server.
    expect(
      (await client.post("/api/v2/project/gh/acme/ssh-wrong/checkout-key", { type: "deploy-key" })).status,
    ).toBe(201);

    await startSshd(
      [
        checkoutKey["public-key"],
        `restrict,command="echo authorized-by-the-additional-key" ${additional.publicKey}`,
        "",
      ].join("\n"),
    );
  });

  afterAll(async () => {
    if (sshd && sshd.exitCode === null) {
      const exited = new Promise((resolve) => sshd!.once("exit", resolve));
      sshd.kill("SIGTERM");
      await exited;
    }
    await runtime?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates a checkout key as CircleCI's API v2 answers it, without the private key", async () => {
    expect(Object.keys(checkoutKey).sort()).toEqual([
      "created-at",
      "fingerprint",
      "preferred",
      "public-key",
      "type",
    ]);
    expect(checkoutKey["public-key"]).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+=*$/);
    expect(checkoutKey.type).toBe("deploy-key");
    expect(checkoutKey.preferred).toBe(true);
    expect(checkoutKey.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    // The fingerprint is the one ssh-keygen computes from the public key.
    writeFileSync(join(dir, "checkout.pub"), `${checkoutKey["public-key"]}\n`);
    const md5 = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", join(dir, "checkout.pub")]).toString();
    expect(md5.split(" ")[1]).toBe(`MD5:${checkoutKey.fingerprint}`);

    const list = await client.get(`/api/v2/project/${slug}/checkout-key`);
    expect(list).toEqual({ status: 200, body: { items: [checkoutKey], next_page_token: null } });
    const one = await client.get(`/api/v2/project/${slug}/checkout-key/${checkoutKey.fingerprint}`);
    expect(one).toEqual({ status: 200, body: checkoutKey });
    expect(JSON.stringify([list, one])).not.toContain("PRIVATE");

    expect((await client.post(`/api/v2/project/${slug}/checkout-key`, { type: "nope" })).status).toBe(400);
    expect((await client.get(`/api/v2/project/${slug}/checkout-key/00:11`)).status).toBe(400);
    expect((await client.get(`/api/v2/project/${slug}/checkout-key/${"ab:".repeat(15)}ab`)).status).toBe(404);
  });

  it("adds an additional key through API v1.1, answering only its public half", async () => {
    const added = await client.post(`/api/v1.1/project/${slug}/ssh-key`, {
      hostname: "127.0.0.1",
      private_key: additional.privateKey,
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      hostname: "127.0.0.1",
      fingerprint: additional.fingerprint,
      public_key: additional.publicKey.split(" ").slice(0, 2).join(" "),
    });
    const list = await client.get(`/api/v1.1/project/${slug}/ssh-key`);
    expect(list.body).toEqual([added.body]);
    expect(JSON.stringify([added, list])).not.toContain("PRIVATE");

    const bad = await client.post(`/api/v1.1/project/${slug}/ssh-key`, {
      hostname: "x",
      private_key: "nope",
    });
    expect(bad.status).toBe(400);
    const injected = await client.post(`/api/v1.1/project/${slug}/ssh-key`, {
      hostname: "x\n  ProxyCommand evil",
      private_key: additional.privateKey,
    });
    expect(injected.status).toBe(400);
  });

  it("keeps private keys sealed at rest and away from builder tokens", async () => {
    const scan = await runtime.gyre.aws.dynamo.send(
      new ScanCommand({ TableName: runtime.gyre.resources.tableName }),
    );
    const dump = JSON.stringify(scan.Items);
    expect(dump).toContain(additional.fingerprint);
    expect(dump).not.toContain("PRIVATE KEY");
    expect(dump).not.toContain(additional.privateKey.split("\n")[2]);
    const builder = api(runtime.url, readFileSync(join(runtime.dataDir, "builder-token"), "utf8").trim());
    expect((await builder.get(`/api/v2/project/${slug}/checkout-key`)).status).toBe(403);
    expect((await builder.get(`/api/v1.1/project/${slug}/ssh-key`)).status).toBe(403);
    // The agent endpoint hands keys only to the node running one of the project's allocations.
    expect((await builder.post("/agent/v1/ssh-keys", {})).status).toBe(401);
    const node = await registerTestNode(runtime.url, runtime.dataDir);
    const grabbed = await node.client.post("/agent/v1/ssh-keys", {
      allocation: {
        workflowId: "00000000-0000-4000-8000-000000000001",
        jobName: "build",
        jobId: "00000000-0000-4000-8000-000000000002",
        attempt: 1,
        index: 0,
      },
      node_id: node.nodeId,
    });
    expect(grabbed.status).toBe(409);
    expect(JSON.stringify(grabbed.body)).not.toContain("PRIVATE");
  });

  it("checks out over ssh:// with the checkout key, and add_ssh_keys lets a run step ssh with the added key", async () => {
    const jobs = await runPipeline(slug);
    const build = await outputs(slug, jobs.build!.job_number as number);
    expect(build["Checkout code"]!.status).toBe("success");
    expect(build["Checkout code"]!.output).toContain(`Using SSH checkout key ${checkoutKey.fingerprint}`);
    expect(build["Run from the repo"]!.output).toBe("hello from the repository\n");
    expect(jobs.build!.status).toBe("success");

    const deploy = await outputs(slug, jobs.deploy!.job_number as number);
    expect(deploy["Install additional SSH keys"]!.output).toContain(
      `Installed SSH key ${additional.fingerprint} for 127.0.0.1`,
    );
    // The server's forced command for the additional key answered: that key authenticated.
    expect(deploy["Reach the server"]!.output).toBe("authorized-by-the-additional-key\n");
    // Printing the key file shows only the mask.
    const printed = deploy["Print the key"]!.output;
    expect(printed).toContain("********");
    expect(printed).not.toContain("PRIVATE KEY");
    for (const line of additional.privateKey
      .split("\n")
      .filter((l) => l.length > 20 && !l.startsWith("-----")))
      expect(printed).not.toContain(line);
    expect(jobs.deploy!.status).toBe("success");

    const escaping = await outputs(slug, jobs.escape!.job_number as number);
    expect(escaping["Install additional SSH keys"]!.status).toBe("failed");
    expect(escaping["Install additional SSH keys"]!.output).toMatch(/outside this job's directories/);
    const byFile = await outputs(slug, jobs.escape_by_file!.job_number as number);
    expect(byFile["Install additional SSH keys"]!.status).toBe("failed");
    expect(byFile["Install additional SSH keys"]!.output).toMatch(/outside this job's directories/);
    expect(readdirSync(join(dir, "outside"))).toEqual([]);
  });

  it.each([
    ["a key the server does not authorize", "gh/acme/ssh-wrong"],
    ["no checkout key at all", "gh/acme/ssh-none"],
  ])("errors the pipeline with git's own message when the project has %s", async (_, project) => {
    const { id, created, pipeline } = await trigger(client, project);
    // Answered at once, before git is read; errored once the intake failed to clone.
    expect(created.state).toBe("pending");
    expect(pipeline.state).toBe("errored");
    const errors = pipeline.errors as { type: string; message: string }[];
    expect(errors).toHaveLength(1);
    expect(errors[0]!.type).toBe("config-fetch");
    expect(errors[0]!.message).toContain(`Could not clone ${repoUrl}`);
    expect(errors[0]!.message).toContain("Permission denied (publickey)");
    expect((await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items).toEqual([]);
  });

  it("deletes keys", async () => {
    const other = await client.post(`/api/v2/project/${slug}/checkout-key`, { type: "user-key" });
    expect(other.body).toMatchObject({ type: "github-user-key", preferred: true });
    expect(
      (await client.get(`/api/v2/project/${slug}/checkout-key/${checkoutKey.fingerprint}`)).body.preferred,
    ).toBe(false);
    const gone = await del(`/api/v2/project/${slug}/checkout-key/${other.body.fingerprint}`);
    expect(await gone.json()).toEqual({ message: "ok" });
    expect((await client.get(`/api/v2/project/${slug}/checkout-key/${other.body.fingerprint}`)).status).toBe(
      404,
    );
    expect(
      (await client.get(`/api/v2/project/${slug}/checkout-key/${checkoutKey.fingerprint}`)).body.preferred,
    ).toBe(true);

    expect(
      (
        await del(`/api/v1.1/project/${slug}/ssh-key`, {
          fingerprint: additional.fingerprint,
          hostname: "other",
        })
      ).status,
    ).toBe(404);
    const removed = await del(`/api/v1.1/project/${slug}/ssh-key`, {
      fingerprint: additional.fingerprint,
      hostname: "127.0.0.1",
    });
    expect(removed.status).toBe(200);
    expect((await client.get(`/api/v1.1/project/${slug}/ssh-key`)).body).toEqual([]);
  });
});
