/**
 * "Rerun job with SSH" end to end on the local stack: the user adds their public key, reruns a
 * job with `enable_ssh`, and a real `ssh` client logs in to the job's own OpenSSH server, into
 * the job's sandbox, working directory and variables; the job ends when the session does, or
 * when nobody connects in time. Needs OpenSSH's server and client (CI installs them) and root.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { createToken, createUser } from "../packages/core/src/auth/index.ts";
import { updateSettings } from "../packages/core/src/settings/index.ts";
import { api, gitRepo, stepOutputs, tempDir, trigger, waitFor } from "./support.ts";

const usable =
  existsSync("/usr/sbin/sshd") && spawnSync("ssh", ["-V"]).error === undefined && process.getuid?.() === 0;

const dir = tempDir("ssh-rerun");
const slug = "gh/acme/ssh-rerun";
let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
const key = join(dir, "user_ed25519");
const stranger = join(dir, "stranger_ed25519");

beforeAll(async () => {
  if (!usable) return;
  for (const file of [key, stranger])
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", file]);
  runtime = await startLocalRuntime({
    dataDir: join(dir, "data"),
    port: 0,
    agentEnv: { GYRE_SSH_HOST: "127.0.0.1", GYRE_SSH_WAIT_SECONDS: "8", GYRE_SSH_GRACE_SECONDS: "3" },
  });
  client = api(runtime.url, runtime.adminToken);
  const repo = gitRepo({
    ".circleci/config.yml": `version: 2.1
jobs:
  build:
    machine: true
    working_directory: ~/project
    steps:
      - run: echo "built" > built.txt
workflows:
  main:
    jobs: [build]
`,
  });
  expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug })).status).toBe(201);
  expect(
    (await client.post(`/api/v2/project/${slug}/envvar`, { name: "DEPLOY_TOKEN", value: "s3cr3t-value" }))
      .status,
  ).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

/** `ssh` to the job's server with `identity`, no host key kept, as a script would. */
const sshArgs = (identity: string, port: number, ...rest: string[]) => [
  "-i",
  identity,
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "BatchMode=yes",
  "-o",
  "LogLevel=ERROR",
  "-p",
  String(port),
  "root@127.0.0.1",
  ...rest,
];

const ssh = (identity: string, port: number, command: string) =>
  spawnSync("ssh", sshArgs(identity, port, command), { encoding: "utf8", timeout: 30_000 });

async function firstWorkflow() {
  const { id } = await trigger(client, slug);
  return waitFor("the build to succeed", async () => {
    const [w] = (await client.get(`/api/v2/pipeline/${id}/workflow`)).body.items!;
    if (w?.status !== "success") return undefined;
    const [job] = (await client.get(`/api/v2/workflow/${w.id}/job`)).body.items!;
    return { workflowId: w.id as string, jobId: job!.id as string };
  });
}

/** Reruns the job with SSH and waits for the address its "Enable SSH" step prints. */
async function rerunWithSsh(workflowId: string, jobId: string) {
  const res = await client.post(`/api/v2/workflow/${workflowId}/rerun`, { enable_ssh: true, jobs: [jobId] });
  expect(res.status).toBe(202);
  const rerun = res.body.workflow_id as string;
  const number = await waitFor("the rerun job to start", async () => {
    const [job] = (await client.get(`/api/v2/workflow/${rerun}/job`)).body.items!;
    return job?.status === "running" ? (job.job_number as number) : undefined;
  });
  const { port, fingerprint } = await waitFor("the SSH address", async () => {
    const steps = await stepOutputs(client, slug, number);
    const m = /ssh -p (\d+) root@127\.0\.0\.1\nIts host key is (SHA256:\S+) \(ED25519\)/.exec(
      steps.find((s) => s.name === "Enable SSH")?.output ?? "",
    );
    return m ? { port: Number(m[1]), fingerprint: m[2]! } : undefined;
  });
  return { rerun, number, port, fingerprint };
}

