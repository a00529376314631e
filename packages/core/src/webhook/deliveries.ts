/**
 * What a GitHub delivery does, once its signature is checked (DESIGN.md "Dispatch" step 1): a
 * push or a pull request becomes an intake message, recorded with the delivery and enqueued;
 * everything else is answered and left alone. Every answer is a 2xx GitHub shows as it is
 * ("Recent Deliveries"), saying what was done and why.
 *
 * | event          | what happens                                                                  |
 * |----------------|-------------------------------------------------------------------------------|
 * | `ping`         | 200 pong (an organization's hook: checked against its projects' secrets)      |
 * | `push`         | a branch or tag builds; a deletion does not; `only_build_prs` may skip it      |
 * | `pull_request` | opened, synchronize, reopened build the head (forks per `build_fork_prs`) and  |
 * |                | record the pull request as open; closed forgets it; other actions: nothing     |
 * | `create`       | nothing: GitHub sends the new branch's or tag's push too, which builds it     |
 * | `delete`       | nothing to build; a deleted branch's open pull requests are forgotten         |
 *
 * One pipeline per head: every delivery of one commit on one branch or tag (the push, the
 * pull request's synchronize, a redelivery with a new id, `gyre github resync`) names the same
 * pipeline (`headPipelineId`), so it is built once. A rebuild is an API trigger or a rerun.
 */
import type { Gyre } from "../context.ts";
import { badRequest, GyreError, notFound, unauthorized } from "../error.ts";
import type { Ref } from "../git/index.ts";
import { deterministicUuid } from "../id.ts";
import {
  enqueueIntake,
  findPipeline,
  type IntakeMessage,
  newIntakeMessage,
  type PullRequest,
} from "../pipeline/index.ts";
import { getWebhookSecret, listProjects, type StoredProject } from "../project/index.ts";
import {
  forgetBranch,
  forgetPullRequest,
  type OpenPullRequest,
  pullRequestsOfBranch,
  recordPullRequest,
} from "../project/pull-requests.ts";
import { deleteItem } from "../store/index.ts";
import { Keys } from "../table.ts";
import {
  assertSignature,
  deliverySource,
  parsePullRequest,
  parsePush,
  parseRefEvent,
  pingHookId,
  recordDelivery,
  verifySignature,
} from "./github.ts";

export interface Delivery {
  /** `X-GitHub-Event`. */
  event: string;
  /** `X-GitHub-Delivery`. */
  deliveryId: string;
  /** The exact bytes received (the signature is over them). */
  body: Uint8Array;
  /** `X-Hub-Signature-256`. */
  signature: string | undefined;
}

export interface DeliveryAnswer {
  status: 200 | 202;
  body: { message: string; project_slug?: string; pipeline_id?: string; hook_id?: number };
}

/** The pull request actions that build the pull request's head. */
const BUILDS = new Set(["opened", "synchronize", "reopened"]);

/** An organization's hook is checked against this many of its projects' secrets at most. */
const MAX_ORG_PROJECTS = 100;

/**
 * The pipeline a GitHub head builds: the same id for every delivery of one commit on one branch
 * or tag, so that the push and the pull request's synchronize (or a resync) build it once.
 */
export function headPipelineId(slug: string, ref: Ref & { revision: string }): string {
  const [kind, name] = ref.tag !== undefined ? ["tag", ref.tag] : ["branch", ref.branch ?? ""];
  return deterministicUuid("github-head", slug, kind, name, ref.revision);
}

