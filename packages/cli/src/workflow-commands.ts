/**
 * Workflow actions and the caller's SSH keys from the command line, through the same API a
 * CircleCI client calls:
 *
 *   gyre workflow approve <workflow id> <approval job name or id>
 *   gyre workflow cancel <workflow id>
 *   gyre workflow rerun <workflow id> [--from-failed | --job <name> ... [--ssh]]
 *   gyre ssh-key add <public key file> | list | remove <fingerprint>
 */
import { readFileSync } from "node:fs";
import { ApiError, type Client } from "./client.ts";

type Print = (line: string) => void;
type WorkflowJob = { id: string; name: string; type: string; status: string; approval_request_id?: string };

async function jobsOf(client: Client, workflowId: string): Promise<WorkflowJob[]> {
  const page = await client.request<{ items: WorkflowJob[] }>(
    "GET",
    `/api/v2/workflow/${encodeURIComponent(workflowId)}/job`,
  );
  return page.items;
}

/** A job of the workflow by name or id, or a 404 naming the jobs there are. */
function pick(jobs: WorkflowJob[], ref: string): WorkflowJob {
  const job = jobs.find((j) => j.name === ref || j.id === ref);
  if (!job)
    throw new ApiError(
      404,
      `No job "${ref}" in this workflow (it has: ${jobs.map((j) => j.name).join(", ")}).`,
    );
  return job;
}

export async function workflowApprove(client: Client, workflowId: string, ref: string, print: Print) {
  const job = pick(await jobsOf(client, workflowId), ref);
  await client.request(
    "POST",
    `/api/v2/workflow/${encodeURIComponent(workflowId)}/approve/${job.approval_request_id ?? job.id}`,
  );
  print(`Approved ${job.name}.`);
}

export async function workflowCancel(client: Client, workflowId: string, print: Print) {
  await client.request("POST", `/api/v2/workflow/${encodeURIComponent(workflowId)}/cancel`);
  print(`Canceled workflow ${workflowId}.`);
}

export async function workflowRerun(
  client: Client,
  workflowId: string,
  options: { fromFailed?: boolean; jobs?: string[]; ssh?: boolean },
  print: Print,
) {
  const all = options.jobs?.length ? await jobsOf(client, workflowId) : [];
  const body = {
    ...(options.fromFailed ? { from_failed: true } : {}),
    ...(options.jobs?.length ? { jobs: options.jobs.map((ref) => pick(all, ref).id) } : {}),
    ...(options.ssh ? { enable_ssh: true } : {}),
  };
  const answer = await client.request<{ workflow_id: string }>(
    "POST",
    `/api/v2/workflow/${encodeURIComponent(workflowId)}/rerun`,
    body,
  );
  print(`Rerunning as workflow ${answer.workflow_id}.`);
  if (options.ssh) print(`Its "Enable SSH" step prints how to connect: gyre status shows its jobs.`);
}

type Key = { fingerprint: string; title: string; created_at: string };

export async function sshKeyCommand(
  client: Client,
  action: string | undefined,
  arg: string | undefined,
  print: Print,
) {
  if (action === "add" && arg) {
    const key = await client.request<Key>("POST", "/api/gyre/me/ssh-keys", {
      public_key: readFileSync(arg, "utf8"),
    });
    print(`Added ${key.fingerprint}${key.title ? ` (${key.title})` : ""}.`);
    return true;
  }
  if (action === "list" && !arg) {
    const { items } = await client.request<{ items: Key[] }>("GET", "/api/gyre/me/ssh-keys");
    if (items.length === 0) print("No SSH keys: add one with gyre ssh-key add ~/.ssh/id_ed25519.pub");
    for (const k of items) print(`${k.fingerprint}  ${k.title || "-"}  added ${k.created_at}`);
    return true;
  }
  if (action === "remove" && arg) {
    await client.request("DELETE", `/api/gyre/me/ssh-keys/${encodeURIComponent(arg)}`);
    print(`Removed ${arg}.`);
    return true;
  }
  return false;
}
