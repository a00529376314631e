/**
 * What Gyre sets up on a project's GitHub repository, through the API with the project's token:
 * the webhook (push, pull_request, create, delete; the project's webhook secret; JSON) and the
 * deploy key (the public half of the project's preferred checkout key, read-only). Adding a
 * project installs both, removing it removes both. Installing is idempotent: a hook already
 * there for the same URL gets the current secret and events, a key already there is reused.
 */
import type { Gyre } from "../context.ts";
import { badRequest, GyreError } from "../error.ts";
import { type GithubConnection, githubConnection } from "../project/github.ts";
import { getWebhookSecret, readProjectItem, updateProjectGithub } from "../project/index.ts";
import { createCheckoutKey, listCheckoutKeys } from "../ssh/index.ts";
import type { ClientOptions, GithubClient } from "./client.ts";
import { githubFailure } from "./errors.ts";

/** The client, loaded when first needed (Octokit and undici stay out of a cold start). */
const clientFor = async (connection: GithubConnection, options: ClientOptions) =>
  (await import("./client.ts")).githubClient(connection, options);

/** The events Gyre's hook asks for (webhook/deliveries.ts handles each). */
export const HOOK_EVENTS = ["push", "pull_request", "create", "delete"];

const ownerRepo = (slug: string) => {
  const [, owner, repo] = slug.split("/");
  return { owner: owner!, repo: repo! };
};

const statusOf = (error: unknown) => (error as { status?: number }).status;

async function connected(gyre: Gyre, slug: string): Promise<GithubConnection> {
  const connection = await githubConnection(gyre, slug);
  if (!connection)
    throw badRequest(
      `Project ${slug} has no GitHub token: give one (github.token) with PATCH /api/gyre/projects/${slug}.`,
    );
  return connection;
}

/** Creates the hook, or brings the one already there for `url` up to date; its id. */
async function installHook(client: GithubClient, slug: string, url: string, secret: string): Promise<number> {
  const config = { url, content_type: "json", secret, insecure_ssl: "0" };
  try {
    const { data } = await client.rest.repos.createWebhook({
      ...ownerRepo(slug),
      name: "web",
      active: true,
      events: HOOK_EVENTS,
      config,
    });
    return data.id;
  } catch (error) {
    if (statusOf(error) !== 422) throw githubFailure(`to add the webhook to ${slug.slice(3)}`, error);
  }
  // 422 "Hook already exists on this repository": the one with our URL gets our secret.
  try {
    const hooks = await client.paginate(client.rest.repos.listWebhooks, {
      ...ownerRepo(slug),
      per_page: 100,
    });
    const ours = hooks.find((h) => h.config.url === url);
    if (!ours)
      throw new GyreError("unprocessable", `GitHub refused the webhook for ${url}, and has no hook for it.`);
    await client.rest.repos.updateWebhook({
      ...ownerRepo(slug),
      hook_id: ours.id,
      active: true,
      events: HOOK_EVENTS,
      config,
    });
    return ours.id;
  } catch (error) {
    if (error instanceof GyreError) throw error;
    throw githubFailure(`to update the webhook of ${slug.slice(3)}`, error);
  }
}

/** Adds the deploy key, or finds it already there; its id. */
async function installDeployKey(
  client: GithubClient,
  slug: string,
  key: string,
  title: string,
): Promise<number> {
  try {
    const { data } = await client.rest.repos.createDeployKey({
      ...ownerRepo(slug),
      title,
      key,
      read_only: true,
    });
    return data.id;
  } catch (error) {
    if (statusOf(error) !== 422) throw githubFailure(`to add the deploy key to ${slug.slice(3)}`, error);
  }
  // 422 "key is already in use": reused when it is this repository's.
  try {
    const keys = await client.paginate(client.rest.repos.listDeployKeys, {
      ...ownerRepo(slug),
      per_page: 100,
    });
    const body = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
    const ours = keys.find((k) => body(k.key) === body(key));
    if (!ours)
      throw new GyreError(
        "unprocessable",
        `GitHub refused the deploy key for ${slug.slice(3)}: the key is in use by another repository.`,
      );
    return ours.id;
  } catch (error) {
    if (error instanceof GyreError) throw error;
    throw githubFailure(`to list the deploy keys of ${slug.slice(3)}`, error);
  }
}