export async function receiveGithubDelivery(gyre: Gyre, delivery: Delivery): Promise<DeliveryAnswer> {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(delivery.body).toString("utf8"));
  } catch {
    throw badRequest("Malformed JSON body.");
  }
  // Bounded and well formed before anything is looked up (a 3,000-character name is a 400).
  const source = deliverySource(payload);
  if ("organization" in source) return organizationDelivery(gyre, delivery, source.organization, payload);
  const slug = `gh/${source.repository}`;
  const found = await getWebhookSecret(gyre, slug);
  if (!found) throw notFound(`No project ${slug}: add it with "gyre project add".`);
  assertSignature(found.secret, delivery.body, delivery.signature);
  const project = found.project;

  switch (delivery.event) {
    case "ping": {
      const hookId = pingHookId(payload);
      return {
        status: 200,
        body: { message: "pong", project_slug: slug, ...(hookId !== undefined ? { hook_id: hookId } : {}) },
      };
    }
    case "push":
      return push(gyre, project, delivery.deliveryId, payload);
    case "pull_request":
      return pullRequest(gyre, project, delivery.deliveryId, payload);
    case "create": {
      const created = parseRefEvent(payload);
      return accepted(`Created ${created.refType} ${created.ref}: its push event builds it.`);
    }
    case "delete": {
      const deleted = parseRefEvent(payload);
      if (deleted.refType === "tag") return accepted(`Deleted tag ${deleted.ref}: nothing to build.`);
      const forgotten = await forgetBranch(gyre, slug, deleted.ref);
      return accepted(
        `Deleted branch ${deleted.ref}: nothing to build${forgotten > 0 ? `; ${forgotten} open pull request(s) of it forgotten` : ""}.`,
      );
    }
    default:
      return accepted(`Event "${delivery.event}" does not start pipelines.`);
  }
}

const accepted = (message: string, more: Partial<DeliveryAnswer["body"]> = {}): DeliveryAnswer => ({
  status: 202,
  body: { message, ...more },
});

/**
 * An organization's hook (set up by hand: Gyre installs one per repository): its `ping` is
 * answered when its signature is one of the organization's projects' secrets; other events
 * from it name their repository and are handled as that project's.
 */
async function organizationDelivery(
  gyre: Gyre,
  delivery: Delivery,
  organization: string,
  payload: unknown,
): Promise<DeliveryAnswer> {
  const projects = (await listProjects(gyre, { orgSlug: `gh/${organization}` })).slice(0, MAX_ORG_PROJECTS);
  if (projects.length === 0) throw notFound(`No project of organization gh/${organization}.`);
  if (!delivery.signature) throw unauthorized("Missing X-Hub-Signature-256 header.");
  let signedBy: string | undefined;
  for (const project of projects) {
    const found = await getWebhookSecret(gyre, project.slug);
    if (found && verifySignature(found.secret, delivery.body, delivery.signature)) {
      signedBy = project.slug;
      break;
    }
  }
  if (!signedBy)
    throw unauthorized(
      "X-Hub-Signature-256 does not match the payload under any secret of the organization.",
    );
  if (delivery.event !== "ping")
    return accepted(`Event "${delivery.event}" of organization ${organization} does not start pipelines.`);
  const hookId = pingHookId(payload);
  return {
    status: 200,
    body: { message: "pong", project_slug: signedBy, ...(hookId !== undefined ? { hook_id: hookId } : {}) },
  };
}

/** `[ci skip]` or `[skip ci]` in a commit's subject or body (CircleCI's markers), if there. */
export function skipMarker(commit: { subject?: string; body?: string } | undefined): string | undefined {
  const text = `${commit?.subject ?? ""}\n${commit?.body ?? ""}`;
  return /\[ci skip\]/i.test(text) ? "[ci skip]" : /\[skip ci\]/i.test(text) ? "[skip ci]" : undefined;
}

/** An open pull request as a trigger carries it. */
export const pullOf = (p: OpenPullRequest): PullRequest => ({
  number: p.number,
  url: p.url,
  ...(p.fork ? { fork: p.fork } : {}),
});