describe.skipIf(!usable)("SSH reruns", () => {
  it("keep each user's public keys: added once, listed by fingerprint, removed; bad keys refused", async () => {
    const pub = readFileSync(`${stranger}.pub`, "utf8");
    const added = await client.post("/api/gyre/me/ssh-keys", { public_key: pub });
    expect(added.status).toBe(201);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${stranger}.pub`], {
      encoding: "utf8",
    }).split(" ")[1];
    expect(added.body).toEqual({
      fingerprint,
      public_key: pub.split(" ").slice(0, 2).join(" "),
      title: "me@laptop",
      created_at: expect.any(String),
    });
    expect((await client.post("/api/gyre/me/ssh-keys", { public_key: pub })).status).toBe(409);
    expect((await client.get("/api/gyre/me/ssh-keys")).body.items).toEqual([added.body]);
    for (const bad of [
      "ssh-dss AAAAB3NzaC1kc3M=",
      "ssh-ed25519 AAAAB3NzaC1yc2E=",
      "ssh-ed25519 not*base64",
      "",
    ]) {
      const res = await client.post("/api/gyre/me/ssh-keys", { public_key: bad });
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
    // A private key pasted by mistake is named as one, and nothing of it comes back.
    const secret = readFileSync(stranger, "utf8");
    const pasted = await client.post("/api/gyre/me/ssh-keys", { public_key: secret });
    expect(pasted).toEqual({
      status: 400,
      body: {
        message:
          "Invalid public_key: this is a private key, and Gyre kept nothing of it. Paste the public one: the .pub file beside it, or what `ssh-keygen -y -f <key file>` prints.",
      },
    });
    expect((await client.get("/api/gyre/me/ssh-keys")).body.items).toEqual([added.body]);
    const removed = await fetch(`${runtime.url}/api/gyre/me/ssh-keys/${encodeURIComponent(fingerprint!)}`, {
      method: "DELETE",
      headers: { "circle-token": runtime.adminToken },
    });
    expect(removed.status).toBe(200);
    expect((await client.get("/api/gyre/me/ssh-keys")).body.items).toEqual([]);
  });

  it("refuses an SSH rerun to a user with no key, and to one who neither administers nor started the pipeline", async () => {
    const { workflowId, jobId } = await firstWorkflow();
    // Mallory may rerun (write on every project), but not with SSH.
    await updateSettings(runtime.gyre, { default_project_permission: "write" });
    const mallory = await createUser(runtime.gyre, { login: "mallory" });
    const other = api(runtime.url, await createToken(runtime.gyre, mallory.id, "test"));
    expect(
      (await other.post("/api/gyre/me/ssh-keys", { public_key: readFileSync(`${stranger}.pub`, "utf8") }))
        .status,
    ).toBe(201);
    expect(
      await other.post(`/api/v2/workflow/${workflowId}/rerun`, { enable_ssh: true, jobs: [jobId] }),
    ).toEqual({
      status: 403,
      body: {
        message:
          "Rerunning with SSH shows the job's secrets: only an administrator or the user who started the pipeline may.",
      },
    });
    expect(
      await client.post(`/api/v2/workflow/${workflowId}/rerun`, { enable_ssh: true, jobs: [jobId] }),
    ).toEqual({
      status: 400,
      body: {
        message:
          "Rerunning with SSH needs an SSH public key of yours to let you in: add one first (POST /api/gyre/me/ssh-keys, or `gyre ssh-key add`).",
      },
    });
  });

  it("lets the user's key (only) into the job's sandbox, working directory and variables; the job ends with the session", async () => {
    expect(
      (await client.post("/api/gyre/me/ssh-keys", { public_key: readFileSync(`${key}.pub`, "utf8") })).status,
    ).toBe(201);
    const { workflowId, jobId } = await firstWorkflow();
    const { rerun, number, port } = await rerunWithSsh(workflowId, jobId);

    expect(ssh(stranger, port, "true").status).toBe(255);
    const session = ssh(
      key,
      port,
      'echo "$PWD $CIRCLE_JOB $DEPLOY_TOKEN"; cat built.txt; ls /work 2>&1 | head -1',
    );
    expect(session.stderr).toBe("");
    const [where, built, host] = session.stdout.split("\n");
    expect(where).toMatch(/\/project build s3cr3t-value$/);
    expect(built).toBe("built");
    // The builder's own directories are not in the job's sandbox.
    expect(host).toMatch(/No such file or directory/);

    // An interactive session has a terminal of its own: job control works.
    const shell = spawnSync("ssh", ["-tt", ...sshArgs(key, port)], {
      input: "sleep 30 &\njobs\nkill %1\nexit\n",
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(shell.stdout).not.toContain("no job control");
    expect(shell.stdout).toMatch(/\[1\]\+\s+Running\s+sleep 30 &/);

    const job = await waitFor("the rerun to end with the session", async () => {
      const [j] = (await client.get(`/api/v2/workflow/${rerun}/job`)).body.items!;
      return j?.status === "success" ? j : undefined;
    });
    expect(job.job_number).toBe(number);
    const steps = await stepOutputs(client, slug, number);
    expect(steps.map((s) => [s.name, s.status])).toEqual([
      ["Spin up environment", "success"],
      ["Enable SSH", "success"],
      ['echo "built" > built.txt', "success"],
      ["Wait for SSH sessions", "success"],
    ]);
    expect(steps[3]!.output).toContain("The SSH session ended: the job ends.\n");
    // The session's secret stays out of the job's output.
    expect(steps.map((s) => s.output).join("")).not.toContain("s3cr3t-value");
  });

  it("ends the job when nobody connects within the wait", async () => {
    const { workflowId, jobId } = await firstWorkflow();
    const { rerun, number } = await rerunWithSsh(workflowId, jobId);
    await waitFor("the rerun to end unattended", async () => {
      const [j] = (await client.get(`/api/v2/workflow/${rerun}/job`)).body.items!;
      return j?.status === "success" ? true : undefined;
    });
    const steps = await stepOutputs(client, slug, number);
    expect(steps.at(-1)).toMatchObject({
      name: "Wait for SSH sessions",
      output: "Waiting up to 8 s for an SSH session.\nNobody connected over SSH within 8 s: the job ends.\n",
    });
  });

  it("prints the host key ssh shows, and ends a live session when the job is canceled", async () => {
    const { workflowId, jobId } = await firstWorkflow();
    const { rerun, number, port, fingerprint } = await rerunWithSsh(workflowId, jobId);
    const scan = spawnSync("ssh-keyscan", ["-t", "ed25519", "-p", String(port), "127.0.0.1"], {
      encoding: "utf8",
    });
    const scanned = spawnSync("ssh-keygen", ["-l", "-f", "-"], { input: scan.stdout, encoding: "utf8" });
    expect(scanned.stdout).toContain(fingerprint);
    // A session that would outlive the job: it must end with it.
    const session = spawn("ssh", sshArgs(key, port, "sleep 300"));
    const ended = new Promise<number | null>((resolve) => session.on("exit", (code) => resolve(code)));
    await waitFor("the steps to end and the job to wait", async () =>
      (await stepOutputs(client, slug, number)).some((s) => s.name === "Wait for SSH sessions")
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000));
    // Still running: the session keeps it up (202, not 409 for a job that ended).
    expect((await client.post(`/api/v2/project/${slug}/job/${number}/cancel`)).status).toBe(202);
    expect(await ended).not.toBe(0);
    const [job] = (await client.get(`/api/v2/workflow/${rerun}/job`)).body.items!;
    expect(job!.status).toBe("canceled");
  });
});