export interface Installed {
  hookId: number;
  deployKeyId: number;
  /** The checkout key whose public half is the deploy key. */
  fingerprint: string;
  webhookUrl: string;
}

/**
 * Installs the webhook and the deploy key on the project's repository and records their ids.
 * The hook delivers to the project's `webhook_url`, else to this server's URL + `/webhooks/github`.
 * A failure removes what this call added and is a 422 saying what GitHub answered.
 */
export async function installOnGithub(
  gyre: Gyre,
  slug: string,
  options: ClientOptions = {},
): Promise<Installed> {
  const connection = await connected(gyre, slug);
  const [item, found] = await Promise.all([readProjectItem(gyre, slug), getWebhookSecret(gyre, slug)]);
  if (!item || !found) throw badRequest(`Project ${slug} not found.`);
  const base = gyre.resources.apiUrl;
  const webhookUrl = item.github?.webhookUrl ?? (base ? `${base}/webhooks/github` : undefined);
  if (!webhookUrl)
    throw badRequest(
      "This server does not know its public URL: give github.webhook_url, the URL GitHub delivers to.",
    );
  const key =
    (await listCheckoutKeys(gyre, slug)).find((k) => k.preferred) ??
    (await createCheckoutKey(gyre, slug, "deploy-key"));
  const client = await clientFor(connection, options);
  const hadHook = item.github?.hookId;
  const hookId = await installHook(client, slug, webhookUrl, found.secret);
  let deployKeyId: number;
  try {
    deployKeyId = await installDeployKey(client, slug, key.publicKey, `Gyre ${slug}`);
  } catch (error) {
    if (hadHook !== hookId) await removeHook(client, slug, hookId).catch(() => undefined);
    throw error;
  }
  await updateProjectGithub(gyre, slug, { hookId, deployKeyId, webhookUrl });
  return { hookId, deployKeyId, fingerprint: key.fingerprint, webhookUrl };
}

async function removeHook(client: GithubClient, slug: string, hookId: number): Promise<boolean> {
  try {
    await client.rest.repos.deleteWebhook({ ...ownerRepo(slug), hook_id: hookId });
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw githubFailure(`to remove the webhook ${hookId} of ${slug.slice(3)}`, error);
  }
}

async function removeDeployKey(client: GithubClient, slug: string, keyId: number): Promise<boolean> {
  try {
    await client.rest.repos.deleteDeployKey({ ...ownerRepo(slug), key_id: keyId });
    return true;
  } catch (error) {
    if (statusOf(error) === 404) return false;
    throw githubFailure(`to remove the deploy key ${keyId} of ${slug.slice(3)}`, error);
  }
}

export interface Uninstalled {
  /** True when GitHub removed it; false when it was gone already, or never installed. */
  hook: boolean;
  deployKey: boolean;
}

/** Removes the webhook and the deploy key Gyre installed; nothing to do without a token. */
export async function uninstallFromGithub(
  gyre: Gyre,
  slug: string,
  options: ClientOptions = {},
): Promise<Uninstalled> {
  const [connection, item] = await Promise.all([githubConnection(gyre, slug), readProjectItem(gyre, slug)]);
  const hookId = item?.github?.hookId;
  const deployKeyId = item?.github?.deployKeyId;
  if (!connection || (hookId === undefined && deployKeyId === undefined))
    return { hook: false, deployKey: false };
  const client = await clientFor(connection, options);
  const hook = hookId !== undefined && (await removeHook(client, slug, hookId));
  const deployKey = deployKeyId !== undefined && (await removeDeployKey(client, slug, deployKeyId));
  await updateProjectGithub(gyre, slug, { hookId: null, deployKeyId: null });
  return { hook, deployKey };
}

/** The repository's branches and their head commits (`GET /repos/{o}/{r}/branches`, every page). */
export async function branchHeads(
  gyre: Gyre,
  slug: string,
  options: ClientOptions = {},
): Promise<{ name: string; sha: string }[]> {
  const client = await clientFor(await connected(gyre, slug), options);
  try {
    const branches = await client.paginate(client.rest.repos.listBranches, {
      ...ownerRepo(slug),
      per_page: 100,
    });
    return branches.map((b) => ({ name: b.name, sha: b.commit.sha }));
  } catch (error) {
    throw githubFailure(`to list the branches of ${slug.slice(3)}`, error);
  }
}