async function push(
  gyre: Gyre,
  project: StoredProject,
  deliveryId: string,
  payload: unknown,
): Promise<DeliveryAnswer> {
  const push = parsePush(payload);
  if (push.deleted) return accepted("A deleted branch or tag has nothing to build.");
  // CircleCI's skip: the head commit's message says so (only the head commit's, as CircleCI).
  const skip = skipMarker(push.commit);
  if (skip) return accepted(`The head commit's message says ${skip}: nothing to build.`);
  const branch = push.ref.branch;
  // The pull requests open for the branch: its jobs see them (CIRCLE_PULL_REQUEST).
  const pulls = branch ? await pullRequestsOfBranch(gyre, project.slug, branch) : [];
  if (project.settings.onlyBuildPrs && branch && branch !== project.defaultBranch && pulls.length === 0)
    return accepted(
      `Branch ${branch} has no open pull request, and project ${project.slug} builds only pull requests (only_build_prs): nothing to build.`,
    );
  const message = newIntakeMessage(
    {
      projectSlug: project.slug,
      trigger: {
        type: "webhook",
        receivedAt: new Date(gyre.now()).toISOString(),
        actor: push.pusher,
        ...(pulls.length > 0 ? { pullRequests: pulls.slice(0, 20).map(pullOf) } : {}),
      },
      ref: push.ref,
      commit: push.commit,
    },
    headPipelineId(project.slug, { ...push.ref, revision: push.ref.revision! }),
  );
  return enqueue(gyre, deliveryId, message);
}

async function pullRequest(
  gyre: Gyre,
  project: StoredProject,
  deliveryId: string,
  payload: unknown,
): Promise<DeliveryAnswer> {
  const pr = parsePullRequest(payload);
  const what = `Pull request #${pr.number}`;
  if (pr.action === "closed") {
    await forgetPullRequest(gyre, project.slug, pr.number);
    return accepted(`${what} was closed: nothing to build.`);
  }
  if (!BUILDS.has(pr.action))
    return accepted(`${what} was ${pr.action.replace(/_/g, " ")}: nothing to build.`);
  if (pr.fork && !project.settings.buildForkPrs)
    return accepted(
      `${what} is from a fork (${pr.head.repoFullName ?? "a deleted repository"}), and project ${project.slug} does not build forked pull requests (build_fork_prs): nothing to build.`,
    );
  // A fork's head branch is not in this repository: it builds as `pull/<number>`, CircleCI's
  // name, at the commit GitHub keeps under refs/pull/<number>/head.
  const branch = pr.fork ? `pull/${pr.number}` : pr.head.ref;
  const open: OpenPullRequest = {
    number: pr.number,
    url: pr.url,
    ...(pr.fork ? { fork: { username: pr.author, reponame: pr.head.repoName ?? project.name } } : {}),
    branch,
    headSha: pr.head.sha,
    updatedAt: new Date(gyre.now()).toISOString(),
  };
  await recordPullRequest(gyre, project.slug, open);
  // This pull request first, then any other open for the same branch (CIRCLE_PULL_REQUESTS).
  const others = pr.fork
    ? []
    : (await pullRequestsOfBranch(gyre, project.slug, branch)).filter((p) => p.number !== pr.number);
  const ref = { branch, revision: pr.head.sha };
  const message = newIntakeMessage(
    {
      projectSlug: project.slug,
      trigger: {
        type: "webhook",
        receivedAt: new Date(gyre.now()).toISOString(),
        actor: pr.sender,
        pullRequests: [open, ...others].slice(0, 20).map(pullOf),
      },
      ref,
    },
    headPipelineId(project.slug, ref),
  );
  return enqueue(gyre, deliveryId, message);
}

/** Records the delivery with its message and enqueues it; a head built before is said so. */
async function enqueue(gyre: Gyre, deliveryId: string, message: IntakeMessage): Promise<DeliveryAnswer> {
  if (!(await recordDelivery(gyre, deliveryId, message)))
    return { status: 200, body: { message: `Delivery ${deliveryId} was already received.` } };
  if (await findPipeline(gyre, message.pipelineId))
    return {
      status: 200,
      body: {
        message: `This head (${message.ref.branch ?? message.ref.tag} at ${message.ref.revision?.slice(0, 12)}) has a pipeline already.`,
        pipeline_id: message.pipelineId,
      },
    };
  try {
    await enqueueIntake(gyre, message);
  } catch (error) {
    // Forget the delivery so that GitHub's "Redeliver" gets the push in after all.
    await deleteItem(gyre, Keys.delivery(deliveryId)).catch(() => undefined);
    throw new GyreError("internal", "Could not enqueue the delivery.", error);
  }
  return accepted("Accepted.", { pipeline_id: message.pipelineId });
}
